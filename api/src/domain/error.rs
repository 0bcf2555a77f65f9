//! The domain's one error: a value that is not acceptable, naming the field.

/// A well-formed value that breaks a rule (422 `invalid_value` over HTTP).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// Stable snake_case code.
    pub code: &'static str,
    /// The field, as a path into the request (`contact.phone`, `parts[2].sku`).
    pub field: String,
    pub message: String,
}

impl Invalid {
    /// `invalid_value` for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid { code: "invalid_value", field: field.into(), message: message.into() }
    }
}
