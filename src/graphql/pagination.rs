//! The `first` argument shared by every connection field.

use async_graphql::Result;

use super::errors;

/// Page size when `first` is not given, and its upper bound.
pub const DEFAULT_PAGE_SIZE: i32 = 20;
pub const MAX_PAGE_SIZE: i32 = 100;

/// `first`, checked: 0 to 100, 20 when absent.
pub fn page_size(first: Option<i32>) -> Result<u64> {
    let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
    if (0..=MAX_PAGE_SIZE).contains(&first) {
        Ok(first as u64)
    } else {
        Err(errors::bad_user_input(
            "first",
            format!("`first` must be between 0 and {MAX_PAGE_SIZE}"),
        ))
    }
}
