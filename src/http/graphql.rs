//! GraphQL over HTTP: how `/graphql` reads a request and writes a response.
//!
//! - `POST` with an `application/json` body (a `charset` parameter is fine). Any other content
//!   type is 415: `text/plain`, `multipart/form-data` and `application/x-www-form-urlencoded` are
//!   what a browser sends cross-site without a CORS preflight, so accepting them would let any
//!   site post to the API with the user's cookie (see [`super::csrf`] for the second line of defence).
//! - A request may name a trusted document by its hash instead of sending `query`
//!   (`extensions.persistedQuery` or `documentId`, see [`crate::graphql::trusted_documents`]).
//! - `GET /graphql?query=…&variables=…&operationName=…` runs queries only; a mutation over `GET`
//!   is 405 with `Allow: POST` (the check is in [`crate::graphql::limits`], on the parsed
//!   document). A `GET` without `query` (nor a hash) is the playground page, when it is on and
//!   the client asks for HTML; otherwise a JSON 400.
//! - The body is at most `GRAPHQL_MAX_BODY_BYTES` (413). A JSON array (a batch) is refused with
//!   400: every limit here is per request, and a batch would multiply them (a 1,000-item batch
//!   is 1,000 operations under one timeout and one body limit); Clerk frontends (Apollo Client,
//!   urql, Relay) do not batch by default.
//! - Status: parse, validation and variable errors (limits included) and the trusted documents'
//!   refusals are request errors with `GRAPHQL_PARSE_FAILED` / `GRAPHQL_VALIDATION_FAILED` /
//!   `BAD_USER_INPUT` / `PERSISTED_QUERY_*` and no `data`: 400 for
//!   `application/graphql-response+json`, 200 for `application/json` (the GraphQL-over-HTTP
//!   spec: legacy clients read errors from a 200 body); a response with data is 200, field errors
//!   or not. A request that is not well-formed GraphQL over HTTP (not JSON, no `query`) is 400
//!   whatever the media type.
//! - Errors coded `INTERNAL_SERVER_ERROR` are masked and carry `extensions.requestId` and
//!   `extensions.traceId` (the request's trace, see [`crate::telemetry::propagation`]).
//! - The content type is `application/graphql-response+json` when the client's `Accept` prefers
//!   it (q-values and wildcards, see [`super::accept`]), else `application/json`
//!   ([`negotiate_content_type`], for every GraphQL-shaped response, including the HTTP-level
//!   errors of [`crate::http::error::ApiError`]).

use async_graphql::{ServerError, Value};
use axum::body::Bytes;
use axum::extract::{FromRequest, Query, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::accept;

use crate::graphql::limits::{
    BAD_REQUEST, PARSE_FAILED, QueriesOnly, REASON_METHOD_NOT_ALLOWED, VALIDATION_FAILED,
};
use crate::graphql::trusted_documents::{self, DocumentId};
use crate::http::error::ApiError;
use crate::telemetry;

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
pub(crate) const REQUEST_ID: &str = "x-request-id";

/// The request id `SetRequestIdLayer` put on the request.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}

/// `true` when `Content-Type` is `application/json`, with or without parameters.
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}

/// `true` when the URI carries a GraphQL request rather than asking for the page: a `query`
/// parameter, or a persisted document's `extensions` or `documentId`.
pub fn carries_a_request(uri: &Uri) -> bool {
    uri.query().is_some_and(|query| {
        query.split('&').any(|pair| {
            matches!(
                pair.split('=').next(),
                Some("query" | "extensions" | "documentId")
            )
        })
    })
}

/// A GraphQL-over-HTTP request as it arrives (a `POST` body, `GET` parameters, a WebSocket
/// `subscribe` payload): what `async_graphql::Request` reads, and `documentId`, a trusted
/// document's hash (see [`crate::graphql::trusted_documents`]), which it has no field for.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestParams {
    #[serde(default)]
    query: String,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    variables: async_graphql::Variables,
    #[serde(default)]
    extensions: async_graphql::Extensions,
    #[serde(default)]
    document_id: Option<String>,
}

/// Without the document and the variables, which are never logged.
impl std::fmt::Debug for RequestParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestParams")
            .field("operation_name", &self.operation_name)
            .finish_non_exhaustive()
    }
}

impl RequestParams {
    /// A document's text, or a hash standing for one.
    pub fn names_a_document(&self) -> bool {
        !self.query.trim().is_empty()
            || self.document_id.is_some()
            || self.extensions.contains_key("persistedQuery")
    }

    pub fn into_request(self) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(self.query).variables(self.variables);
        request.operation_name = self.operation_name;
        request.extensions = self.extensions;
        match self.document_id {
            Some(id) => request.data(DocumentId(id)),
            None => request,
        }
    }
}

/// What the gate in front of `/graphql` decides before authentication runs.
pub enum GraphqlRoute {
    /// A GraphQL request: authenticate it and run it.
    Execute,
    /// `GET` without `query`: the playground page (or 405 when it is off).
    Playground,
    Refuse(ApiError),
}

pub fn route(method: &Method, headers: &HeaderMap, uri: &Uri) -> GraphqlRoute {
    if method == Method::GET || method == Method::HEAD {
        if carries_a_request(uri) {
            GraphqlRoute::Execute
        } else if accept::asks_for_html(headers) {
            GraphqlRoute::Playground
        } else {
            GraphqlRoute::Refuse(ApiError::BadRequest {
                reason: "missing_query",
                message: "GET /graphql needs a `query` parameter (or POST a JSON body); the \
                          playground is served to browsers."
                    .into(),
            })
        }
    } else if method == Method::POST && !is_json(headers) {
        GraphqlRoute::Refuse(ApiError::UnsupportedMediaType)
    } else {
        GraphqlRoute::Execute
    }
}

/// The answer to a `GET /graphql` without `query` when the playground is off.
pub fn no_playground() -> Response {
    ApiError::MethodNotAllowed(
        "GET /graphql needs a `query` parameter (the playground is off); or POST a JSON body."
            .into(),
    )
    .into_response()
}

/// `GET /graphql?query=…&variables=…&operationName=…&extensions=…&documentId=…` (`variables`
/// and `extensions` as JSON; a trusted document's hash in `extensions` or `documentId` instead
/// of `query`): the request, marked so that only a query runs. Not async-graphql's
/// `parse_query_string`, which expects `operation_name` where GraphQL over HTTP says
/// `operationName` (both are accepted here).
pub fn read_get(uri: &Uri) -> Result<async_graphql::Request, ApiError> {
    #[derive(serde::Deserialize)]
    struct Params {
        #[serde(default)]
        query: String,
        #[serde(rename = "operationName", alias = "operation_name")]
        operation_name: Option<String>,
        variables: Option<String>,
        extensions: Option<String>,
        #[serde(rename = "documentId")]
        document_id: Option<String>,
    }
    let invalid = |message: String| ApiError::BadRequest {
        reason: "invalid_parameters",
        message,
    };
    let Query(params) = Query::<Params>::try_from_uri(uri).map_err(|error| {
        invalid(format!(
            "The query string is not a GraphQL request: {error}."
        ))
    })?;
    let json = |name: &str, value: Option<String>| match value.filter(|v| !v.trim().is_empty()) {
        None => Ok(serde_json::Value::Null),
        Some(value) => serde_json::from_str(&value)
            .map_err(|error| invalid(format!("`{name}` is not JSON: {error}."))),
    };
    let request = serde_json::json!({
        "query": params.query,
        "operationName": params.operation_name.filter(|name| !name.is_empty()),
        "variables": json("variables", params.variables)?,
        "extensions": json("extensions", params.extensions)?,
        "documentId": params.document_id,
    });
    let request: RequestParams = serde_json::from_value(request).map_err(|error| {
        invalid(format!(
            "The query string is not a GraphQL request: {error}."
        ))
    })?;
    if !request.names_a_document() {
        return Err(invalid("The request has no `query`.".into()));
    }
    Ok(request.into_request().data(QueriesOnly))
}

/// `POST /graphql`: the JSON body, at most `max_body_bytes`, one request (no batch).
pub async fn read_post(
    request: Request,
    max_body_bytes: usize,
) -> Result<async_graphql::Request, ApiError> {
    let too_large = ApiError::PayloadTooLarge {
        limit: max_body_bytes,
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_body_bytes as u64) {
        return Err(too_large);
    }
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(too_large);
        }
        Err(rejection) => {
            return Err(ApiError::BadRequest {
                reason: "invalid_body",
                message: format!("The request body could not be read: {rejection}."),
            });
        }
    };
    parse_body(&body)
}

fn parse_body(body: &[u8]) -> Result<async_graphql::Request, ApiError> {
    let first = body.iter().find(|byte| !byte.is_ascii_whitespace());
    if first == Some(&b'[') {
        return Err(ApiError::BadRequest {
            reason: "batch_not_supported",
            message: "Batched requests (a JSON array) are not supported: send one request per \
                      HTTP request."
                .into(),
        });
    }
    let request: RequestParams =
        serde_json::from_slice(body).map_err(|error| ApiError::BadRequest {
            reason: "invalid_json",
            message: format!(
                "The body is not a GraphQL request (a JSON object with `query`): {error}."
            ),
        })?;
    if !request.names_a_document() {
        return Err(ApiError::BadRequest {
            reason: "missing_query",
            message: "The request has no `query` (nor a trusted document's hash).".into(),
        });
    }
    Ok(request.into_request())
}

/// The body of a request error: `errors` (and `extensions`), no `data`.
#[derive(serde::Serialize)]
struct RequestErrorBody<'a> {
    errors: &'a [async_graphql::ServerError],
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extensions: &'a std::collections::BTreeMap<String, Value>,
}

/// The HTTP response for a GraphQL response: status, masking, headers.
pub fn respond(mut response: async_graphql::Response, request_id: Option<&str>) -> Response {
    mask_internal_errors(&mut response, request_id);
    let request_error = is_request_error(&response);
    let mut status = StatusCode::OK;
    if request_error {
        for error in &mut response.errors {
            if code_of(error).is_none() {
                error
                    .extensions
                    .get_or_insert_with(Default::default)
                    .set("code", BAD_REQUEST);
            }
        }
        let reasons = |reason: &str| {
            response.errors.iter().any(|error| {
                matches!(
                    error.extensions.as_ref().and_then(|e| e.get("reason")),
                    Some(Value::String(r)) if r == reason
                )
            })
        };
        if reasons(REASON_METHOD_NOT_ALLOWED) {
            status = StatusCode::METHOD_NOT_ALLOWED;
        } else if response.errors.iter().all(|error| {
            matches!(
                code_of(error),
                Some(
                    PARSE_FAILED
                        | VALIDATION_FAILED
                        | BAD_REQUEST
                        | "BAD_USER_INPUT"
                        | trusted_documents::NOT_FOUND
                        | trusted_documents::NOT_IN_LIST
                        | trusted_documents::HASH_MISMATCH
                )
            )
        }) {
            status = StatusCode::BAD_REQUEST;
        }
    }

    // Serialised straight to bytes: in the order the query selected the fields (the spec's
    // "should"), and without building an intermediate JSON tree.
    let body = if request_error {
        // GraphQL over HTTP: a request error has no `data` entry at all.
        serde_json::to_vec(&RequestErrorBody {
            errors: &response.errors,
            extensions: &response.extensions,
        })
    } else {
        serde_json::to_vec(&response)
    };
    let body = match body {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "could not serialise a GraphQL response");
            return ApiError::Internal {
                request_id: request_id.map(str::to_string),
            }
            .into_response();
        }
    };
    let mut http = (
        status,
        [(header::CONTENT_TYPE, GRAPHQL_RESPONSE_JSON)],
        body,
    )
        .into_response();
    if status == StatusCode::BAD_REQUEST {
        // For `application/json` clients this becomes a 200 ([`negotiate_content_type`]).
        http.extensions_mut().insert(GraphqlRequestError);
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        http.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    if response.errors.is_empty()
        && let Some(cache_control) = response.cache_control.value()
        && let Ok(value) = HeaderValue::from_str(&cache_control)
    {
        http.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    http.headers_mut().extend(response.http_headers);
    http
}

/// Internal errors keep their details in the log: the client gets a fixed message (and the
/// request and trace ids, to report).
pub fn mask_internal_errors(response: &mut async_graphql::Response, request_id: Option<&str>) {
    for error in &mut response.errors {
        if code_of(error) == Some("INTERNAL_SERVER_ERROR") {
            mask(error, request_id);
        }
    }
}

/// A request error (GraphQL over HTTP): the request failed before execution — parse,
/// validation, variables, limits — so there is no `data` and no error has a `path`.
pub fn is_request_error(response: &async_graphql::Response) -> bool {
    response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty())
}

fn code_of(error: &ServerError) -> Option<&str> {
    match error.extensions.as_ref()?.get("code")? {
        Value::String(code) => Some(code),
        _ => None,
    }
}

/// Whatever the resolver put in the message or the extensions stays in the log.
fn mask(error: &mut ServerError, request_id: Option<&str>) {
    if error.message != "Internal server error." {
        tracing::error!(message = %error.message, request_id, "internal error in a resolver");
    }
    error.message = "Internal server error.".into();
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", "INTERNAL_SERVER_ERROR");
    if let Some(request_id) = request_id {
        extensions.set("requestId", request_id);
    }
    if let Some(trace_id) = telemetry::current_trace_id() {
        extensions.set("traceId", trace_id);
    }
    error.extensions = Some(extensions);
}

/// Marks a 400 that answers a well-formed request whose GraphQL failed before execution
/// (parse, validation, variables), as opposed to a request that is not GraphQL over HTTP at all.
#[derive(Debug, Clone, Copy)]
struct GraphqlRequestError;

/// Middleware: a GraphQL-shaped response is `application/graphql-response+json` only for
/// clients that prefer it (GraphQL over HTTP); others, and legacy clients, get
/// `application/json`, and for them a GraphQL request error is a 200 with `errors`, as the spec
/// says. Responses of other kinds pass untouched.
pub async fn negotiate_content_type(request: Request, next: Next) -> Response {
    let response_type = accept::response_type(request.headers());
    let mut response = next.run(request).await;
    let is_graphql = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value == GRAPHQL_RESPONSE_JSON);
    if is_graphql && response_type == accept::ResponseType::Json {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if response.extensions().get::<GraphqlRequestError>().is_some() {
            *response.status_mut() = StatusCode::OK;
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{ErrorExtensionValues, PathSegment};

    fn coded(message: &str, code: &str, path: bool) -> ServerError {
        let mut error = ServerError::new(message, None);
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", code);
        extensions.set("detail", "connection refused at 10.0.0.3");
        error.extensions = Some(extensions);
        if path {
            error.path = vec![PathSegment::Field("me".into())];
        }
        error
    }

    async fn json(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn internal_errors_are_masked_and_carry_the_request_id() {
        let mut response = async_graphql::Response::new(
            Value::from_json(serde_json::json!({"me": null, "health": "ok"})).unwrap(),
        );
        response.errors = vec![coded(
            "duplicate key value violates unique constraint users_pkey",
            "INTERNAL_SERVER_ERROR",
            true,
        )];
        let http = respond(response, Some("req-42"));
        assert_eq!(http.status(), StatusCode::OK);
        let body = json(http).await;
        let error = &body["errors"][0];
        assert_eq!(error["message"], "Internal server error.");
        assert_eq!(
            error["extensions"],
            serde_json::json!({"code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"})
        );
        assert_eq!(body["data"]["health"], "ok");
    }

    #[tokio::test]
    async fn request_errors_are_400_without_data() {
        let response = async_graphql::Response::from_errors(vec![coded(
            "Unknown field",
            VALIDATION_FAILED,
            false,
        )]);
        let http = respond(response, None);
        assert_eq!(http.status(), StatusCode::BAD_REQUEST);
        let body = json(http).await;
        assert!(body.get("data").is_none(), "{body}");
    }

    #[test]
    fn content_types_and_batches() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert!(is_json(&headers));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!is_json(&headers));
        assert!(matches!(
            parse_body(b"  [{\"query\": \"{ health }\"}]"),
            Err(ApiError::BadRequest {
                reason: "batch_not_supported",
                ..
            })
        ));
        assert!(carries_a_request(&"/graphql?query=%7B%7D".parse().unwrap()));
        assert!(carries_a_request(
            &"/graphql?extensions=%7B%7D".parse().unwrap()
        ));
        assert!(carries_a_request(
            &"/graphql?documentId=ab".parse().unwrap()
        ));
        assert!(!carries_a_request(&"/graphql?queryx=1".parse().unwrap()));
    }
}
