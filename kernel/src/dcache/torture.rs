//! Torture test (placeholder, filled below).
