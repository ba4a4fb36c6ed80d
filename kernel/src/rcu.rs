//! Quiescent-state-based RCU (QSBR). Being written: see issue 4.
