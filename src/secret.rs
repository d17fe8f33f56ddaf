//! Secrets that cannot reach a log line: `Debug` and `Display` print a mask.

use std::fmt;

use serde::de::{self, Visitor};
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

/// Only a string is a secret. A mistyped one (a number, a list) is refused without its value:
/// serde's own "invalid type" message would quote it into the config error.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Secret, E> {
                Ok(Secret(v))
            }
        }
        d.deserialize_any(V).map_err(|_: D::Error| {
            de::Error::custom("must be a string (quote it; the value is not shown)")
        })
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

    #[test]
    fn a_mistyped_secret_is_refused_without_its_value() {
        for yaml in [
            "987654321",
            "true",
            "[s3cr3t_value]",
            "{s3cr3t_value: 1}",
            "12.5",
        ] {
            let error = serde_yaml::from_str::<Secret>(yaml)
                .expect_err(yaml)
                .to_string();
            assert!(error.contains("must be a string"), "{error}");
            for part in ["987654321", "s3cr3t_value", "12.5"] {
                assert!(!error.contains(part), "{yaml}: {error}");
            }
        }
        assert_eq!(
            serde_yaml::from_str::<Secret>("\"x\"").unwrap().expose(),
            "x"
        );
    }
}
