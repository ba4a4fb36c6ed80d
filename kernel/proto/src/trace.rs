//! Decision trace records: what `trace_read` returns, 80 bytes each, and what `kingly trace`
//! and `kingly learn` read. The kernel's per-CPU rings (`kingly_kernel::trace`) store them.

use alloc::vec::Vec;

/// Words in an encoded record.
pub const RECORD_WORDS: usize = 10;
/// Bytes of one record in a `trace_read` attachment (little-endian words).
pub const RECORD_BYTES: usize = RECORD_WORDS * 8;
/// Where a decision came from, as a trace records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Outcome {
    /// The CPU's L1 answered.
    L1 = 0,
    /// The global table answered.
    Global = 1,
    /// Nothing cached: the attached program ran.
    Miss = 2,
    /// No program attached: the hook's default policy answered.
    Default = 3,
    /// The program failed or answered out of range: the default policy answered.
    Fallback = 4,
    /// Exploration: a random decision within the hook's safe bounds (`trace_set explore`).
    Explore = 5,
}

impl Outcome {
    /// Names by value, as `kingly trace` writes them.
    pub const NAMES: [&'static str; 6] = ["l1", "global", "miss", "default", "fallback", "explore"];
}

/// One hook call: its context, its decision, where that came from, which policy made it, and
/// what the workload observed afterwards (`outcome`, per hook: see DESIGN's trace table).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// When the call was made (for sched_slice: when the slice started), ns since boot.
    pub time_ns: u64,
    /// The hook's id (0 sched_slice, 1 sched_cpu, 2 mcp_admit).
    pub hook: u8,
    /// The core that made the call.
    pub cpu: u8,
    /// An [`Outcome`] as a number.
    pub source: u8,
    /// The program that decided (0: the default policy; `u32::MAX`: a program replaced since).
    pub program: u32,
    /// The policy generation that made the decision.
    pub generation: u32,
    /// The hook's context fields.
    pub fields: [u64; 4],
    /// The decision the caller acted on.
    pub decision: u64,
    /// What the caller observed afterwards ([`outcome_names`]).
    pub outcome: [u32; 4],
}

impl Record {
    /// The record as words: time, (hook, cpu, source, program), generation, fields,
    /// decision, outcome pairs.
    pub fn encode(&self) -> [u64; RECORD_WORDS] {
        let pair = |a: u32, b: u32| u64::from(a) | u64::from(b) << 32;
        [
            self.time_ns,
            u64::from(self.hook)
                | u64::from(self.cpu) << 8
                | u64::from(self.source) << 16
                | u64::from(self.program) << 32,
            u64::from(self.generation),
            self.fields[0],
            self.fields[1],
            self.fields[2],
            self.fields[3],
            self.decision,
            pair(self.outcome[0], self.outcome[1]),
            pair(self.outcome[2], self.outcome[3]),
        ]
    }

    /// The record [`Record::encode`] made.
    pub fn decode(w: &[u64; RECORD_WORDS]) -> Record {
        Record {
            time_ns: w[0],
            hook: w[1] as u8,
            cpu: (w[1] >> 8) as u8,
            source: (w[1] >> 16) as u8,
            program: (w[1] >> 32) as u32,
            generation: w[2] as u32,
            fields: [w[3], w[4], w[5], w[6]],
            decision: w[7],
            outcome: [w[8] as u32, (w[8] >> 32) as u32, w[9] as u32, (w[9] >> 32) as u32],
        }
    }

    /// Appends the record's little-endian bytes (the `trace_read` attachment's layout).
    pub fn write_le(&self, out: &mut Vec<u8>) {
        for word in self.encode() {
            out.extend_from_slice(&word.to_le_bytes());
        }
    }

    /// Parses one record from [`RECORD_BYTES`] little-endian bytes.
    pub fn read_le(bytes: &[u8]) -> Option<Record> {
        if bytes.len() != RECORD_BYTES {
            return None;
        }
        let mut words = [0u64; RECORD_WORDS];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            *word = u64::from_le_bytes(chunk.try_into().ok()?);
        }
        Some(Record::decode(&words))
    }
}

/// What a hook's `outcome` words mean, per hook id (the hook's caller fills them in).
pub fn outcome_names(hook: u8) -> [&'static str; 4] {
    match hook {
        // sched_slice: recorded when the slice ends.
        0 => ["ran_us", "work", "waited_us", "latency_behind_us"],
        // sched_cpu: recorded when the woken task is queued.
        1 => ["migrated", "queued_ahead", "unused2", "unused3"],
        // mcp_admit.
        _ => ["admitted", "unused1", "unused2", "unused3"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes() {
        let r = Record {
            time_ns: 5,
            hook: 1,
            cpu: 2,
            source: Outcome::Explore as u8,
            program: 7,
            generation: 9,
            fields: [5, 2, 3, 4],
            decision: 1005,
            outcome: [1, 2, 3, u32::MAX],
        };
        assert_eq!(Record::decode(&r.encode()), r);
        let mut bytes = Vec::new();
        r.write_le(&mut bytes);
        assert_eq!(bytes.len(), RECORD_BYTES);
        assert_eq!(Record::read_le(&bytes), Some(r));
        assert_eq!(Record::read_le(&bytes[1..]), None);
        assert_eq!(Outcome::NAMES[Outcome::Explore as usize], "explore");
    }
}
