//! A rate limiter for error replies: garbage on the line must not flood the output.

/// Error replies allowed per second.
const ERROR_REPLIES_PER_SECOND: u32 = 20;

/// Limits error replies to [`ERROR_REPLIES_PER_SECOND`], counting the ones held back.
#[derive(Default)]
pub struct ErrorLimiter {
    window_start_ms: u64,
    sent_in_window: u32,
    suppressed: u64,
}

impl ErrorLimiter {
    /// Whether an error reply may go out at `now_ms`; counts it either way.
    pub fn allow(&mut self, now_ms: u64) -> bool {
        if now_ms >= self.window_start_ms + 1000 {
            self.window_start_ms = now_ms;
            self.sent_in_window = 0;
        }
        if self.sent_in_window < ERROR_REPLIES_PER_SECOND {
            self.sent_in_window += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }

    /// Replies held back so far.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }
}
