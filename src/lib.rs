//! payglot: a reverse proxy that speaks the crypto-payment API dialects of AlpPay,
//! Cryptomus (and NearPayments) and Apollo Payment, and translates between them.
//!
//! The core (`money`, `model`, `network`, `signature`, `dialect`, `translate`) is pure:
//! plain functions over bytes and structs, no I/O. The pingora glue lives in `proxy`.

pub mod admin;
pub mod allocator;
pub mod app;
pub mod config;
pub mod dialect;
pub mod error;
pub mod explain;
pub mod facts;
pub mod field;
pub mod logwriter;
pub mod metrics;
pub mod model;
pub mod money;
pub mod proxy;
pub mod reload;
pub mod routing;
pub mod sandbox;
pub mod secret;
pub mod serve;
pub mod signature;
pub mod store;
pub mod translate;
pub mod webhooks;

/// The chain naming table lives with the dialects that declare the names.
pub use dialect::network;
