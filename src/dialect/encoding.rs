//! Parsing helpers shared by the dialects' wire types: JSON with field paths in errors, the
//! loose encodings real SDKs send (numbers as strings and back), and timestamps.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use crate::error::{ApiError, ErrorKind, FieldError};

use super::{Codec, Field};

/// Parses a JSON body into a dialect's wire type. Syntax problems (not JSON, not UTF-8,
/// truncated) are `MalformedBody`; shape problems name the field, in canonical terms.
pub fn parse_json<T: DeserializeOwned>(body: &[u8], codec: &dyn Codec) -> Result<T, ApiError> {
    // The whole body must be JSON (UTF-8, complete, nothing after it) before any field is
    // judged: a truncated or garbled body is malformed, not "missing a field". Strings of
    // unknown fields are checked too, as they may pass through to the provider. Every pass
    // below reads the checked text, so serde_json does not check each string again.
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(ApiError::new(
            ErrorKind::MalformedBody,
            "the body is not UTF-8",
        ));
    };
    // Valid requests are the common case: one plain typed pass. Only a body that fails it
    // pays for the passes below, which tell malformed from invalid and name the field.
    if body.trim_ascii_start().starts_with(b"{")
        && let Ok(value) = serde_json::from_str::<T>(text)
    {
        return Ok(value);
    }
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        return Err(ApiError::new(
            ErrorKind::MalformedBody,
            format!("the body is not valid JSON: {e}"),
        ));
    }
    // Derived structs also accept a JSON array, field by field in declaration order; a request
    // is only ever an object, so anything else is refused before it can be read positionally.
    if !body.trim_ascii_start().starts_with(b"{") {
        return Err(ApiError::new(
            ErrorKind::MalformedBody,
            "the body must be a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if !inner.is_data() {
            return ApiError::new(
                ErrorKind::MalformedBody,
                format!("the body is not valid JSON: {inner}"),
            );
        }
        let text = inner.to_string();
        let message = text.split(" at line ").next().unwrap_or(&text).to_owned();
        if path == "." && message.starts_with("invalid type") {
            return ApiError::new(ErrorKind::MalformedBody, "the body must be a JSON object");
        }
        // A duplicated key is refused: the signature covers both copies, and the provider
        // behind a pass-through may read the other one.
        let named = missing_field_name(&message)
            .map(|name| (name, "validation.required"))
            .or_else(|| duplicate_field_name(&message).map(|name| (name, "validation.duplicate")));
        let (field, rule) = match named {
            Some((name, rule)) if path == "." => (name.to_owned(), rule),
            Some((name, rule)) => (format!("{path}.{name}"), rule),
            None => (path, "validation.invalid"),
        };
        let canonical = codec.canonical_field(&field);
        ApiError {
            kind: ErrorKind::InvalidField,
            message: format!("{field}: {message}"),
            fields: vec![FieldError {
                field: canonical,
                rule: rule.to_owned(),
            }],
            upstream_status: None,
            reason: None,
        }
    })?;
    // Trailing bytes after the object (e.g. a second object) make the body malformed.
    de.end().map_err(|e| {
        ApiError::new(
            ErrorKind::MalformedBody,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    Ok(value)
}

fn missing_field_name(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
}

fn duplicate_field_name(message: &str) -> Option<&str> {
    message
        .strip_prefix("duplicate field `")
        .and_then(|rest| rest.split('`').next())
}

/// More than `max` characters. A character is 1 to 4 bytes, so a text of at most `max` bytes is
/// not counted; fields are checked on every request.
pub fn longer_than(value: &str, max: usize) -> bool {
    value.len() > max && value.chars().count() > max
}

/// Fewer than `min` characters, counting no further than `min`.
pub fn shorter_than(value: &str, min: usize) -> bool {
    value.chars().take(min).count() < min
}

/// Checks a free-text field: not empty, not longer than `max` characters.
/// Messages name the field as the codec's dialect does.
pub fn text_field(
    codec: &dyn Codec,
    canonical: Field,
    value: &str,
    max: usize,
) -> Result<(), ApiError> {
    let name = codec.field_name(canonical);
    if value.trim().is_empty() {
        return Err(ApiError::field(
            canonical,
            "validation.required",
            format!("{name} must not be empty"),
        ));
    }
    if longer_than(value, max) {
        return Err(ApiError::field(
            canonical,
            "validation.max.string",
            format!("{name} must not be longer than {max} characters"),
        ));
    }
    Ok(())
}

/// The value of a JSON string, or the text of a JSON number that `number_ok` accepts; never
/// converted through `f64`. Anything else is refused with `expected`. The loose scalars read
/// their raw text borrowed from the body (bodies are parsed from slices), not boxed.
fn string_or_number<'de, D: Deserializer<'de>>(
    d: D,
    number_ok: fn(&str) -> bool,
    expected: &'static str,
) -> Result<String, D::Error> {
    let raw = <&RawValue>::deserialize(d)?;
    let text = raw.get();
    if text.starts_with('"') {
        serde_json::from_str(text).map_err(D::Error::custom)
    } else if number_ok(text) {
        Ok(text.to_owned())
    } else {
        Err(D::Error::custom(expected))
    }
}

fn starts_like_a_number(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_digit() || c == '-')
}

/// A decimal sent as a JSON string or a JSON number; the number's own text is kept, never
/// converted through `f64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecimalText(pub String);

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string_or_number(
            d,
            starts_like_a_number,
            "invalid type: expected a decimal string",
        )
        .map(DecimalText)
    }
}

/// A provider's amount as a non-negative quantity; an absent or unreadable one is `None`.
pub fn quantity(text: Option<DecimalText>) -> Option<crate::money::Quantity> {
    text.and_then(|t| crate::money::Quantity::parse(&t.0).ok())
}

/// A whole number sent as a JSON number or a numeric string (e.g. `"3600"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LooseU64(pub u64);

impl<'de> Deserialize<'de> for LooseU64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&RawValue>::deserialize(d)?;
        let text = raw.get();
        let digits = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(text);
        digits
            .parse::<u64>()
            .map(LooseU64)
            .map_err(|_| D::Error::custom("invalid type: expected a whole number of seconds"))
    }
}

/// A boolean sent as `true`/`false` or as the strings `"true"`/`"false"` (NearPayments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LooseBool(pub bool);

impl<'de> Deserialize<'de> for LooseBool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&RawValue>::deserialize(d)?;
        match raw.get() {
            "true" | "\"true\"" | "1" | "\"1\"" => Ok(LooseBool(true)),
            "false" | "\"false\"" | "0" | "\"0\"" => Ok(LooseBool(false)),
            _ => Err(D::Error::custom("invalid type: expected true or false")),
        }
    }
}

/// An identifier sent as a JSON string or number (AlpPay `customer.id`, `merchant.id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LooseId(pub String);

impl<'de> Deserialize<'de> for LooseId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string_or_number(
            d,
            |t| t.bytes().all(|b| b.is_ascii_digit() || b == b'-'),
            "invalid type: expected a string or an integer",
        )
        .map(LooseId)
    }
}

/// A string or any JSON number, as its text (Apollo's `nonce`: "a number or a string", whichever
/// form a client's clock or random source gives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalarText(pub String);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string_or_number(
            d,
            starts_like_a_number,
            "invalid type: expected a string or a number",
        )
        .map(ScalarText)
    }
}

/// Parses the ISO-8601 forms the providers write (`Z` or an offset, any fraction), as UTC.
/// A time whose UTC form leaves the calendar (`9999-12-31T23:59:59-01:00`) is unreadable
/// rather than a panic later, when it is converted for another dialect.
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()?
        .checked_to_offset(UtcOffset::UTC)
}

/// `t` in UTC; a time already past the calendar's edge there keeps its own offset, so a
/// format never panics (the output is then the wrong instant's text, never reached from
/// [`parse_time`], which refuses such times).
fn in_utc(t: OffsetDateTime) -> OffsetDateTime {
    t.checked_to_offset(UtcOffset::UTC).unwrap_or(t)
}

type TimeFormat = &'static [time::format_description::BorrowedFormatItem<'static>];

/// The three timestamp forms, as the time crate writes them: the reference for the digit-by-digit
/// writing below, and what it falls back to outside years 0..=9999.
const SECONDS_Z: TimeFormat = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
const MILLIS_Z: TimeFormat =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
const WITH_OFFSET: TimeFormat = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
);

/// `2025-05-20T12:34:56Z` (AlpPay).
pub fn format_seconds_z(t: OffsetDateTime) -> String {
    let t = in_utc(t);
    match date_time_digits(t) {
        Some(mut text) => {
            text.push('Z');
            text
        }
        None => formatted(t, SECONDS_Z),
    }
}

/// `2024-10-15T16:41:27.596Z` (Apollo).
pub fn format_millis_z(t: OffsetDateTime) -> String {
    let t = in_utc(t);
    match date_time_digits(t) {
        Some(mut text) => {
            text.push('.');
            push_digits(&mut text, u32::from(t.millisecond()), 3);
            text.push('Z');
            text
        }
        None => formatted(t, MILLIS_Z),
    }
}

/// `2023-07-11T20:23:52+00:00` (Cryptomus).
pub fn format_offset(t: OffsetDateTime) -> String {
    let t = in_utc(t);
    match date_time_digits(t).filter(|_| t.offset().is_utc()) {
        Some(mut text) => {
            text.push_str("+00:00");
            text
        }
        None => formatted(t, WITH_OFFSET),
    }
}

fn formatted(t: OffsetDateTime, format: TimeFormat) -> String {
    t.format(format).unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SS` of `t` as written, digit by digit: the time crate's formatting
/// interprets its description on every call, and every answer carries a timestamp or two.
/// `None` for a year outside 0..=9999, which that formatting writes with a sign.
fn date_time_digits(t: OffsetDateTime) -> Option<String> {
    let year = u32::try_from(t.year()).ok().filter(|&y| y <= 9999)?;
    let mut text = String::with_capacity(32);
    push_digits(&mut text, year, 4);
    for (separator, value) in [
        ('-', u8::from(t.month())),
        ('-', t.day()),
        ('T', t.hour()),
        (':', t.minute()),
        (':', t.second()),
    ] {
        text.push(separator);
        push_digits(&mut text, u32::from(value), 2);
    }
    Some(text)
}

/// `value`'s last `width` decimal digits, zero-padded.
fn push_digits(text: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10u32.pow(place)) % 10;
        text.push(char::from(b'0' + digit as u8));
    }
}

/// Reads a provider's JSON answer. The body is checked as UTF-8 once, as a whole, instead of
/// string by string as serde_json does over bytes; a body that is not UTF-8 is read as bytes,
/// so that its error is serde_json's own.
pub fn from_json_bytes<'a, T: Deserialize<'a>>(body: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    }
}

/// Serialises a wire struct compactly. Wire structs hold only strings, numbers and options,
/// so this cannot fail; an empty body would be refused by the upstream rather than hidden.
pub fn to_compact_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    // Sized for a whole request or answer: serde_json starts at 128 bytes and grows by
    // copying, four times for a typical body.
    let mut out = Vec::with_capacity(COMPACT_JSON_CAPACITY);
    if serde_json::to_writer(&mut out, value).is_err() {
        return String::new();
    }
    // serde_json writes UTF-8 only.
    String::from_utf8(out).unwrap_or_default()
}

/// What [`to_compact_json`] reserves: the bodies payglot writes are 0.3 to 1.5 KB.
const COMPACT_JSON_CAPACITY: usize = 1024;

/// A JSON object's members in the order sent, each value's exact text kept.
struct Members(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> serde::de::Visitor<'de> for InOrder {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(InOrder)
    }
}

impl Members {
    fn write(members: impl Iterator<Item = (String, String)>) -> String {
        let members: Vec<String> = members
            .map(|(name, value)| format!("{}:{value}", to_compact_json(&name)))
            .collect();
        format!("{{{}}}", members.join(","))
    }
}

/// `raw`, a JSON object, with the string members in `set` given those values: in place where
/// present, appended where not. Every other member keeps its place and its exact text.
pub fn set_string_members(raw: &[u8], set: &[(&str, &str)]) -> Result<Vec<u8>, serde_json::Error> {
    let Members(members) = serde_json::from_slice(raw)?;
    let mut out: Vec<(String, String)> = members
        .into_iter()
        .map(|(name, value)| {
            let value = match set.iter().find(|(wanted, _)| *wanted == name) {
                Some((_, new)) => to_compact_json(new),
                None => value.get().to_owned(),
            };
            (name, value)
        })
        .collect();
    for (name, value) in set {
        if !out.iter().any(|(present, _)| present == name) {
            out.push(((*name).to_owned(), to_compact_json(value)));
        }
    }
    Ok(Members::write(out.into_iter()).into_bytes())
}

/// `raw` with every member (at any depth) that is named in `restore` and holds the string
/// `from` given the value named there instead (`None`: `null`). Everything else keeps its order
/// and exact text. `None` when `raw` is not JSON.
pub fn replace_string_members(
    raw: &[u8],
    from: &str,
    restore: &[(&str, Option<&str>)],
) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(raw).ok()?;
    serde_json::from_str::<&RawValue>(text).ok()?;
    Some(replace_in(text, from, restore).into_bytes())
}

fn replace_in(value: &str, from: &str, restore: &[(&str, Option<&str>)]) -> String {
    let trimmed = value.trim();
    match trimmed.as_bytes().first() {
        Some(b'{') => match serde_json::from_str::<Members>(trimmed) {
            Ok(Members(members)) => Members::write(members.into_iter().map(|(name, value)| {
                let replaced = restore
                    .iter()
                    .find(|(wanted, _)| *wanted == name)
                    .filter(|_| {
                        serde_json::from_str::<String>(value.get()).is_ok_and(|v| v == from)
                    })
                    .map(|(_, to)| to.map_or_else(|| "null".to_owned(), to_compact_json));
                let value = replaced.unwrap_or_else(|| replace_in(value.get(), from, restore));
                (name, value)
            })),
            Err(_) => trimmed.to_owned(),
        },
        Some(b'[') => match serde_json::from_str::<Vec<Box<RawValue>>>(trimmed) {
            Ok(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|item| replace_in(item.get(), from, restore))
                    .collect();
                format!("[{}]", items.join(","))
            }
            Err(_) => trimmed.to_owned(),
        },
        _ => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn timestamps_are_written_as_the_time_crate_writes_them(
            seconds in -80_000_000_000i64..260_000_000_000,
            nanos in 0u32..1_000_000_000,
            offset_minutes in -1439i32..1440,
        ) {
            let offset = UtcOffset::from_whole_seconds(offset_minutes * 60).unwrap();
            // Outside the time crate's calendar: nothing to write.
            let Some(t) = OffsetDateTime::from_unix_timestamp(seconds)
                .ok()
                .and_then(|t| t.replace_nanosecond(nanos).ok())
                .and_then(|t| t.checked_to_offset(offset))
            else {
                return Ok(());
            };
            // The reference: the time crate's own formatting of the same descriptions.
            let reference = |format: TimeFormat| in_utc(t).format(format).unwrap();
            proptest::prop_assert_eq!(format_seconds_z(t), reference(SECONDS_Z));
            proptest::prop_assert_eq!(format_millis_z(t), reference(MILLIS_Z));
            proptest::prop_assert_eq!(format_offset(t), reference(WITH_OFFSET));
        }
    }

    proptest::proptest! {
        #[test]
        fn character_bounds_agree_with_counting(
            text in "[a-z\u{e9}\u{20ac}\u{1f600}]{0,12}",
            bound in 0usize..14,
        ) {
            let count = text.chars().count();
            proptest::prop_assert_eq!(longer_than(&text, bound), count > bound);
            proptest::prop_assert_eq!(shorter_than(&text, bound), count < bound);
        }
    }

    #[test]
    fn string_members_are_set_in_place_order_and_text_kept() {
        let raw =
            br#"{"amount": 15.10, "url_callback":"https:\/\/shop.example\/cb", "order_id":"o-1"}"#;
        let out = set_string_members(raw, &[("url_callback", "https://relay.example/webhooks/t")])
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"amount":15.10,"url_callback":"https://relay.example/webhooks/t","order_id":"o-1"}"#
        );
        let out = set_string_members(br#"{"b":1,"a":2}"#, &[("url_callback", "u")]).unwrap();
        assert_eq!(out, br#"{"b":1,"a":2,"url_callback":"u"}"#);
        assert!(set_string_members(b"[1]", &[("a", "b")]).is_err());
        assert!(set_string_members(b"{\"a\":", &[("a", "b")]).is_err());
    }

    #[test]
    fn string_members_are_restored_at_any_depth_only_where_they_hold_the_value() {
        let raw = br#"{"success":true,"response":{"successWebhook":"R","errorWebhook":"R","returnUrl":"R","n":1.50,"list":[{"successWebhook":"R"}]}}"#;
        let out = replace_string_members(
            raw,
            "R",
            &[
                ("successWebhook", Some("https://shop/ok")),
                ("errorWebhook", None),
            ],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"success":true,"response":{"successWebhook":"https://shop/ok","errorWebhook":null,"returnUrl":"R","n":1.50,"list":[{"successWebhook":"https://shop/ok"}]}}"#
        );
        assert_eq!(replace_string_members(b"not json", "R", &[]), None);
    }

    #[test]
    fn decimal_text_keeps_number_lexemes() {
        let v: DecimalText = serde_json::from_str("12.345678901234567890").unwrap();
        assert_eq!(v.0, "12.345678901234567890");
        let v: DecimalText = serde_json::from_str("\"15\"").unwrap();
        assert_eq!(v.0, "15");
        assert!(serde_json::from_str::<DecimalText>("true").is_err());
    }

    #[test]
    fn scalar_text_takes_any_number_or_string() {
        for (json, text) in [
            ("1700000000001", "1700000000001"),
            ("1.5e3", "1.5e3"),
            ("\"e46c3fb5\"", "e46c3fb5"),
        ] {
            assert_eq!(serde_json::from_str::<ScalarText>(json).unwrap().0, text);
        }
        assert!(serde_json::from_str::<ScalarText>("true").is_err());
        assert!(serde_json::from_str::<ScalarText>("{}").is_err());
    }

    #[test]
    fn loose_scalars() {
        assert_eq!(
            serde_json::from_str::<LooseU64>("\"3600\"").unwrap().0,
            3600
        );
        assert_eq!(serde_json::from_str::<LooseU64>("3600").unwrap().0, 3600);
        assert!(serde_json::from_str::<LooseU64>("-1").is_err());
        assert!(serde_json::from_str::<LooseU64>("1.5").is_err());
        assert!(serde_json::from_str::<LooseBool>("\"false\"").is_ok_and(|b| !b.0));
        assert!(serde_json::from_str::<LooseBool>("\"maybe\"").is_err());
    }

    #[test]
    fn times_round_trip_in_each_style() {
        let t = parse_time("2025-06-09T13:48:29.425Z").unwrap();
        assert_eq!(format_millis_z(t), "2025-06-09T13:48:29.425Z");
        assert_eq!(format_seconds_z(t), "2025-06-09T13:48:29Z");
        let t = parse_time("2023-07-11T20:23:52+03:00").unwrap();
        assert_eq!(format_offset(t), "2023-07-11T17:23:52+00:00");
    }

    #[test]
    fn times_past_the_calendar_edge_are_unreadable_not_a_panic() {
        assert_eq!(parse_time("9999-12-31T23:59:59-01:00"), None);
        assert_eq!(parse_time("-9999-01-01T00:00:00+01:00"), None);
        let edge = parse_time("9999-12-31T23:59:59+01:00").unwrap();
        assert_eq!(format_offset(edge), "9999-12-31T22:59:59+00:00");
        // A caller-made time at the edge with an offset formats without panicking.
        let raw = OffsetDateTime::parse("9999-12-31T23:59:59-01:00", &Rfc3339).unwrap();
        let _ = (
            format_seconds_z(raw),
            format_millis_z(raw),
            format_offset(raw),
        );
    }
}
