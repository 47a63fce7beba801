//! The import rule of ARCHITECTURE §1: the top-level modules of `src/` form layers, and a module
//! may name (`use crate::x…` or `crate::x::…` in code) only the modules of the layers below it.
//! Every module the table does not name is a domain slice (`users`, `posts`, yours): it sits
//! above the GraphQL toolkit and below `webhooks` and `schema`, and may use other slices as long
//! as the imports form no cycle. A new infrastructure module or edge changes the table in review,
//! with ARCHITECTURE.md; a new slice needs no change here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// In an allowed list: any domain slice.
const SLICES: &str = "<slices>";

/// Bottom first. Each module lists the modules it may import; every one of them must come
/// earlier in this list (or be a slice, for the modules above `graphql`), so the allowed graph
/// has no cycle by construction.
const LAYERS: &[(&str, &[&str])] = &[
    // The foundation: plain data, the log and the traces (whose spans and trace ids the layers
    // above make and read).
    ("net", &[]),
    ("config", &["net"]),
    ("telemetry", &["config"]),
    // The metrics' names and label values, recorded from every layer above.
    ("metrics", &[]),
    // Services the domains use.
    ("db", &[]),
    ("shared", &["metrics"]),
    // Revocations and user-cache evictions reach the other replicas through Redis; opaque
    // machine tokens are verified by asking Clerk.
    ("clerk", &["config", "metrics", "shared", "telemetry"]),
    (
        "auth",
        &["clerk", "config", "metrics", "shared", "telemetry"],
    ),
    (
        "rate_limit",
        &["auth", "config", "metrics", "net", "shared"],
    ),
    ("authz", &["auth", "clerk", "config"]),
    // The GraphQL toolkit (errors, pagination, limits, the extension, event channels that reach
    // every replica through `shared`), below the slices.
    (
        "graphql",
        &[
            "auth",
            "authz",
            "clerk",
            "config",
            "db",
            "metrics",
            "shared",
            "telemetry",
        ],
    ),
    // Here the domain slices (see `SLICE_MAY_IMPORT`).
    (
        "webhooks",
        &["auth", "clerk", "config", "db", "metrics", "users"],
    ),
    // The schema, assembled from the slices' roots: the one module that names every slice.
    ("schema", &["auth", "authz", "config", "graphql", SLICES]),
    // HTTP and sockets.
    (
        "http",
        &[
            "auth",
            "config",
            "graphql",
            "metrics",
            "net",
            "rate_limit",
            "telemetry",
        ],
    ),
    ("playground", &["auth", "config", "http"]),
    (
        "websocket",
        &["auth", "http", "metrics", "rate_limit", "schema"],
    ),
    // The router and start-up. A slice plugs in through `schema`; `users` also feeds the
    // webhooks and the per-request loaders, `api_keys` is handed its Clerk client.
    (
        "server",
        &[
            "api_keys",
            "auth",
            "authz",
            "clerk",
            "config",
            "db",
            "graphql",
            "http",
            "metrics",
            "net",
            "playground",
            "rate_limit",
            "schema",
            "shared",
            "telemetry",
            "users",
            "webhooks",
            "websocket",
        ],
    ),
];

/// What a domain slice may import besides other slices.
const SLICE_MAY_IMPORT: &[&str] = &["auth", "authz", "clerk", "config", "db", "graphql"];

/// The crate roots: they declare the modules and may name any of them.
const ROOTS: &[&str] = &["lib.rs", "main.rs"];

#[test]
fn the_layer_table_is_bottom_up() {
    let toolkit = position("graphql").unwrap();
    for (index, (module, allowed)) in LAYERS.iter().enumerate() {
        let below: Vec<&str> = LAYERS[..index].iter().map(|(name, _)| *name).collect();
        for dependency in *allowed {
            let is_slice = *dependency == SLICES || position(dependency).is_none();
            assert!(
                below.contains(dependency) || (is_slice && index > toolkit),
                "{module} may import {dependency}, which is not below it in LAYERS: \
                 that edge could close a cycle"
            );
        }
    }
    for dependency in SLICE_MAY_IMPORT {
        assert!(position(dependency).unwrap() <= toolkit, "{dependency}");
    }
}

#[test]
fn top_level_modules_import_only_the_layers_below_them() {
    let mut forbidden = Vec::new();
    for (file, module, dependencies) in imports() {
        for dependency in dependencies {
            if !may_import(&module, &dependency) {
                forbidden.push(format!(
                    "{file}: `{module}` imports `crate::{dependency}`, which is not below it \
                     (ARCHITECTURE.md §1)"
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

/// The table rules out cycles between layers; this catches one among slices (or anywhere).
#[test]
fn the_imports_form_no_cycle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, module, dependencies) in imports() {
        graph.entry(module).or_default().extend(dependencies);
    }
    let mut done = BTreeSet::new();
    for start in graph.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = find_cycle(&graph, start, &mut path, &mut done) {
            panic!("the top-level modules import each other in a loop: {cycle}");
        }
    }
}

fn find_cycle(
    graph: &BTreeMap<String, BTreeSet<String>>,
    module: &str,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<String> {
    if let Some(start) = path.iter().position(|seen| seen == module) {
        let mut cycle = path[start..].to_vec();
        cycle.push(module.to_string());
        return Some(cycle.join(" → "));
    }
    if done.contains(module) {
        return None;
    }
    path.push(module.to_string());
    for next in graph.get(module).into_iter().flatten() {
        if let Some(cycle) = find_cycle(graph, next, path, done) {
            return Some(cycle);
        }
    }
    path.pop();
    done.insert(module.to_string());
    None
}

fn position(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(name, _)| *name == module)
}

fn may_import(module: &str, dependency: &str) -> bool {
    let dependency_is_slice = position(dependency).is_none();
    match LAYERS.iter().find(|(name, _)| *name == module) {
        Some((_, allowed)) => {
            allowed.contains(&dependency) || (dependency_is_slice && allowed.contains(&SLICES))
        }
        // A slice: the toolkit and the services below it, and other slices.
        None => SLICE_MAY_IMPORT.contains(&dependency) || dependency_is_slice,
    }
}

/// For every file of `src/` outside the crate roots: its path, its top-level module and the
/// other top-level modules it names.
fn imports() -> Vec<(String, String, BTreeSet<String>)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let Some(module) = top_level_module(relative) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        let mut dependencies = crate_references(&text);
        dependencies.remove(&module);
        found.push((format!("src/{}", relative.display()), module, dependencies));
    }
    found
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
