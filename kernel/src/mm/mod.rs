//! Memory management: translation tables (portable builder) and the kernel heap range.

pub mod translation;
