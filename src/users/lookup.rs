//! Reading users for GraphQL: one user, and pages of users in a stable order.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::users::entity::{Column, Entity as Users, Model as User};

/// A user who is not deleted.
pub async fn find_active<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<User>, DbErr> {
    Users::find_by_id(id)
        .filter(Column::DeletedAt.is_null())
        .one(db)
        .await
}

/// A position in the `(clerk_created_at, id)` order of users. Opaque to clients: they pass back
/// the `endCursor` they were given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCursor {
    created_at: i64,
    id: String,
}

impl UserCursor {
    pub fn of(user: &User) -> Self {
        Self {
            created_at: user.clerk_created_at,
            id: user.id.clone(),
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.created_at, self.id))
    }

    /// `None` for anything that is not a cursor we issued.
    pub fn decode(cursor: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (created_at, id) = text.split_once(':')?;
        Some(Self {
            created_at: created_at.parse().ok()?,
            id: id.to_string(),
        })
    }
}

pub struct UserPage {
    pub users: Vec<User>,
    pub has_next_page: bool,
}

/// Up to `first` active users after `after`, oldest first; `search` matches a substring of the
/// email, username, first or last name, ignoring (ASCII) case.
pub async fn page<C: ConnectionTrait>(
    db: &C,
    first: u64,
    after: Option<&UserCursor>,
    search: Option<&str>,
) -> Result<UserPage, DbErr> {
    let mut query = Users::find().filter(Column::DeletedAt.is_null());
    if let Some(after) = after {
        query = query.filter(
            Condition::any()
                .add(Column::ClerkCreatedAt.gt(after.created_at))
                .add(
                    Condition::all()
                        .add(Column::ClerkCreatedAt.eq(after.created_at))
                        .add(Column::Id.gt(after.id.as_str())),
                ),
        );
    }
    if let Some(search) = search {
        let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
        let mut any = Condition::any();
        for column in [
            Column::Email,
            Column::Username,
            Column::FirstName,
            Column::LastName,
        ] {
            any = any.add(
                Expr::expr(Func::lower(Expr::col(column)))
                    .like(LikeExpr::new(pattern.clone()).escape('\\')),
            );
        }
        query = query.filter(any);
    }
    // One row more than asked tells whether another page follows.
    let mut users = query
        .order_by_asc(Column::ClerkCreatedAt)
        .order_by_asc(Column::Id)
        .limit(first + 1)
        .all(db)
        .await?;
    let has_next_page = users.len() as u64 > first;
    users.truncate(first as usize);
    Ok(UserPage {
        users,
        has_next_page,
    })
}

/// Makes `%`, `_` and `\` in user input match themselves.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_strings_are_rejected() {
        let cursor = UserCursor {
            created_at: 1_716_883_200_000,
            id: "user_2abc:x".into(),
        };
        assert_eq!(UserCursor::decode(&cursor.encode()), Some(cursor));
        for bogus in ["", "not base64!", "bm8tY29sb24", "YWJjOnVzZXI"] {
            assert_eq!(UserCursor::decode(bogus), None, "{bogus}");
        }
    }

    #[test]
    fn like_wildcards_in_search_are_literal() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }
}
