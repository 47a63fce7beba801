//! What a post may contain. Checked before anything is written, so that a client learns which
//! field to fix (`BAD_USER_INPUT` with the field named).
//!
//! Beyond lengths, text must be text: no control characters (a NUL truncates the string in some
//! C libraries and log pipelines, an escape sequence rewrites a terminal, a C1 control is read as
//! a line break by some renderers), except a body's newlines and tabs; and a title must show
//! something, not only spaces or zero-width characters (a title of `"\u200b"` looks blank in
//! every list).

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_BODY_CHARS: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidField {
    /// The input field at fault, as named in the GraphQL input type.
    pub field: &'static str,
    pub message: String,
}

/// A title: trimmed, 1 to 200 characters (Unicode scalar values, not bytes), no control
/// character, and not blank once whitespace and zero-width characters are set aside.
pub fn title(title: &str) -> Result<String, InvalidField> {
    let title = title.trim();
    let length = title.chars().count();
    if length == 0 || length > MAX_TITLE_CHARS {
        return Err(invalid(
            "title",
            format!("`title` must be 1 to {MAX_TITLE_CHARS} characters"),
        ));
    }
    refuse_controls("title", title, |_| false)?;
    if title.chars().all(|c| c.is_whitespace() || is_zero_width(c)) {
        return Err(invalid(
            "title",
            "`title` must contain visible characters, not only spaces or zero-width characters"
                .into(),
        ));
    }
    Ok(title.to_string())
}

/// A body: at most 20,000 characters, no control character but newline and tab; may be empty.
pub fn body(body: &str) -> Result<String, InvalidField> {
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(invalid(
            "body",
            format!("`body` is limited to {MAX_BODY_CHARS} characters"),
        ));
    }
    refuse_controls("body", body, |c| matches!(c, '\n' | '\t'))?;
    Ok(body.to_string())
}

/// The first control character (Unicode category Cc: C0, DEL and C1) that `allowed` does not
/// let through, named with its code point and position so that the client can find it.
fn refuse_controls(
    field: &'static str,
    text: &str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), InvalidField> {
    match text
        .chars()
        .enumerate()
        .find(|&(_, c)| c.is_control() && !allowed(c))
    {
        None => Ok(()),
        Some((index, c)) => Err(invalid(
            field,
            format!(
                "`{field}` must not contain control characters (U+{:04X} at character {})",
                c as u32,
                index + 1
            ),
        )),
    }
}

/// Zero-width space, non-joiner and joiner, word joiner, and the byte order mark (zero-width
/// no-break space): invisible, and not whitespace to `char::is_whitespace`.
fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

fn invalid(field: &'static str, message: String) -> InvalidField {
    InvalidField { field, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_bodies_are_bounded_in_characters() {
        assert_eq!(title("  Hello  ").unwrap(), "Hello");
        assert_eq!(title("   ").unwrap_err().field, "title");
        assert!(title(&"é".repeat(200)).is_ok(), "200 characters, 400 bytes");
        assert!(title(&"a".repeat(201)).is_err());
        assert!(body("").is_ok());
        assert!(body(&"界".repeat(20_000)).is_ok());
        assert_eq!(body(&"a".repeat(20_001)).unwrap_err().field, "body");
    }

    #[test]
    fn control_characters_are_refused_but_newlines_and_tabs_in_bodies() {
        for control in [
            '\0', '\u{1}', '\u{8}', '\u{1B}', '\u{7F}', '\u{85}', '\u{9F}',
        ] {
            let text = format!("a{control}b");
            let error = title(&text).unwrap_err();
            assert_eq!(error.field, "title");
            assert!(
                error
                    .message
                    .contains(&format!("U+{:04X} at character 2", control as u32)),
                "{}",
                error.message
            );
            assert_eq!(body(&text).unwrap_err().field, "body");
        }
        for layout in ["a\nb", "a\tb", "a\r\nb"] {
            assert!(title(layout).is_err(), "{layout:?} in a title");
        }
        assert_eq!(body("line 1\n\tline 2\n").unwrap(), "line 1\n\tline 2\n");
        assert!(body("a\r\nb").is_err(), "only newline and tab");
        // Not controls: format characters and other scripts.
        assert!(title("a\u{200B}b ünï 字 🙂").is_ok());
    }

    #[test]
    fn titles_must_show_something() {
        for blank in [
            "\u{200B}",
            " \u{200C}\u{200D} ",
            "\u{2060}\u{FEFF}",
            "\u{3000}\u{200B}",
        ] {
            let error = title(blank).unwrap_err();
            assert_eq!(error.field, "title");
            assert!(error.message.contains("visible"), "{}", error.message);
        }
        assert_eq!(title("\u{200B}x").unwrap(), "\u{200B}x");
    }
}
