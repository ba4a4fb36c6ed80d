//! Kingly boot (skeleton).
#![no_std]
