//! Amount and quantity parsing: never a panic, and what parses keeps its text and is exact
//! (an amount is positive, a quantity is an amount or zero, the value reads back the same).
#![no_main]

use libfuzzer_sys::fuzz_target;
use payglot::money::{Amount, AmountError, Quantity};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let amount = Amount::parse(text);
    let quantity = Quantity::parse(text);
    match &amount {
        Ok(amount) => {
            assert_eq!(amount.as_str(), text);
            assert!(amount.value().is_sign_positive() && !amount.value().is_zero());
            let rebuilt = Amount::from_decimal(amount.value());
            assert!(rebuilt.is_some_and(|r| r.value() == amount.value()));
            assert!(quantity.as_ref().is_ok_and(|q| q.as_str() == text));
        }
        Err(AmountError::NotPositive) => {
            let quantity = quantity.as_ref().expect("zero is a quantity");
            assert!(quantity.is_zero());
        }
        Err(error) => assert_eq!(quantity.as_ref().err(), Some(error)),
    }
    if let Ok(quantity) = &quantity {
        assert_eq!(quantity.as_str(), text);
        let _ = quantity.value();
    }
});
