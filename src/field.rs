//! Field names, typed: the canonical model's fields as an enum (a misspelt name does not
//! compile), and the two ways a field is named elsewhere — in an error (canonical where payglot
//! knows the field, else as the dialect spelt it) and in a translation note (bounded, because it
//! becomes a metric label).

use std::fmt;

/// A field of the canonical create-payment request ([`crate::model::CreatePayment`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    OrderRef,
    Amount,
    Currency,
    PayCurrency,
    Network,
    Lifetime,
    /// The merchant's notification URL (success, or every status where a dialect has one URL).
    Callback,
    /// The merchant's failure/expiry notification URL where a dialect has a second one.
    FailureCallback,
    ReturnUrl,
    SuccessUrl,
    /// The customer as a whole.
    Customer,
    CustomerId,
    CustomerName,
    CustomerEmail,
    ClientId,
    Description,
    TolerancePercent,
    AllowPartial,
    Nonce,
}

impl Field {
    pub const ALL: [Field; 19] = [
        Field::OrderRef,
        Field::Amount,
        Field::Currency,
        Field::PayCurrency,
        Field::Network,
        Field::Lifetime,
        Field::Callback,
        Field::FailureCallback,
        Field::ReturnUrl,
        Field::SuccessUrl,
        Field::Customer,
        Field::CustomerId,
        Field::CustomerName,
        Field::CustomerEmail,
        Field::ClientId,
        Field::Description,
        Field::TolerancePercent,
        Field::AllowPartial,
        Field::Nonce,
    ];

    /// The canonical name, as in `docs/mapping.md`, notes and metric labels.
    pub fn label(self) -> &'static str {
        match self {
            Field::OrderRef => "order_ref",
            Field::Amount => "amount",
            Field::Currency => "currency",
            Field::PayCurrency => "pay_currency",
            Field::Network => "network",
            Field::Lifetime => "lifetime",
            Field::Callback => "callback",
            Field::FailureCallback => "failure_callback",
            Field::ReturnUrl => "return_url",
            Field::SuccessUrl => "success_url",
            Field::Customer => "customer",
            Field::CustomerId => "customer.id",
            Field::CustomerName => "customer.name",
            Field::CustomerEmail => "customer.email",
            Field::ClientId => "client_id",
            Field::Description => "description",
            Field::TolerancePercent => "tolerance_percent",
            Field::AllowPartial => "allow_partial",
            Field::Nonce => "nonce",
        }
    }

    pub fn from_label(label: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.label() == label)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A dialect's names for the canonical fields it names differently; every other field is named
/// alike on both sides (its canonical label).
pub type FieldTable = &'static [(Field, &'static str)];

/// A field named in an error: canonical when payglot knows it, so the caller's dialect names it
/// its own way; otherwise the name as a dialect spelt it (a field only that dialect has, or a
/// path into a provider's answer), shown as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldRef {
    Canonical(Field),
    Wire(String),
}

impl FieldRef {
    pub fn as_str(&self) -> &str {
        match self {
            FieldRef::Canonical(field) => field.label(),
            FieldRef::Wire(name) => name,
        }
    }
}

impl From<Field> for FieldRef {
    fn from(field: Field) -> Self {
        FieldRef::Canonical(field)
    }
}

impl From<&'static str> for FieldRef {
    /// A dialect-only field, by its own name.
    fn from(name: &'static str) -> Self {
        FieldRef::Wire(name.to_owned())
    }
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for FieldRef {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for FieldRef {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The field a translation note is about: a canonical field, or a field of one dialect named
/// as that dialect names it. Both are `'static`, so the metric label they become is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoteField {
    Canonical(Field),
    Named(&'static str),
}

impl NoteField {
    pub fn label(self) -> &'static str {
        match self {
            NoteField::Canonical(field) => field.label(),
            NoteField::Named(name) => name,
        }
    }
}

impl From<Field> for NoteField {
    fn from(field: Field) -> Self {
        NoteField::Canonical(field)
    }
}

impl fmt::Display for NoteField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl PartialEq<str> for NoteField {
    fn eq(&self, other: &str) -> bool {
        self.label() == other
    }
}

impl PartialEq<&str> for NoteField {
    fn eq(&self, other: &&str) -> bool {
        self.label() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_and_read_back() {
        for field in Field::ALL {
            assert_eq!(Field::from_label(field.label()), Some(field));
        }
        let mut labels: Vec<_> = Field::ALL.iter().map(|f| f.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Field::ALL.len());
    }
}
