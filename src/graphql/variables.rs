//! Variable coercion before execution (GraphQL spec §6.1.2 "Coercing Variable Values"): a
//! required variable that is missing, `null` for a non-null type, or a value of the wrong type
//! fails the whole request with `BAD_USER_INPUT` before anything runs.
//!
//! async-graphql 7 reads variables lazily, when a field's argument uses one: in
//! `mutation($m: String!) { a: createPost(…) { id } b: echo(message: $m) }` without `m`, the post
//! is written, and only `b` fails ("Variable m is not defined"). A client that retries such a
//! request writes the post again. Here the operation's variable definitions are checked against
//! the schema's input types once the document is parsed.

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition};
use async_graphql::registry::{MetaType, Registry};
use async_graphql::{ErrorExtensionValues, Pos, Positioned, ServerError, Value, Variables};

/// The errors of the operation's variables (none when they coerce). An operation that cannot be
/// selected is left for async-graphql to refuse.
pub fn coercion_errors(
    registry: &Registry,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) -> Vec<ServerError> {
    let Some(operation) = operation(document, operation_name) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    for definition in &operation.node.variable_definitions {
        let definition = &definition.node;
        let name = &definition.name.node;
        let ty = definition.var_type.node.to_string();
        let problem = match variables.get(name) {
            None if definition.default_value.is_none() && ty.ends_with('!') => Some(format!(
                "Variable \"${name}\" of required type \"{ty}\" was not provided."
            )),
            None => None,
            Some(value) => check(registry, &ty, value)
                .err()
                .map(|why| format!("Variable \"${name}\" got an invalid value: {why}.")),
        };
        if let Some(message) = problem {
            errors.push(bad_user_input(message, definition.name.pos));
        }
    }
    errors
}

fn operation<'d>(
    document: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d Positioned<OperationDefinition>> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// Whether `value` is a valid input of the type `ty` (as the schema spells types: `[Int!]!`).
fn check(registry: &Registry, ty: &str, value: &Value) -> Result<(), String> {
    if let Some(inner) = ty.strip_suffix('!') {
        if *value == Value::Null {
            return Err(format!("null for the non-null type \"{ty}\""));
        }
        return check(registry, inner, value);
    }
    if *value == Value::Null {
        return Ok(());
    }
    if let Some(item) = ty.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
        return match value {
            Value::List(items) => items
                .iter()
                .try_for_each(|value| check(registry, item, value)),
            // Input coercion accepts a single value for a list of one.
            single => check(registry, item, single),
        };
    }
    match registry.types.get(ty) {
        Some(MetaType::Scalar { is_valid, .. }) => {
            if is_valid.as_ref().is_none_or(|is_valid| is_valid(value)) {
                Ok(())
            } else {
                Err(format!("not a valid {ty}"))
            }
        }
        Some(MetaType::Enum { enum_values, .. }) => match value {
            Value::Enum(name) if enum_values.contains_key(name.as_str()) => Ok(()),
            Value::String(name) if enum_values.contains_key(name.as_str()) => Ok(()),
            _ => Err(format!("not a value of the enum {ty}")),
        },
        Some(MetaType::InputObject { input_fields, .. }) => {
            let Value::Object(fields) = value else {
                return Err(format!("{ty} expects an object"));
            };
            if let Some(unknown) = fields
                .keys()
                .find(|key| !input_fields.contains_key(key.as_str()))
            {
                return Err(format!("{ty} has no field \"{unknown}\""));
            }
            for field in input_fields.values() {
                match fields.get(field.name.as_str()) {
                    Some(value) => check(registry, &field.ty, value)
                        .map_err(|why| format!("{ty}.{}: {why}", field.name))?,
                    None if field.ty.ends_with('!') && field.default_value.is_none() => {
                        return Err(format!("{ty}.{} is required", field.name));
                    }
                    None => {}
                }
            }
            Ok(())
        }
        _ => Err(format!("\"{ty}\" is not an input type")),
    }
}

fn bad_user_input(message: String, pos: Pos) -> ServerError {
    let mut error = ServerError::new(message, Some(pos));
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", "BAD_USER_INPUT");
    error.extensions = Some(extensions);
    error
}
