"""Checks that are expected to fail today, in two clearly named lists, each entry with the
pattern its failure must match. A listed check that fails any other way is a plain failure; a
listed check that passes fails the run too (XPASS), so that the entry is removed when payglot
catches up. Names are the check names the suites print."""

# Lookups (Cryptomus `payment/info`, Apollo `order`) do not exist in payglot yet. Remove the
# entries once lookups land; their checks then have to pass.
_NOT_SERVED = r"serves nothing at"
PENDING_LOOKUPS = {
    "cryptomus 1.1: payment info (lookup)": _NOT_SERVED,
    "Heleket 0.1.0: payment info (lookup)": _NOT_SERVED,
    "pyCryptomusAPI 1.2.0: payment_information (lookup)": _NOT_SERVED,
    "CryptomusAPI 1.0.2: get_payment_info (lookup)": _NOT_SERVED,
    "HeleketAPI 0.0.5.dev0: get_payment_info (lookup)": _NOT_SERVED,
    "aioheleket 1.4.0: payment_info (lookup)": _NOT_SERVED,
    "heleket-sdk 0.3.0: get_info (lookup)": _NOT_SERVED,
    "milkpay-cryptomus 1.3.0: get_payment_info (lookup)": _NOT_SERVED,
    "cryptomus-sdk 3.0.0 (npm): getPaymentInfo (lookup)": _NOT_SERVED,
    "apollopayment-api 0.0.8: orders.get_order_by_id (lookup)": _NOT_SERVED,
    "onchainpay-api 0.0.8: orders.get_order_by_id (lookup)": _NOT_SERVED,
}

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
    "aioheleket 1.4.0: its Payment model parses payglot's create answer": (
        r"address_qr_code",
        "Heleket (a Cryptomus clone) answers carry `address_qr_code`, which Cryptomus's do not; "
        "payglot speaks Cryptomus, and typed Cryptomus clients (CryptomusAPI) refuse the extra key",
    ),
}
