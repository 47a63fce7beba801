//! The lexical pre-scan of a GraphQL document: one pass over the text, before the parser sees it,
//! that counts its tokens and the nesting of its brackets (issues 5 and 16).
//!
//! Why before the parser: async-graphql's parser (pest) is recursive and builds a tree of the whole
//! document before any limit can compare a number. An 840 KB document of 120,000 fields took 90 to
//! 170 ms of CPU to parse and refuse; this scan stops at the first token over the limit, so a
//! document refused here costs about as much as a small valid one, whatever its size.
//!
//! It follows the lexical grammar of the GraphQL spec (§2.1) closely enough to count what the
//! parser would read: punctuators (`...` is one), names, numbers and strings (a block string is
//! one token); whitespace, line terminators, commas, the byte order mark and comments are not
//! tokens. This is how graphql-js counts for its `maxTokens` option (GraphQL Armor's
//! `maxTokens`). Whatever cannot start a token counts as one token per character: the parser
//! refuses it anyway. A string ends at its closing quote or, unterminated, at the end of its
//! line, where the parser stops with a syntax error; so nothing the scan takes for a string or
//! a comment can nest or be counted by the parser.

use async_graphql::Pos;

/// What the scan found over a limit, with where (line and column, 1-based, in characters).
#[derive(Debug, PartialEq, Eq)]
pub enum Excess {
    /// A bracket (`{`, `(`, `[`) nested deeper than allowed.
    Nesting(Pos),
    /// The first token over the token limit.
    Tokens(Pos),
}

/// Scans `text` until a limit is exceeded: `None` when it is within both.
pub fn scan(text: &str, max_nesting: usize, max_tokens: usize) -> Option<Excess> {
    let bytes = text.as_bytes();
    let (mut i, mut tokens, mut depth) = (0, 0usize, 0usize);
    let (mut line, mut line_start) = (1, 0);
    let pos = |line: usize, line_start: usize, at: usize| Pos {
        line,
        column: text[line_start..at].chars().count() + 1,
    };
    while i < bytes.len() {
        let start = i;
        match bytes[i] {
            b' ' | b'\t' | b',' => {
                i += 1;
                continue;
            }
            b'\n' | b'\r' => {
                // `\r\n` is one line terminator.
                i += if bytes[i..].starts_with(b"\r\n") {
                    2
                } else {
                    1
                };
                line += 1;
                line_start = i;
                continue;
            }
            b'#' => {
                i += line_length(&bytes[i..]);
                continue;
            }
            _ if bytes[i..].starts_with("\u{feff}".as_bytes()) => {
                i += 3;
                continue;
            }
            _ => {}
        }
        tokens += 1;
        if tokens > max_tokens {
            return Some(Excess::Tokens(pos(line, line_start, start)));
        }
        match bytes[i] {
            b'{' | b'(' | b'[' => {
                depth += 1;
                if depth > max_nesting {
                    return Some(Excess::Nesting(pos(line, line_start, start)));
                }
                i += 1;
            }
            b'}' | b')' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    if bytes[i..].starts_with(b"\\\"\"\"") {
                        i += 4;
                        continue;
                    }
                    // Block strings span lines: positions after them must stay right.
                    if bytes[i] == b'\n' || (bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
                    {
                        line += 1;
                        line_start = i + 1;
                    }
                    i += 1;
                }
                i = (i + 3).min(bytes.len());
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && !matches!(bytes[i], b'"' | b'\n' | b'\r') {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                // The closing quote; an unterminated string stops before the line terminator.
                if bytes.get(i) == Some(&b'"') {
                    i += 1;
                }
            }
            b'.' if bytes[i..].starts_with(b"...") => i += 3,
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                i += 1 + run(&bytes[i + 1..], |b| b == b'_' || b.is_ascii_alphanumeric());
            }
            b'-' | b'0'..=b'9' => {
                i += 1 + run(&bytes[i + 1..], |b| {
                    b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')
                });
            }
            // A punctuator (`!`, `$`, `:`, …) or a character that starts no token.
            first => i += utf8_length(first),
        }
    }
    None
}

/// Bytes up to the next line terminator.
fn line_length(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .unwrap_or(bytes.len())
}

/// How many leading bytes satisfy `accept`.
fn run(bytes: &[u8], accept: impl Fn(u8) -> bool) -> usize {
    bytes
        .iter()
        .position(|&b| !accept(b))
        .unwrap_or(bytes.len())
}

/// The length of the UTF-8 sequence a leading byte starts (`text` is a `str`, so it is valid).
fn utf8_length(first: u8) -> usize {
    match first {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The token count, with no limit reached.
    fn tokens(text: &str) -> usize {
        (0..)
            .find(|&max| scan(text, usize::MAX, max).is_none())
            .unwrap()
    }

    #[test]
    fn counts_tokens_as_the_graphql_lexer_does() {
        assert_eq!(tokens(""), 0);
        assert_eq!(tokens("{ health }"), 3);
        // Commas, whitespace, line terminators, comments and the BOM are ignored.
        assert_eq!(tokens("\u{feff}{ a, b,,, c }\r\n# { x y z }\n"), 5);
        // `...` is one token; `$`, `:`, `!`, `=`, `@` are one each.
        assert_eq!(tokens("query Q($v: Int! = 1) { ...F a @skip(if: $v) }"), 24);
        // Numbers, signs and exponents are one token each.
        assert_eq!(tokens("{ a(x: -1.5e+10, y: 0) }"), 11);
        // A string is one token, whatever it holds; escapes do not end it.
        assert_eq!(tokens(r#"{ a(s: "x \" { } # y") }"#), 8);
        assert_eq!(tokens("{ a(s: \"\"\" { \\\"\"\" }\n \"\"\") }"), 8);
        // An unterminated string ends at its line; what follows is counted.
        assert_eq!(tokens("{ a(s: \"open\n) }"), 8);
        // A character that starts no token is one token (the parser refuses it).
        assert_eq!(tokens("{ é }"), 3);
    }

    #[test]
    fn stops_at_the_first_token_over_the_limit() {
        assert_eq!(scan("{ a b }", 8, 4), None);
        assert_eq!(
            scan("{ a b\n  c }", 8, 3),
            Some(Excess::Tokens(Pos { line: 2, column: 3 }))
        );
        // A megabyte of fields is refused after the first few: the scan never reads the rest.
        let huge = format!("{{ {} }}", "health ".repeat(150_000));
        let started = std::time::Instant::now();
        assert_eq!(
            scan(&huge, 32, 1000),
            Some(Excess::Tokens(Pos {
                line: 1,
                column: 3 + 999 * 7,
            }))
        );
        assert!(started.elapsed() < std::time::Duration::from_millis(50));
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_nest() {
        let deep = "{".repeat(40);
        let nesting = |text: &str| scan(text, 32, usize::MAX);
        assert_eq!(nesting(&format!("{{ a(s: \"{deep}\") }}")), None);
        assert_eq!(nesting(&format!("{{ a(s: \"\"\"{deep}\"\"\") }}")), None);
        assert_eq!(nesting(&format!("{{ a # {deep}\n }}")), None);
        // An escaped quote does not end the string; an escaped triple quote not the block.
        assert_eq!(nesting(&format!("{{ a(s: \"\\\"{deep}\") }}")), None);
        assert_eq!(
            nesting(&format!("{{ a(s: \"\"\"\\\"\"\"{deep}\"\"\") }}")),
            None
        );
        assert_eq!(
            nesting(&format!("{{ a(s: \"x\") }}\n  {deep}")),
            Some(Excess::Nesting(Pos {
                line: 2,
                column: 35
            }))
        );
        // Lines inside a block string count for the positions after it.
        assert_eq!(
            nesting(&format!("{{ a(s: \"\"\"\n\r\n\"\"\") }}\n{deep}")),
            Some(Excess::Nesting(Pos {
                line: 4,
                column: 33
            }))
        );
    }
}
