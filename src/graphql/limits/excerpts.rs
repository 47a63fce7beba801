//! What an error message may quote of the document: a short excerpt, never the document (a 900 KB
//! name must not come back); the syntax error of step 3 says where and quotes from there.

use async_graphql::ServerError;

use super::errors::{PARSE_FAILED, with_code};

/// At most this many characters of one quoted name or value in an error message.
pub(super) const MAX_QUOTED_CHARS: usize = 40;
/// At most this many characters of an error message.
pub(super) const MAX_MESSAGE_CHARS: usize = 400;

/// `message` with every quoted run (`"…"`, where async-graphql quotes names and values of the
/// document) cut to [`MAX_QUOTED_CHARS`] and the whole cut to [`MAX_MESSAGE_CHARS`], so that a
/// 900 KB field name is not sent back. Short messages, nearly all of them, are returned as they
/// are.
pub(super) fn excerpted(message: String) -> String {
    if message.len() <= MAX_QUOTED_CHARS {
        return message;
    }
    let mut out = String::new();
    let (mut quoted, mut run, mut length) = (false, 0, 0);
    for c in message.chars() {
        if c == '"' {
            quoted = !quoted;
            run = 0;
        } else if quoted {
            run += 1;
            if run > MAX_QUOTED_CHARS {
                if run == MAX_QUOTED_CHARS + 1 {
                    out.push('…');
                }
                continue;
            }
        }
        if length == MAX_MESSAGE_CHARS {
            out.push('…');
            break;
        }
        out.push(c);
        length += 1;
    }
    out
}

/// A syntax error (step 3). The parser's own message draws the whole line with a caret under the
/// error, which for a one-line document is the whole document; this one says where, what was
/// expected, and quotes a short excerpt from the error on.
pub(in crate::graphql) fn syntax_error(
    query: &str,
    error: async_graphql::parser::Error,
) -> ServerError {
    let mut server_error = ServerError::from(error.clone());
    if let async_graphql::parser::Error::Syntax { message, start, .. } = &error {
        // pest ends its message with a line `= expected …` (or `= unexpected …`).
        let expected = message
            .lines()
            .last()
            .and_then(|line| line.trim_start().strip_prefix("= "))
            .unwrap_or("unexpected input");
        let mut from_error = query
            .lines()
            .nth(start.line.saturating_sub(1))
            .unwrap_or_default()
            .chars()
            .skip(start.column.saturating_sub(1));
        let excerpt: String = from_error.by_ref().take(MAX_QUOTED_CHARS).collect();
        let more = if from_error.next().is_some() {
            "…"
        } else {
            ""
        };
        server_error.message = format!(
            "Syntax error at line {}, column {}: {expected}, near `{excerpt}{more}`.",
            start.line, start.column
        );
    }
    with_code(server_error, PARSE_FAILED)
}
