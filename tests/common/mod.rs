//! Helpers shared by the integration tests (`mod common;`).

pub mod http;
pub mod sign;
pub mod stack;
