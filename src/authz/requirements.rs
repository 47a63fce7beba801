//! What each field requires, computed once from the schema registry.

use std::sync::Arc;

use async_graphql::Value;
use async_graphql::registry::{MetaDirectiveInvocation, MetaType, MetaTypeName, Registry};
use foldhash::HashMap;

use crate::config::TokenKind;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Requirement {
    /// `@auth`: signed in with one of these kinds of token (a user session unless `accepts`
    /// says otherwise).
    Authenticated(Vec<TokenKind>),
    /// `@scope(name)`: a machine token granting this scope.
    Scope(String),
    Role(String),
    Permission(String),
    /// `@ownerOrRole(role)`: signed in, and either the owner of the row or a holder of the role.
    /// Only the first half depends on the viewer alone; `super::ownership` decides the rest.
    OwnerOrRole(String),
}

/// `parent type → field → requirements`, for every field that has any. Nested maps so that the
/// per-field lookup borrows the names instead of allocating a key, and so that a type without
/// marks (most of them) costs one lookup. It is looked up for every resolved field of every
/// request, hence foldhash rather than SipHash: the keys are the schema's own names, fixed when
/// the table is built, so there is nothing for a client to collide.
#[derive(Debug, Default)]
pub struct RequirementTable {
    fields: HashMap<String, HashMap<String, Arc<[Requirement]>>>,
}

impl RequirementTable {
    /// Rules:
    /// - an object field requires its own marks, its type's marks, and the marks of the object
    ///   type it returns (so that a resolver returning a guarded type, e.g. a mutation, does not
    ///   even run for a viewer who could not read the result);
    /// - an interface field requires the union (AND) of what the same field requires on every
    ///   implementor, because the executor only tells us the interface, not the concrete type
    ///   (async-graphql's own guards are bypassed there: upstream issue #1826).
    ///
    /// Union members are reached through inline fragments on the concrete type, so their fields
    /// are object fields and need no special case.
    pub fn from_registry(registry: &Registry) -> Self {
        let mut fields = HashMap::default();
        for ty in registry.types.values() {
            if let MetaType::Object {
                name,
                fields: object_fields,
                ..
            } = ty
            {
                for field in object_fields.keys() {
                    let required = object_field_requirements(registry, name, field);
                    if !required.is_empty() {
                        fields
                            .entry(name.clone())
                            .or_insert_with(HashMap::default)
                            .insert(field.clone(), required.into());
                    }
                }
            }
        }
        for ty in registry.types.values() {
            if let MetaType::Interface {
                name,
                fields: interface_fields,
                possible_types,
                ..
            } = ty
            {
                for field in interface_fields.keys() {
                    let mut required: Vec<Requirement> = Vec::new();
                    for implementor in possible_types {
                        for requirement in object_field_requirements(registry, implementor, field) {
                            if !required.contains(&requirement) {
                                required.push(requirement);
                            }
                        }
                    }
                    if !required.is_empty() {
                        fields
                            .entry(name.clone())
                            .or_insert_with(HashMap::default)
                            .insert(field.clone(), required.into());
                    }
                }
            }
        }
        Self { fields }
    }

    pub fn get(&self, parent_type: &str, field: &str) -> Option<&Arc<[Requirement]>> {
        self.fields.get(parent_type)?.get(field)
    }
}

fn object_field_requirements(
    registry: &Registry,
    type_name: &str,
    field_name: &str,
) -> Vec<Requirement> {
    let mut required = Vec::new();
    let Some(MetaType::Object {
        directive_invocations: type_marks,
        fields,
        ..
    }) = registry.types.get(type_name)
    else {
        return required;
    };
    let Some(field) = fields.get(field_name) else {
        return required;
    };
    collect(&mut required, &field.directive_invocations);
    collect(&mut required, type_marks);
    let returned = MetaTypeName::concrete_typename(&field.ty);
    if returned != type_name
        && let Some(MetaType::Object {
            directive_invocations,
            ..
        }) = registry.types.get(returned)
    {
        collect(&mut required, directive_invocations);
    }
    required
}

fn collect(required: &mut Vec<Requirement>, invocations: &[MetaDirectiveInvocation]) {
    for invocation in invocations {
        let string_arg = |argument: &str| match invocation.args.get(argument) {
            Some(Value::String(value)) => value.clone(),
            other => panic!(
                "@{} needs a string `{argument}`, got {other:?}",
                invocation.name
            ),
        };
        let requirement = match invocation.name.as_str() {
            "auth" => Requirement::Authenticated(accepted_kinds(invocation)),
            "scope" => Requirement::Scope(string_arg("name")),
            "role" => Requirement::Role(string_arg("name")),
            "permission" => Requirement::Permission(string_arg("name")),
            "ownerOrRole" => Requirement::OwnerOrRole(string_arg("role")),
            _ => continue,
        };
        if !required.contains(&requirement) {
            required.push(requirement);
        }
    }
}

/// `@auth(accepts: [...])`'s kinds; without `accepts`, a user session.
fn accepted_kinds(invocation: &MetaDirectiveInvocation) -> Vec<TokenKind> {
    let Some(accepts) = invocation.args.get("accepts") else {
        return vec![TokenKind::Session];
    };
    let Value::List(items) = accepts else {
        panic!("@auth needs a list `accepts`, got {accepts:?}");
    };
    items
        .iter()
        .map(|item| match item {
            Value::Enum(name) => match name.as_str() {
                "SESSION" => TokenKind::Session,
                "API_KEY" => TokenKind::ApiKey,
                "M2M" => TokenKind::M2m,
                "OAUTH" => TokenKind::OAuth,
                other => panic!("@auth(accepts:) names an unknown kind {other}"),
            },
            other => panic!("@auth(accepts:) needs ViewerKind values, got {other:?}"),
        })
        .collect()
}
