//! What the client accepts (`Accept`, RFC 9110 §12.5.1, with q-values and wildcards), as far as
//! GraphQL over HTTP cares: `application/graphql-response+json`, `application/json`, `text/html`.

use axum::http::{HeaderMap, header};

use super::graphql::GRAPHQL_RESPONSE_JSON;

/// The media type a GraphQL response is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    /// `application/graphql-response+json`: request errors are 4xx.
    GraphqlResponse,
    /// `application/json`, what legacy clients understand: every well-formed GraphQL request is
    /// answered 200, errors in the body.
    Json,
}

/// One `type/subtype;q=…` of the header.
struct Range<'a> {
    kind: &'a str,
    subtype: &'a str,
    q: f32,
}

fn ranges(headers: &HeaderMap) -> Vec<Range<'_>> {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|item| {
            let mut parts = item.split(';');
            let (kind, subtype) = parts.next()?.trim().split_once('/')?;
            let q = parts
                .filter_map(|param| param.trim().split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, value)| value.trim().parse::<f32>().ok())?;
            Some(Range {
                kind: kind.trim(),
                subtype: subtype.trim(),
                q: q.clamp(0.0, 1.0),
            })
        })
        .collect()
}

/// The q-value given to `media_type` by its most specific matching range (`None`: no range
/// matches), and whether that range named it exactly.
fn quality(ranges: &[Range<'_>], media_type: &str) -> Option<(f32, bool)> {
    let (kind, subtype) = media_type.split_once('/').expect("a type/subtype");
    ranges
        .iter()
        .filter_map(|range| {
            let exact_kind = range.kind.eq_ignore_ascii_case(kind);
            let specificity = match (range.kind, range.subtype) {
                _ if exact_kind && range.subtype.eq_ignore_ascii_case(subtype) => 2,
                (_, "*") if exact_kind => 1,
                ("*", "*") => 0,
                _ => return None,
            };
            Some((specificity, range.q))
        })
        .max_by_key(|(specificity, _)| *specificity)
        .map(|(specificity, q)| (q, specificity == 2))
}

/// The response type for these request headers. No `Accept` is `application/json` (what the
/// GraphQL-over-HTTP spec says for legacy clients); the higher q-value wins; on a tie,
/// `application/graphql-response+json` when it is named exactly, `application/json` when only a
/// wildcard covers both (e.g. curl's `*/*`).
pub fn response_type(headers: &HeaderMap) -> ResponseType {
    let ranges = ranges(headers);
    let graphql = quality(&ranges, GRAPHQL_RESPONSE_JSON).filter(|(q, _)| *q > 0.0);
    let json = quality(&ranges, "application/json").filter(|(q, _)| *q > 0.0);
    match (graphql, json) {
        (Some((g, named)), Some((j, _))) if g > j || (g == j && named) => {
            ResponseType::GraphqlResponse
        }
        (Some(_), None) => ResponseType::GraphqlResponse,
        _ => ResponseType::Json,
    }
}

/// Whether the client asks for HTML by name (a browser does; `*/*` alone does not).
pub fn asks_for_html(headers: &HeaderMap) -> bool {
    quality(&ranges(headers), "text/html").is_some_and(|(q, named)| named && q > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_higher_q_value_wins_and_ties_go_to_what_is_named() {
        use ResponseType::*;
        for (value, expected) in [
            ("application/graphql-response+json", GraphqlResponse),
            ("application/json", Json),
            (
                "application/graphql-response+json, application/json",
                GraphqlResponse,
            ),
            (
                "application/json, application/graphql-response+json",
                GraphqlResponse,
            ),
            (
                "application/json, application/graphql-response+json;q=0.1",
                Json,
            ),
            (
                "application/json;q=0.5, application/graphql-response+json",
                GraphqlResponse,
            ),
            ("application/graphql-response+json;q=0", Json),
            ("APPLICATION/GRAPHQL-RESPONSE+JSON ; Q=0.9", GraphqlResponse),
            ("*/*", Json),
            ("application/*", Json),
            (
                "application/*;q=0.2, application/graphql-response+json",
                GraphqlResponse,
            ),
            ("text/html", Json),
            (
                "application/graphql-response+json;charset=utf-8;q=0.8, */*;q=0.9",
                Json,
            ),
            ("garbage", Json),
        ] {
            assert_eq!(response_type(&accept(value)), expected, "{value}");
        }
        assert_eq!(response_type(&HeaderMap::new()), Json);
    }

    #[test]
    fn html_must_be_asked_for_by_name() {
        assert!(asks_for_html(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(!asks_for_html(&accept("*/*")));
        assert!(!asks_for_html(&accept("application/json")));
        assert!(!asks_for_html(&accept("text/html;q=0")));
        assert!(!asks_for_html(&HeaderMap::new()));
    }
}
