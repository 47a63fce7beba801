//! The GraphQL spec's rules for field errors (§6.4.4 "Handling Field Errors"): an error in a
//! *nullable* field makes that field `null`; an error in a *non-null* field makes its parent
//! `null` instead, and so on up to the nearest nullable parent — up to `data` itself. Every error
//! is listed once in `errors`.
//!
//! async-graphql 7 follows neither rule when a field's resolver or an extension (our
//! authorization check) fails: it drops the field's key from its parent object — or makes the
//! parent `null` only when every field failed — so a client would see `{"health": "ok"}` where the
//! spec says `{"me": null, "health": "ok"}`, or `{"health": "ok"}` with `users` missing where the
//! spec says `"data": null`; code generated from the schema then reads a key that is not there.
//!
//! The schema's extension ([`super::extension`]) passes every field's result through
//! [`FieldErrors::settle`], outermost, and every response through [`FieldErrors::finish`]:
//! - a failed nullable field answers `null`, its error kept for the response;
//! - a failed non-null field marks its parent (the object, or the list item, it is in) as
//!   `null`; when that parent's own field settles, it answers `null` — or, being non-null
//!   itself, marks *its* parent — and a list drops to `null` items (nullable items) or to `null`
//!   itself (non-null items); a mark on the root makes `data` `null`;
//! - after a root mutation field nulled `data`, the later root mutation fields do not run (the
//!   spec executes them serially and stops there, as graphql-js does).
//!
//! Nothing is tracked until a non-null field fails: the common case costs one atomic load.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::{QueryPathNode, QueryPathSegment, Response, ServerError, ServerResult, Value};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segment {
    Name(String),
    Index(usize),
}

/// Response keys and list indices from the root.
type Path = Vec<Segment>;

fn path_of(node: &QueryPathNode<'_>) -> Path {
    let mut path: Path = std::iter::successors(Some(node), |node| node.parent)
        .map(|node| match node.segment {
            QueryPathSegment::Name(name) => Segment::Name(name.to_string()),
            QueryPathSegment::Index(index) => Segment::Index(index),
        })
        .collect();
    path.reverse();
    path
}

fn is_nullable(type_name: &str) -> bool {
    !type_name.ends_with('!')
}

/// Whether the items of a list type (`[Post!]!`) may be null; `None` for a type that is no list.
fn items_are_nullable(type_name: &str) -> Option<bool> {
    let item = type_name
        .trim_end_matches('!')
        .strip_prefix('[')?
        .strip_suffix(']')?;
    Some(is_nullable(item))
}

/// One request's (or one subscription event's) field errors.
#[derive(Default)]
pub struct FieldErrors {
    /// Errors of nullable fields that answered `null` (async-graphql would not list them).
    caught: Mutex<Vec<ServerError>>,
    /// Values that must be `null` because one of their non-null fields failed.
    nulled: Mutex<HashSet<Path>>,
    /// Whether `nulled` may hold anything.
    any_nulled: AtomicBool,
}

impl FieldErrors {
    /// A field's result as the spec wants it (`return_type` as async-graphql spells it, e.g.
    /// `[Post!]!`).
    pub fn settle(
        &self,
        node: &QueryPathNode<'_>,
        return_type: &str,
        result: ServerResult<Option<Value>>,
    ) -> ServerResult<Option<Value>> {
        let result = match result {
            Ok(value) if self.any_nulled.load(Ordering::Acquire) => {
                Ok(self.null_if_a_field_within_failed(node, return_type, value))
            }
            other => other,
        };
        match result {
            Err(error) if is_nullable(return_type) => {
                self.lock_caught().push(error);
                Ok(Some(Value::Null))
            }
            Err(error) => {
                // async-graphql lists the error and drops the field; its parent must be null.
                self.null_parent_of(path_of(node));
                Err(error)
            }
            ok => ok,
        }
    }

    /// Whether a failed root field has made `data` null.
    pub fn data_is_null(&self) -> bool {
        self.any_nulled.load(Ordering::Acquire) && self.lock_nulled().contains(&Path::new())
    }

    /// The response as the spec wants it: the caught errors listed, `data` null when a root
    /// non-null field failed. Resets, for the next event of a subscription.
    pub fn finish(&self, response: &mut Response) {
        response.errors.append(&mut self.lock_caught());
        if self.data_is_null() {
            response.data = Value::Null;
        }
        self.lock_nulled().clear();
        self.any_nulled.store(false, Ordering::Release);
    }

    /// The value of a field some of whose non-null fields (or list items) failed.
    fn null_if_a_field_within_failed(
        &self,
        node: &QueryPathNode<'_>,
        return_type: &str,
        mut value: Option<Value>,
    ) -> Option<Value> {
        let path = path_of(node);
        let mut nulled = self.lock_nulled();
        let mut null = nulled.remove(&path);
        if let (Some(Value::List(items)), Some(items_nullable)) =
            (&mut value, items_are_nullable(return_type))
        {
            let mut item_path = path.clone();
            for (index, item) in items.iter_mut().enumerate() {
                item_path.push(Segment::Index(index));
                if nulled.remove(&item_path) {
                    if items_nullable {
                        *item = Value::Null;
                    } else {
                        null = true;
                    }
                }
                item_path.pop();
            }
        }
        if !null {
            return value;
        }
        if !is_nullable(return_type) {
            // Its parent is nulled in turn; the `null` here never reaches the client.
            nulled.insert(parent_of(path));
        }
        Some(Value::Null)
    }

    fn null_parent_of(&self, path: Path) {
        self.lock_nulled().insert(parent_of(path));
        self.any_nulled.store(true, Ordering::Release);
    }

    fn lock_caught(&self) -> std::sync::MutexGuard<'_, Vec<ServerError>> {
        self.caught.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_nulled(&self) -> std::sync::MutexGuard<'_, HashSet<Path>> {
        self.nulled.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn parent_of(mut path: Path) -> Path {
    path.pop();
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_item_nullability_is_read_from_the_type() {
        assert_eq!(items_are_nullable("[Post!]!"), Some(false));
        assert_eq!(items_are_nullable("[Post]"), Some(true));
        assert_eq!(items_are_nullable("[Post]!"), Some(true));
        assert_eq!(items_are_nullable("Post!"), None);
        assert!(is_nullable("User"));
        assert!(!is_nullable("UserConnection!"));
    }
}
