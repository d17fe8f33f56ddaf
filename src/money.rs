//! Exact amounts. An [`Amount`] keeps the decimal text the merchant sent (so "1000" stays "1000"
//! on the way out) beside its exact value for comparisons. Never `f64`.
//!
//! Accepted: plain decimals with `.` as separator, e.g. `1000`, `1000.00`, `0.5`, `.5` is not.
//! Refused, each with its own message: exponent notation (`1e3`), signs, leading zeros (`007`),
//! thousands separators, zero, and more than 28 significant digits.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A positive decimal amount, exact.
#[derive(Debug, Clone)]
pub struct Amount {
    text: String,
    value: Decimal,
}

/// Why a string is not an [`Amount`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("must not be empty")]
    Empty,
    #[error("exponent notation such as \"1e3\" is not accepted; write the plain decimal")]
    Exponent,
    #[error("must be a plain positive decimal such as \"100.50\" (no sign, spaces or separators)")]
    NotDecimal,
    #[error("must not have leading zeros")]
    LeadingZero,
    #[error("must be greater than zero")]
    NotPositive,
    #[error("has more digits than can be represented exactly")]
    TooPrecise,
}

impl Amount {
    /// Parses a plain decimal string; see the module doc for what is accepted.
    pub fn parse(text: &str) -> Result<Self, AmountError> {
        if text.is_empty() {
            return Err(AmountError::Empty);
        }
        if text.bytes().any(|b| b == b'e' || b == b'E') {
            return Err(AmountError::Exponent);
        }
        let (int_part, frac_part) = match text.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (text, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int_part) || frac_part.is_some_and(|f| !all_digits(f)) {
            return Err(AmountError::NotDecimal);
        }
        if int_part.len() > 1 && int_part.starts_with('0') {
            return Err(AmountError::LeadingZero);
        }
        let value = Decimal::from_str_exact(text).map_err(|_| AmountError::TooPrecise)?;
        if value <= Decimal::ZERO {
            return Err(AmountError::NotPositive);
        }
        Ok(Amount {
            text: text.to_owned(),
            value,
        })
    }

    /// The text as received (or as produced by [`Amount::from_decimal`]).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn value(&self) -> Decimal {
        self.value
    }

    /// Builds an amount from an exact value; the text is its plain rendering.
    pub fn from_decimal(value: Decimal) -> Option<Self> {
        (value > Decimal::ZERO).then(|| Amount {
            text: value.normalize().to_string(),
            value,
        })
    }
}

/// A non-negative amount as providers report it (received so far may be `0`).
/// Kept as validated text; zero is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity(String);

impl Quantity {
    pub fn parse(text: &str) -> Result<Self, AmountError> {
        match Amount::parse(text) {
            Ok(a) => Ok(Quantity(a.text)),
            Err(AmountError::NotPositive) => Ok(Quantity(text.to_owned())),
            Err(e) => Err(e),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn zero() -> Self {
        Quantity("0".to_owned())
    }

    /// The exact value (the text was checked to be a plain decimal when parsed).
    pub fn value(&self) -> Decimal {
        Decimal::from_str_exact(&self.0).unwrap_or(Decimal::ZERO)
    }

    pub fn is_zero(&self) -> bool {
        self.value().is_zero()
    }
}

impl PartialEq for Amount {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Eq for Amount {}

impl PartialOrd for Amount {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Amount {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value.cmp(&other.value)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Amount {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Amount::parse(s)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Amount::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_text_and_compares_exactly() {
        let a = Amount::parse("1000").unwrap();
        let b = Amount::parse("1000.00").unwrap();
        assert_eq!(a.as_str(), "1000");
        assert_eq!(b.as_str(), "1000.00");
        assert_eq!(a, b);
        assert!(Amount::parse("0.10000000000000000001").unwrap() > Amount::parse("0.1").unwrap());
    }

    #[test]
    fn refuses_ambiguous_forms_with_a_reason() {
        assert_eq!(Amount::parse("1e3"), Err(AmountError::Exponent));
        assert_eq!(Amount::parse("1E3"), Err(AmountError::Exponent));
        assert_eq!(Amount::parse(""), Err(AmountError::Empty));
        for bad in ["-1", "+1", " 1", "1,000", "1.", ".5", "1.2.3", "abc", "１"] {
            assert_eq!(Amount::parse(bad), Err(AmountError::NotDecimal), "{bad}");
        }
        assert_eq!(Amount::parse("007"), Err(AmountError::LeadingZero));
        assert_eq!(Amount::parse("0"), Err(AmountError::NotPositive));
        assert_eq!(Amount::parse("0.00"), Err(AmountError::NotPositive));
        assert_eq!(
            Amount::parse("1234567890123456789012345678901"),
            Err(AmountError::TooPrecise)
        );
        assert!(Amount::parse("0.5").is_ok());
    }

    #[test]
    fn quantity_allows_zero() {
        assert_eq!(Quantity::parse("0.00").unwrap().as_str(), "0.00");
        assert!(Quantity::parse("-1").is_err());
    }
}
