//! Example types that show each authorization mark, reached directly, through the `Node`
//! interface and through the `Note` union. Copy the pattern; delete what you do not need.

use async_graphql::{ID, Interface, SimpleObject, Union};

use crate::authz::directives::{auth, permission, role, scope};

/// Readable by anyone.
#[derive(SimpleObject, Clone)]
pub struct PublicNote {
    pub id: ID,
    pub text: String,
}

/// Readable by any signed-in user (type-level `@auth`).
#[derive(SimpleObject, Clone)]
#[graphql(directive = auth::apply(None))]
pub struct MemberNote {
    pub id: ID,
    pub text: String,
}

/// Readable by holders of the app role `admin`.
#[derive(SimpleObject, Clone)]
#[graphql(directive = role::apply("admin".into()))]
pub struct AdminNote {
    pub id: ID,
    pub text: String,
}

/// Readable by admins of the active organisation.
#[derive(SimpleObject, Clone)]
#[graphql(directive = role::apply("org:admin".into()))]
pub struct OrgAdminNote {
    pub id: ID,
    pub text: String,
}

/// Readable with the organisation permission `org:billing:manage`.
#[derive(SimpleObject, Clone)]
#[graphql(directive = permission::apply("org:billing:manage".into()))]
pub struct BillingNote {
    pub id: ID,
    pub text: String,
}

/// The service's own state, for monitoring services: readable with a machine token granting
/// `status:read` (type-level `@scope`); sessions carry no scopes.
#[derive(SimpleObject, Clone)]
#[graphql(directive = scope::apply("status:read".into()))]
pub struct ServiceStatus {
    /// This server's version.
    pub version: String,
    /// Whether the database answered a ping just now.
    pub database_reachable: bool,
}

/// Through an interface, a field requires what it requires on *every* implementor.
#[derive(Interface, Clone)]
#[graphql(field(name = "id", ty = "&ID"), field(name = "text", ty = "&String"))]
pub enum Node {
    Public(PublicNote),
    Member(MemberNote),
    Admin(AdminNote),
    OrgAdmin(OrgAdminNote),
    Billing(BillingNote),
}

/// Through a union, each member's fields keep their own requirements.
#[derive(Union, Clone)]
pub enum Note {
    Public(PublicNote),
    Member(MemberNote),
    Admin(AdminNote),
    OrgAdmin(OrgAdminNote),
    Billing(BillingNote),
}

/// The example notes by id: `public`, `member`, `admin`, `org-admin`, `billing`.
pub fn note(id: &str) -> Option<Note> {
    let text = format!("the {id} note");
    let id_value = ID::from(id);
    Some(match id {
        "public" => Note::Public(PublicNote { id: id_value, text }),
        "member" => Note::Member(MemberNote { id: id_value, text }),
        "admin" => Note::Admin(AdminNote { id: id_value, text }),
        "org-admin" => Note::OrgAdmin(OrgAdminNote { id: id_value, text }),
        "billing" => Note::Billing(BillingNote { id: id_value, text }),
        _ => return None,
    })
}

impl From<Note> for Node {
    fn from(note: Note) -> Self {
        match note {
            Note::Public(n) => Node::Public(n),
            Note::Member(n) => Node::Member(n),
            Note::Admin(n) => Node::Admin(n),
            Note::OrgAdmin(n) => Node::OrgAdmin(n),
            Note::Billing(n) => Node::Billing(n),
        }
    }
}

/// A field-level mark on a mutation: the resolver never runs for an anonymous caller.
#[derive(Default)]
pub struct ExampleMutation;

#[async_graphql::Object]
impl ExampleMutation {
    /// Echoes the message back with the caller's user id.
    #[graphql(directive = auth::apply(None))]
    async fn echo(&self, ctx: &async_graphql::Context<'_>, message: String) -> String {
        let user = ctx
            .data_opt::<std::sync::Arc<crate::auth::Viewer>>()
            .map_or("?", |viewer| viewer.user_id.as_str());
        format!("{user}: {message}")
    }
}
