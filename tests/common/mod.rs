//! Helpers shared by the integration tests (`mod common;`).

pub mod binary;
pub mod http;
pub mod logs;
pub mod postgres;
pub mod receiver;
pub mod sign;
pub mod sockets;
pub mod stack;
