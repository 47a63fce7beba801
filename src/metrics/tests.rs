use super::labels::{DbOperation, close_code_label, limit_label, status_code_label};
use super::*;

/// The README's table of metrics, as [`CATALOGUE`] says it must read.
fn readme_table() -> String {
    let mut table = String::from("| metric | type | labels | meaning |\n|---|---|---|---|\n");
    for metric in CATALOGUE {
        let labels: Vec<String> = metric.labels.iter().map(|l| format!("`{l}`")).collect();
        let labels = if labels.is_empty() {
            "—".to_string()
        } else {
            labels.join(", ")
        };
        table.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            metric.name,
            metric.kind.name(),
            labels,
            metric.help
        ));
    }
    table
}

#[test]
fn the_readme_lists_exactly_the_catalogue() {
    let readme = include_str!("../../README.md");
    let table = readme_table();
    assert!(
        readme.contains(&table),
        "README.md, \"### Metrics\", must hold this table:\n{table}"
    );
}

#[test]
fn names_follow_the_prometheus_conventions_and_are_unique() {
    let mut seen = std::collections::HashSet::new();
    for metric in CATALOGUE {
        assert!(seen.insert(metric.name), "{} twice", metric.name);
        assert!(
            metric
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'),
            "{}",
            metric.name
        );
        match metric.kind {
            Kind::Counter => assert!(metric.name.ends_with("_total"), "{}", metric.name),
            Kind::Histogram => {
                assert!(
                    metric.name.ends_with("_seconds") || metric.name.ends_with("_bytes"),
                    "{}",
                    metric.name
                );
                assert!(metric.buckets.is_sorted() && !metric.buckets.is_empty());
            }
            Kind::Gauge => assert!(!metric.name.ends_with("_total"), "{}", metric.name),
        }
    }
}

#[test]
fn labels_are_closed_sets() {
    assert_eq!(HttpMethod::of("GET").label(), "GET");
    assert_eq!(HttpMethod::of("get").label(), "_OTHER");
    assert_eq!(HttpMethod::of("BREW").label(), "_OTHER");
    assert_eq!(
        HttpRoute::of(Some("/graphql"), "/graphql").label(),
        "/graphql"
    );
    assert_eq!(HttpRoute::of(Some("/new/{id}"), "/new/1").label(), "other");
    assert_eq!(HttpRoute::of(None, "/metrics").label(), "unmatched");
    assert_eq!(
        HttpRoute::of(None, "/user_2abc/secret").label(),
        "unmatched"
    );
    assert_eq!(
        HttpRoute::of(None, "/playground/app-1234.js").label(),
        "/playground/{file}"
    );
    assert_eq!(
        HttpRoute::of(None, "/playground/config.json").label(),
        "/playground/config.json"
    );
    assert_eq!(HttpRoute::of(None, "/playground/a/b").label(), "unmatched");
    assert_eq!(status_code_label(200), "200");
    assert_eq!(status_code_label(599), "599");
    assert_eq!(status_code_label(600), "other");
    assert_eq!(status_code_label(42), "other");
    assert_eq!(close_code_label(SocketEnd::Code(4403)), "4403");
    assert_eq!(close_code_label(SocketEnd::Code(1009)), "1009");
    assert_eq!(close_code_label(SocketEnd::Code(999)), "other");
    assert_eq!(close_code_label(SocketEnd::Client), "client");
    assert_eq!(limit_label("depth"), "depth");
    assert_eq!(limit_label("user_1"), "other");
    assert_eq!(WebhookEventType::of("user.deleted").label(), "user.deleted");
    assert_eq!(
        WebhookEventType::of("organization.created").label(),
        "other"
    );
}

#[test]
fn a_statement_is_known_by_its_first_keyword_only() {
    let operation = |sql| DbOperation::of(sql).label();
    assert_eq!(operation("SELECT \"users\".\"id\" FROM users"), "SELECT");
    assert_eq!(operation("  insert INTO posts VALUES ($1)"), "INSERT");
    assert_eq!(operation("UPDATE users SET email = 'a@b.c'"), "UPDATE");
    assert_eq!(operation("DELETE FROM webhook_events"), "DELETE");
    assert_eq!(operation("WITH x AS (SELECT 1) SELECT * FROM x"), "other");
    assert_eq!(operation("BEGIN"), "other");
    assert_eq!(operation(""), "other");
    assert_eq!(operation("SELECTED"), "other");
}
