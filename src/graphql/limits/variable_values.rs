//! Step 1: the values of the variables, counted and their nesting bounded before anything reads
//! them.

use async_graphql::{ServerResult, Value, Variables};

use super::errors::limit_error;
use crate::config::GraphqlLimits;

/// The values in all variables, and how deeply their lists and objects nest, within the limits
/// (step 1). An empty map, the usual case, costs nothing.
pub(super) fn check_variables(limits: &GraphqlLimits, variables: &Variables) -> ServerResult<()> {
    let mut remaining = limits.max_variable_values;
    for value in variables.values() {
        match count_values(value, 0, limits.max_recursive_depth, &mut remaining) {
            Ok(()) => {}
            Err(VariablesExcess::Values) => {
                let max = limits.max_variable_values;
                return Err(limit_error(
                    format!(
                        "The variables are too large: more than {max} values (each number, \
                         string, list and object counts one), over the variable value limit of \
                         {max}."
                    ),
                    None,
                    "variableValues",
                    max,
                ));
            }
            Err(VariablesExcess::Nesting) => {
                let max = limits.max_recursive_depth;
                return Err(limit_error(
                    format!(
                        "The variables are nested too deep: more than {max} nested lists and \
                         objects, over the recursive depth limit of {max}."
                    ),
                    None,
                    "recursiveDepth",
                    max,
                ));
            }
        }
    }
    Ok(())
}

enum VariablesExcess {
    Values,
    Nesting,
}

/// Counts `value` and what it contains against `remaining`; `enclosing` lists and objects hold
/// it. Stops at the first excess, so the work is bounded by the limits, not by the input (whose
/// nesting serde_json has already bounded to 128 while reading it).
fn count_values(
    value: &Value,
    enclosing: usize,
    max_nesting: usize,
    remaining: &mut usize,
) -> Result<(), VariablesExcess> {
    *remaining = remaining.checked_sub(1).ok_or(VariablesExcess::Values)?;
    match value {
        Value::List(items) => count_nested(items, enclosing + 1, max_nesting, remaining),
        Value::Object(fields) => {
            count_nested(fields.values(), enclosing + 1, max_nesting, remaining)
        }
        _ => Ok(()),
    }
}

/// The items of a list or an object that sits `nesting` levels deep.
fn count_nested<'a>(
    items: impl IntoIterator<Item = &'a Value>,
    nesting: usize,
    max_nesting: usize,
    remaining: &mut usize,
) -> Result<(), VariablesExcess> {
    if nesting > max_nesting {
        return Err(VariablesExcess::Nesting);
    }
    items
        .into_iter()
        .try_for_each(|item| count_values(item, nesting, max_nesting, remaining))
}
