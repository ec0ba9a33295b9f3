//! A string that must not reach logs: passwords, tokens, `sasl.jaas.config` option values.

use std::fmt;

/// A secret string (a password, a token, a JAAS option value) whose [`Debug`](fmt::Debug) and [`Display`](fmt::Display)
/// print `[hidden]`, as Java's `org.apache.kafka.common.config.types.Password` does, so that a
/// config, an error or a log line that holds one does not show it. The value is read with
/// [`expose`](Self::expose) where it is really needed.
///
/// The memory is not zeroed on drop (Java's `Password` does not either).
///
/// ```
/// use kproducer::security::Secret;
///
/// let password = Secret::new("pencil");
/// assert_eq!(format!("{password} {password:?}"), "[hidden] [hidden]");
/// assert_eq!(password.expose(), "pencil");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

/// Java's name for the same thing.
pub type Password = Secret;

impl Secret {
    /// What `Debug` and `Display` print instead of the value (Java's `Password.HIDDEN`).
    pub const HIDDEN: &'static str = "[hidden]";

    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself. Call it only where the value goes on the wire or into a computation,
    /// never to format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::HIDDEN)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::HIDDEN)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("pencil");
        assert_eq!(format!("{s}"), "[hidden]");
        assert_eq!(format!("{s:?}"), "[hidden]");
        assert_eq!(format!("{:?}", Some(&s)), "Some([hidden])");
        assert_eq!(s.expose(), "pencil");
        assert!(!s.is_empty());
        assert_eq!(Secret::from("x".to_string()), Secret::from("x"));
    }
}
