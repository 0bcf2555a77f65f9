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

/// Every invalid field of one input, in the order checked: the API answers the first, a form shows each
/// beside its input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invalids(pub Vec<Invalid>);

impl Invalids {
    /// The value, or `None` with its error kept.
    pub fn check<T>(&mut self, r: Result<T, Invalid>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    /// Keeps one more error.
    pub fn push(&mut self, e: Invalid) {
        self.0.push(e);
    }

    /// Whether nothing was wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The message for `field` or a field inside it (`home_base` matches `home_base.lat`, `skills` matches
    /// `skills[2]`).
    pub fn for_field(&self, field: &str) -> Option<&Invalid> {
        self.0.iter().find(|e| {
            e.field == field
                || e.field.strip_prefix(field).is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
    }

    /// Adds `other`'s errors for fields not already named.
    pub fn merge(&mut self, other: Invalids) {
        for e in other.0 {
            if !self.0.iter().any(|k| k.field == e.field) {
                self.0.push(e);
            }
        }
    }
}

impl From<Invalid> for Invalids {
    fn from(e: Invalid) -> Invalids {
        Invalids(vec![e])
    }
}
