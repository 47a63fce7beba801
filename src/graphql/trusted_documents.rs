//! Trusted documents (a safelist of persisted documents, issue 21): the manifest of the
//! operations the app's clients send, loaded at start-up and on SIGHUP, and the rule every
//! request obeys, over HTTP and WebSocket alike (the schema's extension applies it, before the
//! request limits).
//!
//! - A request may name a document by its sha256 instead of sending it: the APQ shape
//!   (`extensions.persistedQuery {version: 1, sha256Hash}`) or `documentId` (`<hex>` or
//!   `sha256:<hex>`, which the transports put in the request data as [`DocumentId`]). A hash the
//!   manifest does not list is `PERSISTED_QUERY_NOT_FOUND`. Nothing is registered at run time
//!   (Apollo's APQ would store any document sent with its hash): that would turn the safelist
//!   into a list of whatever anyone sent.
//! - Text and hash together must agree (`PERSISTED_QUERY_HASH_MISMATCH`).
//! - Text alone is hashed and looked up. What a document the manifest does not list gets is
//!   `GRAPHQL_TRUSTED_DOCUMENTS_MODE`'s: `enforce` refuses it (`PERSISTED_QUERY_NOT_IN_LIST`),
//!   except an introspection query while introspection is on (GraphiQL in development); `log`
//!   runs it and logs its hash and operation name the first time (never its text or variables);
//!   `off` runs it.
//! - A listed document was parsed, limit-checked and validated against the schema when the
//!   manifest was loaded; a request for it, by hash or by text, reuses the parsed document
//!   instead of parsing again (`RequestLimits::prepare_listed`). async-graphql's validation runs
//!   as for any request: the complexity it computes depends on the request's variables (the
//!   `first` of a connection), and it has no way to compute that alone.
//!   The variables' limits, the authorization marks, the GET rule and the rate limits apply
//!   unchanged.
//!
//! The manifest is what the TypeScript codegen writes (`persisted-documents.json`: a JSON object
//! sha256 hex → document text), or Apollo's persisted query list (`{"format":
//! "apollo-persisted-query-manifest", "version": 1, "operations": [{"id", "body", …}]}`, whose ids
//! must then be the default sha256 of the body). Every key must be the sha256 of its document;
//! every document must parse, fit the request limits and validate against the schema, or the
//! whole manifest is refused, naming the file and the operation.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, Selection};
use async_graphql::{ErrorExtensionValues, Executor, Request, ServerError, ServerResult, Value};
use aws_lc_rs::digest;

use super::limits::{BAD_REQUEST, syntax_error};
use crate::config::TrustedDocumentsMode;

/// `extensions.code`: no document with this hash is listed.
pub const NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
/// `extensions.code`: in `enforce` mode, a document the manifest does not list.
pub const NOT_IN_LIST: &str = "PERSISTED_QUERY_NOT_IN_LIST";
/// `extensions.code`: a request's text is not the document its hash names.
pub const HASH_MISMATCH: &str = "PERSISTED_QUERY_HASH_MISMATCH";

/// Distinct unlisted documents remembered as logged (`log` mode); past this, the least used
/// are forgotten and may be logged again, so that a flood of distinct documents costs bounded
/// memory.
const MAX_LOGGED: u64 = 10_000;

/// A document's sha256.
type Hash = [u8; 32];

/// Request data: the `documentId` of a request (GraphQL over HTTP's persisted-document proposal),
/// which `async_graphql::Request` has no field for.
pub struct DocumentId(pub String);

/// Request data: validate the document against the schema and run nothing (how a manifest is
/// checked when it is loaded).
pub struct CheckOnly;

/// A manifest document, as the manifest was loaded.
pub struct TrustedDocument {
    hash: Hash,
    document: ExecutableDocument,
}

impl TrustedDocument {
    pub fn document(&self) -> &ExecutableDocument {
        &self.document
    }
}

/// What [`TrustedDocuments::admit`] decided about a request.
pub enum Admission {
    /// A listed document: parsed and checked when the manifest was loaded.
    Listed(Arc<TrustedDocument>),
    /// Text the manifest does not list: once parsed, [`TrustedDocuments::check_unlisted`] says
    /// whether it may run.
    Unlisted(Hash),
    /// Neither manifest nor mode: the request goes on as text.
    Unchecked,
}

/// The manifest in force and the mode; shared by the schema's extension and the reload on SIGHUP.
pub struct TrustedDocuments {
    mode: TrustedDocumentsMode,
    /// `GRAPHQL_INTROSPECTION`: in `enforce` mode, an introspection query may run unlisted.
    introspection: bool,
    /// Replaced whole by a reload; a request holds the one it started with.
    manifest: RwLock<Arc<HashMap<Hash, Arc<TrustedDocument>>>>,
    logged: moka::sync::Cache<Hash, ()>,
}

impl TrustedDocuments {
    /// With an empty manifest, until [`Self::load`].
    pub fn new(mode: TrustedDocumentsMode, introspection: bool) -> Self {
        Self {
            mode,
            introspection,
            manifest: RwLock::default(),
            logged: moka::sync::Cache::new(MAX_LOGGED),
        }
    }

    /// Reads the manifest at `path`, checks every document against `schema` (a request with
    /// [`CheckOnly`] per operation), and puts it in force; returns how many documents it lists.
    /// On any error the manifest in force is kept.
    pub async fn load(&self, path: &Path, schema: &impl Executor) -> Result<usize, ManifestError> {
        let error = |problem: String| ManifestError {
            path: path.to_path_buf(),
            problem,
        };
        let text = tokio::fs::read_to_string(path)
            .await
            .map_err(|e| error(format!("cannot be read: {e}")))?;
        let mut documents = HashMap::new();
        for (key, text) in entries(&text).map_err(error)? {
            let document = check(&key, &text, schema).await.map_err(error)?;
            documents.insert(document.hash, Arc::new(document));
        }
        let count = documents.len();
        *self.manifest.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(documents);
        Ok(count)
    }

    /// Before the request limits: the document a hash names, or the verdict on a text.
    pub fn admit(&self, request: &Request) -> ServerResult<Admission> {
        if request.data.contains_key(&TypeId::of::<CheckOnly>()) {
            // A manifest's own document, being checked before that manifest is in force.
            return Ok(Admission::Unchecked);
        }
        let named = named_hash(request)?;
        let has_text = !request.query.trim().is_empty();
        let manifest = Arc::clone(&self.manifest.read().unwrap_or_else(|e| e.into_inner()));
        match named {
            Some(hash) if !has_text => match manifest.get(&hash) {
                Some(document) => Ok(Admission::Listed(Arc::clone(document))),
                None => Err(coded(
                    format!(
                        "No trusted document has the hash {}: send the document's text, or \
                         list it in the server's manifest.",
                        hex::encode(hash)
                    ),
                    NOT_FOUND,
                )),
            },
            Some(hash) => {
                if sha256(&request.query) != hash {
                    return Err(coded(
                        "The document's sha256 is not the hash the request names.".into(),
                        HASH_MISMATCH,
                    ));
                }
                self.by_text(&manifest, hash)
            }
            None if self.mode == TrustedDocumentsMode::Off && manifest.is_empty() => {
                Ok(Admission::Unchecked)
            }
            None if has_text => self.by_text(&manifest, sha256(&request.query)),
            // No document at all: the parser says so.
            None => Ok(Admission::Unchecked),
        }
    }

    fn by_text(
        &self,
        manifest: &HashMap<Hash, Arc<TrustedDocument>>,
        hash: Hash,
    ) -> ServerResult<Admission> {
        if let Some(document) = manifest.get(&hash) {
            return Ok(Admission::Listed(Arc::clone(document)));
        }
        match self.mode {
            TrustedDocumentsMode::Off => Ok(Admission::Unchecked),
            // Only an introspection query could pass: refused without parsing otherwise.
            TrustedDocumentsMode::Enforce if !self.introspection => Err(not_in_list()),
            _ => Ok(Admission::Unlisted(hash)),
        }
    }

    /// After the request limits parsed an unlisted text: refused in `enforce` mode unless it
    /// is an introspection query, logged the first time in `log` mode.
    pub fn check_unlisted(&self, hash: Hash, request: &mut Request) -> ServerResult<()> {
        let operation_name = request.operation_name.clone();
        let document = request.parsed_query()?;
        match self.mode {
            TrustedDocumentsMode::Enforce => {
                if self.introspection && is_introspection(document, operation_name.as_deref()) {
                    Ok(())
                } else {
                    Err(not_in_list())
                }
            }
            TrustedDocumentsMode::Log => {
                if self.logged.entry(hash).or_insert(()).is_fresh() {
                    let operation = operation_name
                        .as_deref()
                        .or_else(|| only_operation_name(document))
                        .unwrap_or("(anonymous)");
                    tracing::warn!(
                        hash = %hex::encode(hash),
                        operation = %excerpt(operation),
                        "a document not in the trusted documents manifest ran (logged once per \
                         document)"
                    );
                }
                Ok(())
            }
            TrustedDocumentsMode::Off => Ok(()),
        }
    }
}

/// A manifest that cannot be put in force: the file and what is wrong, naming the document's
/// hash and its operation.
#[derive(Debug)]
pub struct ManifestError {
    pub path: PathBuf,
    pub problem: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "trusted documents manifest {} (GRAPHQL_TRUSTED_DOCUMENTS): {}",
            self.path.display(),
            self.problem
        )
    }
}

impl std::error::Error for ManifestError {}

/// The manifest's (key, document) pairs, in either shape, each key checked to be the sha256 of
/// its document.
fn entries(text: &str) -> Result<Vec<(String, String)>, String> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("is not JSON: {e}"))?;
    let shape = || {
        "expected a JSON object of sha256 hex → document text (the TypeScript codegen's \
         persisted-documents.json) or an Apollo persisted query manifest"
            .to_string()
    };
    let object = json.as_object().ok_or_else(shape)?;
    let pairs: Vec<(String, String)> = if object.get("format").and_then(|f| f.as_str())
        == Some("apollo-persisted-query-manifest")
    {
        if object.get("version").and_then(|v| v.as_u64()) != Some(1) {
            return Err("an Apollo persisted query manifest of a version other than 1".into());
        }
        let operations = object
            .get("operations")
            .and_then(|o| o.as_array())
            .ok_or_else(|| "an Apollo persisted query manifest without `operations`".to_string())?;
        operations
            .iter()
            .enumerate()
            .map(|(i, operation)| {
                let field = |name: &str| operation.get(name).and_then(|v| v.as_str());
                match (field("id"), field("body")) {
                    (Some(id), Some(body)) => Ok((id.to_string(), body.to_string())),
                    _ => Err(format!(
                        "operations[{i}] needs string `id` and `body` fields"
                    )),
                }
            })
            .collect::<Result<_, _>>()?
    } else {
        object
            .iter()
            .map(|(key, document)| match document.as_str() {
                Some(document) => Ok((key.clone(), document.to_string())),
                None => Err(format!("{}; `{key}` is not a string", shape())),
            })
            .collect::<Result<_, _>>()?
    };
    for (key, document) in &pairs {
        let hash = parse_hex(key).ok_or_else(|| {
            format!("key `{key}` is not a sha256 hex digest (64 hexadecimal digits)")
        })?;
        if sha256(document) != hash {
            return Err(format!(
                "key `{key}` is not the sha256 of its document `{}` (which is {}): regenerate \
                 the manifest",
                only_operation_name_of_text(document),
                hex::encode(sha256(document))
            ));
        }
    }
    Ok(pairs)
}

/// Parses `text` once, and has the schema check each of its operations (request limits,
/// validation) without running it.
async fn check(key: &str, text: &str, schema: &impl Executor) -> Result<TrustedDocument, String> {
    let document = async_graphql::parser::parse_query(text).map_err(|e| {
        let message = syntax_error(text, e).message;
        format!("document {key} does not parse: {message}")
    })?;
    let names: Vec<Option<String>> = document
        .operations
        .iter()
        .map(|(name, _)| name.map(|name| name.to_string()))
        .collect();
    for name in names {
        let mut request = Request::new(text).data(CheckOnly);
        request.operation_name.clone_from(&name);
        let response = schema.execute(request).await;
        if !response.errors.is_empty() {
            let messages: Vec<&str> = response.errors.iter().map(|e| e.message.as_str()).collect();
            return Err(format!(
                "operation `{}` (document {key}) is not valid: {}",
                name.as_deref().unwrap_or("(anonymous)"),
                messages.join(" ")
            ));
        }
    }
    Ok(TrustedDocument {
        hash: parse_hex(key).expect("checked by `entries`"),
        document,
    })
}

/// The hash a request names, by `documentId` or `extensions.persistedQuery`.
fn named_hash(request: &Request) -> ServerResult<Option<Hash>> {
    let document_id = request
        .data
        .get(&TypeId::of::<DocumentId>())
        .and_then(|data| data.downcast_ref::<DocumentId>())
        .map(|DocumentId(id)| {
            parse_hex(id.strip_prefix("sha256:").unwrap_or(id)).ok_or_else(|| {
                invalid("`documentId` must be a sha256 hex digest, optionally `sha256:<hex>`.")
            })
        })
        .transpose()?;
    let persisted = match request.extensions.get("persistedQuery") {
        None => None,
        Some(Value::Object(persisted)) => {
            if persisted.get("version") != Some(&Value::from(1)) {
                return Err(invalid(
                    "`extensions.persistedQuery.version` must be 1 (the only version).",
                ));
            }
            match persisted.get("sha256Hash") {
                Some(Value::String(hash)) => Some(parse_hex(hash).ok_or_else(|| {
                    invalid("`extensions.persistedQuery.sha256Hash` must be a sha256 hex digest.")
                })?),
                _ => {
                    return Err(invalid(
                        "`extensions.persistedQuery` needs a `sha256Hash` string.",
                    ));
                }
            }
        }
        Some(_) => return Err(invalid("`extensions.persistedQuery` must be an object.")),
    };
    match (document_id, persisted) {
        (Some(a), Some(b)) if a != b => Err(coded(
            "`documentId` and `extensions.persistedQuery.sha256Hash` name different documents."
                .into(),
            HASH_MISMATCH,
        )),
        (a, b) => Ok(a.or(b)),
    }
}

/// Whether the selected operation reads only the schema (`__schema`, `__type`; `__typename`
/// beside them): what GraphiQL sends to show the docs.
fn is_introspection(document: &ExecutableDocument, operation_name: Option<&str>) -> bool {
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => operation,
        (DocumentOperations::Multiple(operations), Some(name)) => match operations.get(name) {
            Some(operation) => operation,
            None => return false,
        },
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next().expect("one operation")
        }
        _ => return false,
    };
    let mut reads_schema = false;
    for selection in &operation.node.selection_set.node.items {
        match &selection.node {
            Selection::Field(field) => match field.node.name.node.as_str() {
                "__schema" | "__type" => reads_schema = true,
                "__typename" => {}
                _ => return false,
            },
            _ => return false,
        }
    }
    reads_schema
}

fn only_operation_name(document: &ExecutableDocument) -> Option<&str> {
    let mut operations = document.operations.iter();
    match (operations.next(), operations.next()) {
        (Some((name, _)), None) => name.map(|name| name.as_str()),
        _ => None,
    }
}

/// For an error message about a document that may not parse: its operation name, if it does.
fn only_operation_name_of_text(text: &str) -> String {
    async_graphql::parser::parse_query(text)
        .ok()
        .and_then(|document| only_operation_name(&document).map(str::to_string))
        .unwrap_or_else(|| "(anonymous)".into())
}

/// At most 100 characters of an operation name the client chose, for the log.
fn excerpt(name: &str) -> String {
    name.chars().take(100).collect()
}

fn sha256(text: &str) -> Hash {
    digest::digest(&digest::SHA256, text.as_bytes())
        .as_ref()
        .try_into()
        .expect("a sha256 is 32 bytes")
}

fn parse_hex(text: &str) -> Option<Hash> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).ok()?;
    Some(hash)
}

fn not_in_list() -> ServerError {
    coded(
        "This server runs only its trusted documents, and this document is not one of them.".into(),
        NOT_IN_LIST,
    )
}

fn invalid(message: &str) -> ServerError {
    let mut error = coded(message.into(), BAD_REQUEST);
    if let Some(extensions) = &mut error.extensions {
        extensions.set("reason", "invalid_persisted_query");
    }
    error
}

fn coded(message: String, code: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEALTH: &str = "query Health { health }";

    fn hash_of(text: &str) -> String {
        hex::encode(sha256(text))
    }

    #[test]
    fn both_manifest_shapes_are_read() {
        let codegen = serde_json::json!({ hash_of(HEALTH): HEALTH }).to_string();
        assert_eq!(
            entries(&codegen).unwrap(),
            vec![(hash_of(HEALTH), HEALTH.to_string())]
        );
        let apollo = serde_json::json!({
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [
                {"id": hash_of(HEALTH), "body": HEALTH, "name": "Health", "type": "query"}
            ]
        })
        .to_string();
        assert_eq!(
            entries(&apollo).unwrap(),
            vec![(hash_of(HEALTH), HEALTH.to_string())]
        );
    }

    #[test]
    fn a_bad_manifest_names_what_is_wrong() {
        let problem = |text: &str| entries(text).unwrap_err();
        assert!(problem("{").starts_with("is not JSON"), "{}", problem("{"));
        assert!(problem("[]").contains("expected a JSON object"));
        assert!(problem(r#"{"abc": "{ health }"}"#).contains("key `abc` is not a sha256"));
        let wrong = "0".repeat(64);
        let message = problem(&serde_json::json!({ &wrong: HEALTH }).to_string());
        assert!(
            message.contains(&format!("key `{wrong}` is not the sha256"))
                && message.contains("`Health`")
                && message.contains(&hash_of(HEALTH)),
            "{message}"
        );
        let apollo =
            r#"{"format": "apollo-persisted-query-manifest", "version": 2, "operations": []}"#;
        assert!(problem(apollo).contains("version other than 1"));
    }

    #[test]
    fn a_hash_is_named_by_document_id_or_persisted_query() {
        let hash = hash_of(HEALTH);
        let by_id = Request::new("").data(DocumentId(format!("sha256:{hash}")));
        assert_eq!(named_hash(&by_id).unwrap(), Some(sha256(HEALTH)));
        let mut apq = Request::new("");
        apq.extensions.insert(
            "persistedQuery".into(),
            Value::from_json(serde_json::json!({"version": 1, "sha256Hash": hash})).unwrap(),
        );
        assert_eq!(named_hash(&apq).unwrap(), Some(sha256(HEALTH)));
        let both = apq.data(DocumentId("0".repeat(64)));
        let error = named_hash(&both).unwrap_err();
        assert_eq!(
            error.extensions.unwrap().get("code"),
            Some(&Value::from(HASH_MISMATCH))
        );
        let short = Request::new("").data(DocumentId("abc".into()));
        assert!(named_hash(&short).is_err());
        assert_eq!(named_hash(&Request::new("{ health }")).unwrap(), None);
    }

    #[test]
    fn introspection_is_a_query_of_the_schema_only() {
        let doc = |text| async_graphql::parser::parse_query(text).unwrap();
        assert!(is_introspection(
            &doc("query I { __schema { types { name } } __typename }"),
            None
        ));
        assert!(!is_introspection(&doc("{ __typename }"), None));
        assert!(!is_introspection(
            &doc("{ __schema { types { name } } health }"),
            None
        ));
        assert!(!is_introspection(
            &doc("{ ...F } fragment F on Query { __schema { types { name } } }"),
            None
        ));
    }
}
