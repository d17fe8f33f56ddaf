//! Small checks on request fields shared by the three emulated providers.

use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// Why a body is not a JSON object.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NotAnObject {
    /// Not JSON at all: invalid UTF-8, a syntax error, truncated input.
    Malformed,
    /// Valid JSON, but an array, string, number, …
    WrongShape,
}

/// Parses a request body as a JSON object. `empty_is_object` treats an empty body and `[]` as
/// `{}` (what PHP clients send for "no parameters").
pub(super) fn json_object(
    body: &[u8],
    empty_is_object: bool,
) -> Result<Map<String, Value>, NotAnObject> {
    if empty_is_object && matches!(body, b"" | b"[]") {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(NotAnObject::WrongShape),
        Err(_) => Err(NotAnObject::Malformed),
    }
}

/// A field's value, with JSON `null` treated as absent.
pub(super) fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

/// Longest amount text looked at; anything longer is not a plausible amount.
const MAX_AMOUNT_CHARS: usize = 40;

/// Parses a plain decimal: optional `-`, digits, optionally `.` and digits. No exponent, sign
/// `+`, separators or spaces, unlike what `Decimal::from_str` alone would let through.
pub(super) fn decimal(text: &str) -> Option<Decimal> {
    if text.is_empty() || text.len() > MAX_AMOUNT_CHARS {
        return None;
    }
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !fraction.is_none_or(all_digits) {
        return None;
    }
    // Exact: too many digits is an error rather than a silently rounded amount.
    Decimal::from_str_exact(text).ok()
}

/// The text of a JSON value that may carry a decimal as a string or as a number.
pub(super) fn decimal_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// An integer given as a JSON number or as a string of digits (what form-minded validators,
/// like Laravel's `integer`, accept).
pub(super) fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

/// An amount as providers print them: at least `min_scale` decimals, no trailing zeros past that.
pub(super) fn format_amount(amount: Decimal, min_scale: u32) -> String {
    let mut amount = amount.normalize();
    if amount.scale() < min_scale {
        amount.rescale(min_scale);
    }
    amount.to_string()
}

/// An absolute `http`/`https` URL with a host.
pub(super) fn is_http_url(text: &str) -> bool {
    url::Url::parse(text)
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
}

/// A loose e-mail check: one `@`, something before it, a dotted domain after it, no spaces.
pub(super) fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !text.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_plain() {
        for good in ["1", "0.5", "1000.00", "-3.25", "0.00000001"] {
            assert!(decimal(good).is_some(), "{good}");
        }
        for bad in [
            "", "1e3", "+1", " 1", "1 ", "1_000", "1,5", ".5", "5.", "-", "abc", "0x10", "1.2.3",
        ] {
            assert!(decimal(bad).is_none(), "{bad:?}");
        }
        assert!(decimal(&"9".repeat(41)).is_none());
        assert_eq!(decimal("1.50").map(|d| d.scale()), Some(2));
    }

    #[test]
    fn amounts_print_with_two_decimals_at_least() {
        let amount = |text| decimal(text).map(|d| format_amount(d, 2));
        assert_eq!(amount("15").as_deref(), Some("15.00"));
        assert_eq!(amount("15.5000").as_deref(), Some("15.50"));
        assert_eq!(amount("0.12345678").as_deref(), Some("0.12345678"));
    }

    #[test]
    fn bodies_that_are_not_objects() {
        assert_eq!(json_object(b"{\"a\":", false), Err(NotAnObject::Malformed));
        assert_eq!(json_object(b"\xff\xfe", false), Err(NotAnObject::Malformed));
        assert_eq!(
            json_object(b"{\"a\":\"\xff\"}", false),
            Err(NotAnObject::Malformed)
        );
        assert_eq!(json_object(b"[1]", false), Err(NotAnObject::WrongShape));
        assert_eq!(json_object(b"", false), Err(NotAnObject::Malformed));
        assert_eq!(json_object(b"", true), Ok(Map::new()));
        assert_eq!(json_object(b"[]", true), Ok(Map::new()));
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            json_object(deep.as_bytes(), false),
            Err(NotAnObject::Malformed)
        );
    }

    #[test]
    fn urls_and_emails() {
        assert!(is_http_url("https://shop.example/return"));
        assert!(!is_http_url("ftp://shop.example/"));
        assert!(!is_http_url("shop.example"));
        assert!(looks_like_email("john@example.com"));
        assert!(!looks_like_email("john@example"));
        assert!(!looks_like_email("john example.com"));
        assert!(!looks_like_email("@example.com"));
    }
}
