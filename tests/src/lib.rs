//! Helpers for Kingly integration tests.
