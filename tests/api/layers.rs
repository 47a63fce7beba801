//! The import rule of ARCHITECTURE §1: the top-level modules of `src/` form layers, and a module
//! may name (`use crate::x…` or `crate::x::…` in code) only the modules of the layers below it.
//! A new edge either fits the table below or the table changes in review, with ARCHITECTURE.md.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Bottom first. Each module lists the modules it may import; every one of them must come
/// earlier in this list, so the allowed graph has no cycle by construction.
const LAYERS: &[(&str, &[&str])] = &[
    // The foundation: plain data and the log.
    ("net", &[]),
    ("config", &["net"]),
    ("telemetry", &["config"]),
    // Services the domains use.
    ("db", &[]),
    ("auth", &["config"]),
    ("clerk", &["config"]),
    ("rate_limit", &["auth", "config", "net"]),
    ("authz", &["auth", "clerk"]),
    // The GraphQL toolkit (errors, pagination, limits, the extension), below the domains.
    ("graphql", &["auth", "authz", "clerk", "config", "db"]),
    // The domain slices: a slice may use the slices it builds on (a post has an author).
    (
        "users",
        &["auth", "authz", "clerk", "config", "db", "graphql"],
    ),
    (
        "posts",
        &["auth", "authz", "clerk", "db", "graphql", "users"],
    ),
    ("webhooks", &["auth", "clerk", "config", "db", "users"]),
    // The schema, assembled from the slices' roots.
    (
        "schema",
        &["auth", "authz", "config", "graphql", "posts", "users"],
    ),
    // HTTP and sockets.
    ("http", &["auth", "config", "graphql", "net", "rate_limit"]),
    ("playground", &["auth", "config", "http"]),
    ("websocket", &["auth", "http", "rate_limit", "schema"]),
    // The router and start-up. Not `posts`: a slice plugs in through `schema` only.
    (
        "server",
        &[
            "auth",
            "authz",
            "clerk",
            "config",
            "db",
            "graphql",
            "http",
            "net",
            "playground",
            "rate_limit",
            "schema",
            "users",
            "webhooks",
            "websocket",
        ],
    ),
];

/// The crate roots: they declare the modules and may name any of them.
const ROOTS: &[&str] = &["lib.rs", "main.rs"];

#[test]
fn the_layer_table_is_bottom_up() {
    for (index, (module, allowed)) in LAYERS.iter().enumerate() {
        let below: Vec<&str> = LAYERS[..index].iter().map(|(name, _)| *name).collect();
        for dependency in *allowed {
            assert!(
                below.contains(dependency),
                "{module} may import {dependency}, which is not below it in LAYERS: \
                 that edge could close a cycle"
            );
        }
    }
}

#[test]
fn top_level_modules_import_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut forbidden = Vec::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let Some(module) = top_level_module(relative) else {
            continue;
        };
        let Some((_, allowed)) = LAYERS.iter().find(|(name, _)| *name == module) else {
            panic!(
                "src/{}: the module `{module}` is not in the layer table of tests/api/layers.rs \
                 (and ARCHITECTURE.md §1); add it in its layer",
                relative.display()
            );
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for dependency in crate_references(&text) {
            if dependency != module && !allowed.contains(&dependency.as_str()) {
                forbidden.push(format!(
                    "src/{}: `{module}` imports `crate::{dependency}`, which is not below it \
                     (allowed: {allowed:?})",
                    relative.display()
                ));
            }
        }
    }
    assert!(
        forbidden.is_empty(),
        "imports against the layers of ARCHITECTURE.md §1:\n{}",
        forbidden.join("\n")
    );
}

#[test]
fn the_reader_sees_grouped_and_inline_paths_and_skips_comments() {
    let text = "use crate::{auth::Viewer, db::{self, users}};\n\
                use crate::{\n    net::IpRange,\n    telemetry,\n};\n\
                // crate::server is only mentioned\n\
                /// see [`crate::websocket`]\n\
                let x = crate::config::Config::default(); // crate::http\n\
                use crate::rate_limit as limits;\n";
    let found: Vec<String> = crate_references(text).into_iter().collect();
    assert_eq!(
        found,
        ["auth", "config", "db", "net", "rate_limit", "telemetry"]
    );
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// `auth/jwt.rs` → `auth`, `config.rs` → `config`; `None` for the crate roots.
fn top_level_module(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    if ROOTS.contains(&first) {
        return None;
    }
    Some(first.trim_end_matches(".rs").to_string())
}

/// The top-level modules a file names through `crate::`, comments left out. A grouped `use`
/// may span lines (`use crate::{\n    auth::Viewer,\n    db::users,\n};`), so the code is read
/// as one text.
fn crate_references(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|line| match line.find("//") {
            Some(start) => &line[..start],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(start) = rest.find("crate::") {
        let after = &rest[start + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            found.extend(group_heads(group));
        } else {
            found.insert(identifier(after).to_string());
        }
        rest = after;
    }
    found.retain(|name| !name.is_empty() && name != "self");
    found
}

/// The first segment of each path in `a::x, b::{y, z}}`, up to the group's closing brace.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut at_start = true;
    for (index, ch) in group.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_start = true,
            c if at_start && !c.is_whitespace() => {
                heads.push(identifier(&group[index..]).to_string());
                at_start = false;
            }
            _ => {}
        }
    }
    heads
}

fn identifier(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}
