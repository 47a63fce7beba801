//! The schema's one async-graphql extension: request limits, authorization and the null-on-error
//! rule, each in its own module, called from here in the order they need.
//!
//! Why one extension and not three: async-graphql wraps every field resolution in the `resolve`
//! hook of *every* installed extension — a boxed future and a link of the hook chain per
//! extension per field, even for an extension that does not override the hook. A page of 50 posts
//! with their authors resolves some 350 fields: three extensions meant some 1,050 of those futures
//! per request where one needs 350 (bench/README.md, "What was measured").

use std::sync::{Arc, OnceLock};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextResolve, NextSubscribe, NextValidation, ResolveInfo,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{
    Request, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tracing::Instrument;
use tracing::field::Empty;

use super::limits::RequestLimits;
use super::null_on_error::FieldErrors;
use super::trusted_documents::{Admission, CheckOnly, TrustedDocuments};
use super::variables::coercion_errors;
use crate::authz::Authorization;
use crate::metrics::{self, GraphqlOutcome, SharedString};
use crate::telemetry::{TRACE_SPANS, trace_only_span};

/// Request data: run a query or mutation for at most this long (an HTTP request is bounded by
/// the deadline middleware instead; a socket's operations carry this). On expiry the answer is
/// `SERVICE_UNAVAILABLE` with reason `timeout`, as over HTTP. Subscriptions are not bounded.
pub struct ExecutionDeadline(pub std::time::Duration);

/// Installed by `build_schema`, the only function that builds a schema: no schema can exist whose
/// limits and authorization marks are not enforced.
pub struct SchemaExtension(Arc<EnforcedRules>);

struct EnforcedRules {
    documents: Arc<TrustedDocuments>,
    limits: RequestLimits,
    authorization: Authorization,
    /// `GRAPHQL_TRACE_DOCUMENT`: the document's text on the `graphql.parse` span.
    trace_document: bool,
}

impl SchemaExtension {
    pub fn new(
        documents: Arc<TrustedDocuments>,
        limits: RequestLimits,
        authorization: Authorization,
        trace_document: bool,
    ) -> Self {
        Self(Arc::new(EnforcedRules {
            documents,
            limits,
            authorization,
            trace_document,
        }))
    }
}

impl ExtensionFactory for SchemaExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestExtension {
            parts: Arc::clone(&self.0),
            fields: Arc::default(),
            operation_name: OnceLock::new(),
            operation: OnceLock::new(),
            counted: Counted::default(),
        })
    }
}

/// One per request (async-graphql creates extensions per execution).
struct RequestExtension {
    parts: Arc<EnforcedRules>,
    /// Shared with the stream of a subscription's events.
    fields: Arc<FieldErrors>,
    /// The request's `operationName`, for the variable check once the document is parsed.
    operation_name: OnceLock<Option<String>>,
    /// What the document runs, for the spans of the later phases; set only when traced.
    operation: OnceLock<Operation>,
    /// What `graphql_server_operations_total` says of this request.
    counted: Counted,
}

/// The labels of an operation's metrics, learnt as it goes through the hooks.
#[derive(Default)]
struct Counted {
    /// Its type, and its name when the document is a trusted one (a bounded, operator-written
    /// set; any other name could be anything a client sends).
    operation: OnceLock<(metrics::OperationType, Option<SharedString>)>,
    /// The document came from the trusted documents manifest.
    listed: OnceLock<()>,
    /// Whether it reached execution (else it was refused).
    executed: OnceLock<()>,
    /// A manifest's document checked at load, not a request: not counted. (The request's data,
    /// where `CheckOnly` is, is not visible yet in the `request` hook.)
    check_only: OnceLock<()>,
}

impl Counted {
    /// The operation `document` runs; its name is the document's own (never the request's
    /// `operationName`), and only for a listed document.
    fn learn(&self, document: &ExecutableDocument, operation_name: Option<&str>) {
        let operation = match (&document.operations, operation_name) {
            (DocumentOperations::Single(operation), _) => Some((None, operation)),
            (DocumentOperations::Multiple(operations), Some(name)) => operations
                .get_key_value(name)
                .map(|(name, operation)| (Some(name), operation)),
            (DocumentOperations::Multiple(operations), None) => operations
                .iter()
                .next()
                .filter(|_| operations.len() == 1)
                .map(|(name, operation)| (Some(name), operation)),
        };
        let Some((name, operation)) = operation else {
            return;
        };
        let kind = match operation.node.ty {
            OperationType::Query => metrics::OperationType::Query,
            OperationType::Mutation => metrics::OperationType::Mutation,
            OperationType::Subscription => metrics::OperationType::Subscription,
        };
        let name = name
            .filter(|_| self.listed.get().is_some())
            .map(|name| SharedString::from_owned(name.to_string()));
        let _ = self.operation.set((kind, name));
    }

    fn record(&self, response: &Response) {
        let outcome = match (self.executed.get(), response.errors.is_empty()) {
            (None, _) => GraphqlOutcome::Refused,
            (Some(()), true) => GraphqlOutcome::Success,
            (Some(()), false) => GraphqlOutcome::Errors,
        };
        let (kind, name) = self
            .operation
            .get()
            .cloned()
            .unwrap_or((metrics::OperationType::Unknown, None));
        let errors = response.errors.iter().map(|error| {
            let extension = |key| match error.extensions.as_ref()?.get(key)? {
                Value::String(value) => Some(value.as_str()),
                _ => None,
            };
            (extension("code"), extension("limit"))
        });
        metrics::graphql_operation(kind, name, outcome, errors);
    }
}

/// The operation a request runs: its spans' `graphql.operation.type` and `graphql.operation.name`
/// (the client's name for it, a span attribute only: it is unbounded, so never a metric label).
struct Operation {
    kind: OperationType,
    name: Option<String>,
}

impl Operation {
    /// `None` when the document does not say which operation runs (async-graphql refuses it).
    fn of(document: &ExecutableDocument, requested: Option<&str>) -> Option<Self> {
        let (kind, name) = match (&document.operations, requested) {
            (DocumentOperations::Single(operation), _) => (operation.node.ty, requested),
            (DocumentOperations::Multiple(operations), Some(name)) => {
                (operations.get(name)?.node.ty, Some(name))
            }
            (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
                let (name, operation) = operations.iter().next()?;
                (operation.node.ty, Some(name.as_str()))
            }
            (DocumentOperations::Multiple(_), None) => return None,
        };
        Some(Self {
            kind,
            name: name.map(str::to_string),
        })
    }

    fn record(&self, span: &tracing::Span) {
        span.record("graphql.operation.type", self.kind.to_string().as_str());
        if let Some(name) = &self.name {
            span.record("graphql.operation.name", name.as_str());
        }
    }

    /// `query Viewer`: the semantic conventions' name for the execution's span.
    fn span_name(&self) -> String {
        match &self.name {
            Some(name) => format!("{} {name}", self.kind),
            None => self.kind.to_string(),
        }
    }
}

/// A span of one phase of a request, trace-only: without a collector, or in a request the
/// sampler dropped, it does not exist.
macro_rules! phase_span {
    ($name:literal) => {
        trace_only_span(|| {
            tracing::info_span!(
                target: TRACE_SPANS,
                $name,
                graphql.operation.type = Empty,
                graphql.operation.name = Empty,
                otel.name = Empty,
            )
        })
    };
}

#[async_graphql::async_trait::async_trait]
impl Extension for RequestExtension {
    /// Over HTTP, the whole request (a socket's operations go through `subscribe`, and are
    /// counted by the socket metrics).
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = next.run(ctx).await;
        if self.counted.check_only.get().is_none() {
            self.counted.record(&response);
        }
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        // The document is parsed here (`RequestLimits::prepare`), so this is the parse's span.
        let span = trace_only_span(|| {
            tracing::info_span!(
                target: TRACE_SPANS,
                "graphql.parse",
                graphql.operation.type = Empty,
                graphql.operation.name = Empty,
                graphql.document = Empty,
            )
        });
        let mut request = span.in_scope(|| self.admit(request))?;
        if !span.is_disabled() {
            if self.parts.trace_document && !request.query.is_empty() {
                span.record("graphql.document", request.query.as_str());
            }
            let requested = request.operation_name.clone();
            if let Ok(document) = request.parsed_query()
                && let Some(operation) = Operation::of(document, requested.as_deref())
            {
                operation.record(&span);
                let _ = self.operation.set(operation);
            }
        }
        let _ = self.operation_name.set(request.operation_name.clone());
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next
            .run(ctx, query, variables)
            .await
            .map_err(RequestLimits::parse_error)?;
        if ctx.data_opt::<CheckOnly>().is_some() {
            // A manifest's document, checked at load: no viewer, no variables to check.
            let _ = self.counted.check_only.set(());
            return Ok(document);
        }
        let operation_name = self.operation_name.get().and_then(Option::as_deref);
        self.counted.learn(&document, operation_name);
        self.parts
            .authorization
            .check_subscriptions(ctx, &document)
            .await?;
        let registry = &ctx.schema_env.registry;
        if let Some(error) = coercion_errors(registry, &document, operation_name, variables)
            .into_iter()
            .next()
        {
            return Err(error);
        }
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let span = self.traced(phase_span!("graphql.validate"));
        let result = next.run(ctx).instrument(span).await;
        self.parts.limits.validated(result)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if ctx.data_opt::<CheckOnly>().is_some() {
            // Validated: that was all a manifest check asked for.
            return Response::new(Value::Null);
        }
        let _ = self.counted.executed.set(());
        let span = self.traced(phase_span!("graphql.execute"));
        if let Some(operation) = self.operation.get() {
            span.record("otel.name", operation.span_name().as_str());
        }
        let run = next.run(ctx, operation_name).instrument(span);
        let mut response = match ctx.data_opt::<ExecutionDeadline>() {
            None => run.await,
            Some(ExecutionDeadline(limit)) => match tokio::time::timeout(*limit, run).await {
                Ok(response) => response,
                Err(_) => return timed_out(*limit),
            },
        };
        self.fields.finish(&mut response);
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // Outermost, the null-on-error rules also see authorization's denials.
        let (node, return_type) = (info.path_node, info.return_type);
        let registry = &ctx.schema_env.registry;
        if self.fields.data_is_null() && registry.mutation_type.as_deref() == Some(info.parent_type)
        {
            // An earlier root mutation field failed and nulled `data`: the rest do not run.
            return Ok(Some(Value::Null));
        }
        let result = self.parts.authorization.resolve(ctx, info, next).await;
        self.fields.settle(node, return_type, result)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        // Each event is resolved like a request: its field errors settle into its response.
        let fields = Arc::clone(&self.fields);
        next.run(ctx, stream)
            .map(move |mut response| {
                fields.finish(&mut response);
                response
            })
            .boxed()
    }
}

impl RequestExtension {
    /// The trusted documents first: a hash stands for a document parsed and checked when the
    /// manifest was loaded, and an unlisted text may be refused before it is parsed. Then the
    /// request limits, which parse the document.
    fn admit(&self, request: Request) -> ServerResult<Request> {
        let limits = &self.parts.limits;
        Ok(match self.parts.documents.admit(&request)? {
            Admission::Listed(document) => {
                let _ = self.counted.listed.set(());
                limits.prepare_listed(request, document.document())?
            }
            Admission::Unlisted(hash) => {
                let mut request = limits.prepare(request)?;
                self.parts.documents.check_unlisted(hash, &mut request)?;
                request
            }
            Admission::Unchecked => limits.prepare(request)?,
        })
    }

    /// `span` with the operation's attributes, once the document has said what it runs.
    fn traced(&self, span: tracing::Span) -> tracing::Span {
        if let Some(operation) = self.operation.get() {
            operation.record(&span);
        }
        span
    }
}

fn timed_out(limit: std::time::Duration) -> Response {
    let mut error = ServerError::new(
        format!(
            "The request was not answered within {} s; try again shortly.",
            limit.as_secs()
        ),
        None,
    );
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", "SERVICE_UNAVAILABLE");
    extensions.set("reason", "timeout");
    error.extensions = Some(extensions);
    Response::from_errors(vec![error])
}
