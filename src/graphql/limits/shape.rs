//! Step 4: the shape of the parsed document, fragments expanded once each: nesting, root fields,
//! aliases, introspection per operation, and the number of fields in all.

use async_graphql::Positioned;
use async_graphql::ServerResult;
use async_graphql::parser::types::{ExecutableDocument, OperationDefinition};

use super::Settings;
use super::errors::{VALIDATION_FAILED, coded, limit_error, nesting_error};
use super::selection_summary::{Refusal, SelectionWalker, Summary};

/// Step 4: nesting, aliases, root fields, expanded size and introspection, per operation.
pub(super) fn check_shape(settings: &Settings, document: &ExecutableDocument) -> ServerResult<()> {
    let limits = &settings.limits;
    let mut walker = SelectionWalker::new(document, limits.max_recursive_depth);
    let refused = |refusal: Refusal| match refusal {
        Refusal::TooDeep(pos) => nesting_error(limits.max_recursive_depth, Some(pos)),
        Refusal::Cycle(name, pos) => coded(
            format!("Cannot spread fragment \"{name}\" within itself."),
            Some(pos),
            VALIDATION_FAILED,
            None,
        ),
    };
    let mut operations_fields = 0u64;
    for (_, operation) in document.operations.iter() {
        let summary = walker
            .operation(&operation.node.selection_set)
            .map_err(refused)?;
        if summary.nesting > limits.max_recursive_depth {
            return Err(nesting_error(
                limits.max_recursive_depth,
                Some(operation.pos),
            ));
        }
        check_operation(settings, operation, &summary)?;
        operations_fields = operations_fields.saturating_add(summary.fields);
    }
    // Fragment definitions are validated on their own too, each expanded: bounded as well, with
    // room for documents built from many nested fragments.
    let mut fragments_fields = 0u64;
    for name in document.fragments.keys() {
        let summary = walker
            .fragment_definition(name.as_str())
            .map_err(refused)?
            .unwrap_or_default();
        fragments_fields = fragments_fields.saturating_add(summary.fields);
    }
    let max_complexity = limits.max_complexity as u64;
    if operations_fields > max_complexity
        || fragments_fields > max_complexity.saturating_mul(FRAGMENTS_FACTOR)
    {
        let fields = operations_fields.max(fragments_fields / FRAGMENTS_FACTOR);
        return Err(limit_error(
            format!(
                "Query is too complex: it selects {fields} fields once fragments are expanded, \
                 over the complexity limit of {max_complexity}."
            ),
            None,
            "complexity",
            limits.max_complexity,
        ));
    }
    Ok(())
}

/// How much larger than the complexity limit the fragment definitions of a document may expand
/// to, in total.
const FRAGMENTS_FACTOR: u64 = 10;

fn check_operation(
    settings: &Settings,
    operation: &Positioned<OperationDefinition>,
    summary: &Summary,
) -> ServerResult<()> {
    let limits = &settings.limits;
    let pos = Some(operation.pos);
    if summary.root_fields > limits.max_root_fields as u64 {
        return Err(limit_error(
            format!(
                "Too many root fields: the operation selects {} fields at its root (fragments \
                 expanded), over the root field limit of {}.",
                summary.root_fields, limits.max_root_fields
            ),
            pos,
            "rootFields",
            limits.max_root_fields,
        ));
    }
    if summary.aliases > limits.max_aliases as u64 {
        return Err(limit_error(
            format!(
                "Too many aliases: the operation uses {} aliases (fragments expanded), over the \
                 alias limit of {}.",
                summary.aliases, limits.max_aliases
            ),
            pos,
            "aliases",
            limits.max_aliases,
        ));
    }
    if summary.introspection && !settings.introspection {
        return Err(coded(
            "Introspection is disabled on this server: `__schema` and `__type` cannot be queried."
                .into(),
            pos,
            VALIDATION_FAILED,
            Some("introspection_disabled"),
        ));
    }
    Ok(())
}
