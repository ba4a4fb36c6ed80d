//! Kingly drivers (skeleton).
#![cfg_attr(not(test), no_std)]
