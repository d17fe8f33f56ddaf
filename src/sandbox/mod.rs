//! Offline emulator of the three providers.
