//! Secrets that cannot reach a log line: `Debug` and `Display` print a mask.

use std::fmt;

use serde::{Deserialize, Deserializer};

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; call only where it is used to sign or verify.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A key pair in any dialect: the id sent in a header (`API-KEY`, `merchant`,
/// `x-api-public-key`) and the secret that signs (HMAC secret, payment key, private key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub key_id: String,
    pub secret: Secret,
}

impl Credentials {
    pub fn new(key_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Credentials {
            key_id: key_id.into(),
            secret: Secret::new(secret),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let c = Credentials::new("ak", "sk_live_very_secret");
        assert!(!format!("{c:?}").contains("very_secret"));
        assert!(!format!("{}", c.secret).contains("very_secret"));
    }
}
