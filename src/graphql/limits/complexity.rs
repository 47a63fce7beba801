//! What a field costs towards `GRAPHQL_MAX_COMPLEXITY`, when it is more than one.

use crate::graphql::pagination::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// The cost of a Relay connection field: its children are selected once per item of the page,
/// so they count `first` times (the default page size when absent, at most the maximum; see
/// `pagination`), plus one for the field. Use it on a connection field with
/// `#[graphql(complexity = "crate::graphql::limits::connection_complexity(first, child_complexity)")]`.
pub fn connection_complexity(first: Option<i32>, child_complexity: usize) -> usize {
    let max = MAX_PAGE_SIZE as usize;
    let page = first.map_or(DEFAULT_PAGE_SIZE as usize, |n| {
        usize::try_from(n).unwrap_or(0).min(max)
    });
    page.max(1)
        .saturating_mul(child_complexity)
        .saturating_add(1)
}
