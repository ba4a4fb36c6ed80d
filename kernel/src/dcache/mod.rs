//! The decision cache: global RCU table plus per-CPU L1. Being written: see issue 4.
