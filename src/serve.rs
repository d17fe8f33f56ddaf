//! Running pingora services in the background.
