"""Checks that are expected to fail today, in two clearly named lists, each entry with the
pattern its failure must match. A listed check that fails any other way is a plain failure; a
listed check that passes fails the run too (XPASS), so that the entry is removed when payglot
catches up. Names are the check names the suites print."""

# Lookups that do not work yet (none: every library's lookup passes against payglot now).
PENDING_LOOKUPS = {}

# Payglot bugs and gaps that real client libraries revealed (tests/sdk/README.md explains each).
# name -> (pattern the failure matches, the gap in one line)
_HELEKET_QR = (
    r"address_qr_code",
    "Heleket (a Cryptomus clone) answers carry `address_qr_code`, which Cryptomus's do not; "
    "payglot speaks Cryptomus, and typed Cryptomus clients (CryptomusAPI) refuse the extra key",
)
KNOWN_PAYGLOT_GAPS = {
    "aioheleket 1.4.0: create_invoice as the library sends it (every default, nulls) via cryptomus entry": _HELEKET_QR,
    "aioheleket 1.4.0: create_invoice as the library sends it (every default, nulls) via nearpayments entry": _HELEKET_QR,
    "aioheleket 1.4.0: payment_info (lookup)": _HELEKET_QR,
    "aioheleket 1.4.0: its Payment model parses payglot's create answer": (
        r"address_qr_code",
        "Heleket (a Cryptomus clone) answers carry `address_qr_code`, which Cryptomus's do not; "
        "payglot speaks Cryptomus, and typed Cryptomus clients (CryptomusAPI) refuse the extra key",
    ),
}
