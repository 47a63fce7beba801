//! What a post may contain. Checked before anything is written, so that a client learns which
//! field to fix (`BAD_USER_INPUT` with the field named).

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_BODY_CHARS: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidField {
    /// The input field at fault, as named in the GraphQL input type.
    pub field: &'static str,
    pub message: String,
}

/// A title: trimmed, 1 to 200 characters (Unicode scalar values, not bytes).
pub fn title(title: &str) -> Result<String, InvalidField> {
    let title = title.trim();
    let length = title.chars().count();
    if length == 0 || length > MAX_TITLE_CHARS {
        return Err(InvalidField {
            field: "title",
            message: format!("`title` must be 1 to {MAX_TITLE_CHARS} characters"),
        });
    }
    Ok(title.to_string())
}

/// A body: at most 20,000 characters; may be empty.
pub fn body(body: &str) -> Result<String, InvalidField> {
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(InvalidField {
            field: "body",
            message: format!("`body` is limited to {MAX_BODY_CHARS} characters"),
        });
    }
    Ok(body.to_string())
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
}
