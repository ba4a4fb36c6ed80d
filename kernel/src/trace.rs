//! Decision traces: per-CPU rings of what each hook call saw, decided and led to, for learning
//! policies on the host (`kingly trace`, `kingly learn`).
//!
//! ```text
//! hook call on CPU n ──► Trace::record(n, Record) ──► ring n (bounded, overwrite-oldest)
//!                                                        │ seqlock per slot
//! trace_read on core 0 ◄── Trace::drain(max) ◄───────────┘ a record overwritten before it
//!                                                          was read counts as dropped
//! ```
//!
//! Each ring has one writer at a time, its own CPU (a nested writer, e.g. an interrupt landing
//! in a record, is refused and counted rather than tearing a slot), and one reader (the port),
//! so a record is a plain sequence of stores guarded by the slot's sequence number: odd while
//! it is written, `2 * position + 2` once whole. Nothing blocks and nothing allocates on the
//! writer's side. Tracing is off by default and switched per hook; when a hook is off, the
//! whole cost is [`Trace::on`]: one relaxed load and a bit test.

use crate::cpu::MAX_CPUS;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};

pub use kingly_proto::trace::{Outcome, Record, RECORD_BYTES, RECORD_WORDS};

/// Records each CPU's ring holds before the oldest is overwritten.
pub const RING_RECORDS: usize = 2048;

struct Slot {
    seq: AtomicU64,
    words: [AtomicU64; RECORD_WORDS],
}

struct Ring {
    /// Records ever written.
    head: AtomicU64,
    /// Set while the ring's CPU writes a record.
    writing: AtomicBool,
    /// Records refused because a write was already under way on this CPU.
    nested: AtomicU64,
    slots: Box<[Slot]>,
}

impl Ring {
    fn new(records: usize) -> Ring {
        let slots = (0..records)
            .map(|_| Slot { seq: AtomicU64::new(0), words: core::array::from_fn(|_| AtomicU64::new(0)) })
            .collect();
        Ring { head: AtomicU64::new(0), writing: AtomicBool::new(false), nested: AtomicU64::new(0), slots }
    }

    fn push(&self, words: &[u64; RECORD_WORDS]) {
        if self.writing.swap(true, Ordering::Acquire) {
            self.nested.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let position = self.head.load(Ordering::Relaxed);
        let slot = &self.slots[(position % self.slots.len() as u64) as usize];
        slot.seq.store(2 * position + 1, Ordering::Relaxed);
        // The odd sequence is visible before any word of the new record.
        fence(Ordering::Release);
        for (cell, &word) in slot.words.iter().zip(words) {
            cell.store(word, Ordering::Relaxed);
        }
        slot.seq.store(2 * position + 2, Ordering::Release);
        self.head.store(position + 1, Ordering::Release);
        self.writing.store(false, Ordering::Release);
    }

    /// Reads the record at `position`, or `None` if it was overwritten (or is being).
    fn read(&self, position: u64) -> Option<[u64; RECORD_WORDS]> {
        let slot = &self.slots[(position % self.slots.len() as u64) as usize];
        let expected = 2 * position + 2;
        if slot.seq.load(Ordering::Acquire) != expected {
            return None;
        }
        let words: [u64; RECORD_WORDS] = core::array::from_fn(|i| slot.words[i].load(Ordering::Relaxed));
        // The words are read before the sequence is checked again.
        fence(Ordering::Acquire);
        (slot.seq.load(Ordering::Relaxed) == expected).then_some(words)
    }
}

/// Totals of a trace, as `trace_read` reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceCounters {
    /// Records written since boot.
    pub written: u64,
    /// Records read out.
    pub read: u64,
    /// Records overwritten before they were read.
    pub dropped: u64,
    /// Records refused because their CPU was already writing one.
    pub nested: u64,
}

/// The decision trace of every CPU.
pub struct Trace {
    /// Bit `h` set: hook `h` is traced.
    enabled: AtomicU32,
    /// Bit `h` set: hook `h` explores (the caller replaces its decisions by random safe ones).
    exploring: AtomicU32,
    rings: spin::Once<Box<[Ring]>>,
    records_per_cpu: usize,
    /// The reader's position in each ring, and what it dropped.
    reader: spin::Mutex<([u64; MAX_CPUS], u64, u64)>,
    /// Per-CPU exploration generators (xorshift).
    rng: [AtomicU64; MAX_CPUS],
}

impl Trace {
    /// A trace whose rings (allocated when a hook is first switched on) hold
    /// `records_per_cpu` records each.
    pub const fn new(records_per_cpu: usize) -> Trace {
        Trace {
            enabled: AtomicU32::new(0),
            exploring: AtomicU32::new(0),
            rings: spin::Once::new(),
            records_per_cpu,
            reader: spin::Mutex::new(([0; MAX_CPUS], 0, 0)),
            rng: [const { AtomicU64::new(0x9e37_79b9_7f4a_7c15) }; MAX_CPUS],
        }
    }

    /// Whether hook `hook` is traced: the whole cost of a hook call when tracing is off.
    #[inline(always)]
    pub fn on(&self, hook: u32) -> bool {
        self.enabled.load(Ordering::Relaxed) & (1 << (hook & 31)) != 0
    }

    /// Whether hook `hook` explores.
    #[inline(always)]
    pub fn exploring(&self, hook: u32) -> bool {
        self.exploring.load(Ordering::Relaxed) & (1 << (hook & 31)) != 0
    }

    /// Switches tracing (and exploration) of `hook` on or off.
    pub fn set(&self, hook: u32, on: bool, explore: bool) {
        if on {
            self.rings.call_once(|| (0..MAX_CPUS).map(|_| Ring::new(self.records_per_cpu.max(1))).collect());
        }
        let bit = 1 << (hook & 31);
        let update = |word: &AtomicU32, set: bool| {
            if set {
                word.fetch_or(bit, Ordering::Relaxed);
            } else {
                word.fetch_and(!bit, Ordering::Relaxed);
            }
        };
        update(&self.exploring, on && explore);
        update(&self.enabled, on);
    }

    /// The hooks traced and exploring, as bit sets.
    pub fn switches(&self) -> (u32, u32) {
        (self.enabled.load(Ordering::Relaxed), self.exploring.load(Ordering::Relaxed))
    }

    /// Records `record` in the ring of `cpu`, the calling CPU. Inlined into the caller, which
    /// builds the record in registers: called out of line it cost 17 guest instructions more
    /// per traced decision (`decide-bench trace`, `l1_hit_trace_on`).
    #[inline]
    pub fn record(&self, cpu: usize, record: &Record) {
        if let Some(ring) = self.rings.get().and_then(|rings| rings.get(cpu)) {
            ring.push(&record.encode());
        }
    }

    /// A random index below `n` from `cpu`'s exploration generator (`n` > 0).
    pub fn explore_index(&self, cpu: usize, n: usize) -> usize {
        let cell = &self.rng[cpu];
        let mut x = cell.load(Ordering::Relaxed) ^ (cpu as u64 + 1);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        cell.store(x, Ordering::Relaxed);
        ((x >> 32) % n.max(1) as u64) as usize
    }

    /// Seeds every CPU's exploration generator (a run's seed makes its decisions repeatable).
    pub fn seed(&self, seed: u64) {
        for (cpu, cell) in self.rng.iter().enumerate() {
            cell.store((seed ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(cpu as u64 * 2 + 1) | 1, Ordering::Relaxed);
        }
    }

    /// Takes up to `max` unread records, oldest first within each CPU.
    pub fn drain(&self, max: usize) -> Vec<Record> {
        let mut out = Vec::new();
        let Some(rings) = self.rings.get() else { return out };
        let mut reader = self.reader.lock();
        let (tails, read, dropped) = &mut *reader;
        for (ring, tail) in rings.iter().zip(tails.iter_mut()) {
            let head = ring.head.load(Ordering::Acquire);
            let oldest = head.saturating_sub(ring.slots.len() as u64);
            if *tail < oldest {
                *dropped += oldest - *tail;
                *tail = oldest;
            }
            while *tail < head && out.len() < max {
                match ring.read(*tail) {
                    Some(words) => {
                        out.push(Record::decode(&words));
                        *read += 1;
                    }
                    None => *dropped += 1,
                }
                *tail += 1;
            }
        }
        out
    }

    pub fn counters(&self) -> TraceCounters {
        let (read, dropped) = {
            let reader = self.reader.lock();
            (reader.1, reader.2)
        };
        let rings = self.rings.get().map_or(&[][..], |r| &r[..]);
        TraceCounters {
            written: rings.iter().map(|r| r.head.load(Ordering::Relaxed)).sum(),
            read,
            dropped,
            nested: rings.iter().map(|r| r.nested.load(Ordering::Relaxed)).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn record(n: u64) -> Record {
        Record {
            time_ns: n,
            hook: 1,
            cpu: 2,
            source: Outcome::Explore as u8,
            program: 7,
            generation: 9,
            fields: [n, 2, 3, 4],
            decision: 1000 + n,
            outcome: [1, 2, 3, u32::MAX],
        }
    }

    #[test]
    fn off_by_default_and_switched_per_hook() {
        let t = Trace::new(8);
        assert!(!t.on(0) && !t.on(1));
        t.record(0, &record(1));
        assert!(t.drain(10).is_empty(), "nothing is kept before a hook is switched on");
        t.set(0, true, true);
        assert!(t.on(0) && t.exploring(0) && !t.on(1));
        t.set(0, true, false);
        assert!(t.on(0) && !t.exploring(0));
        t.set(0, false, true);
        assert!(!t.on(0) && !t.exploring(0), "exploring needs tracing");
    }

    #[test]
    fn overwrites_oldest_and_counts_drops() {
        let t = Trace::new(4);
        t.set(1, true, false);
        for n in 0..10 {
            t.record(3, &record(n));
        }
        let got: Vec<u64> = t.drain(100).iter().map(|r| r.time_ns).collect();
        assert_eq!(got, [6, 7, 8, 9]);
        assert_eq!(t.counters(), TraceCounters { written: 10, read: 4, dropped: 6, nested: 0 });
        t.record(3, &record(10));
        assert_eq!(t.drain(100).len(), 1);
        assert!(t.drain(100).is_empty());
    }

    #[test]
    fn drain_takes_at_most_max_and_resumes() {
        let t = Trace::new(16);
        t.set(0, true, false);
        for n in 0..10 {
            t.record(0, &record(n));
        }
        assert_eq!(t.drain(3).len(), 3);
        let rest: Vec<u64> = t.drain(100).iter().map(|r| r.time_ns).collect();
        assert_eq!(rest, (3..10).collect::<Vec<_>>());
    }

    #[test]
    fn exploration_indices_stay_in_range_and_vary() {
        let t = Trace::new(1);
        t.seed(42);
        let picks: Vec<usize> = (0..200).map(|_| t.explore_index(1, 5)).collect();
        assert!(picks.iter().all(|&i| i < 5));
        assert!((0..5).all(|i| picks.contains(&i)), "every action is explored");
        let again = Trace::new(1);
        again.seed(42);
        assert_eq!(picks, (0..200).map(|_| again.explore_index(1, 5)).collect::<Vec<_>>(), "a seed repeats");
    }

    /// A writer per CPU races the reader: every record read is whole (its words agree), and
    /// written = read + dropped once everything is drained.
    #[test]
    fn concurrent_writers_never_tear_a_record() {
        let t = Arc::new(Trace::new(64));
        t.set(0, true, false);
        let writers: Vec<_> = (0..3)
            .map(|cpu| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for n in 0..20_000u64 {
                        let v = n * 4 + cpu as u64;
                        let r = Record { time_ns: v, decision: v, fields: [v; 4], outcome: [v as u32; 4], ..record(0) };
                        t.record(cpu, &r);
                    }
                })
            })
            .collect();
        let mut seen = 0;
        while writers.iter().any(|w| !w.is_finished()) {
            for r in t.drain(1000) {
                assert!(r.decision == r.time_ns && r.fields == [r.time_ns; 4] && r.outcome == [r.time_ns as u32; 4]);
                seen += 1;
            }
        }
        for w in writers {
            w.join().unwrap();
        }
        seen += t.drain(usize::MAX).len() as u64;
        let c = t.counters();
        assert_eq!(c.written, 60_000);
        assert_eq!(c.read, seen);
        assert_eq!(c.read + c.dropped, c.written);
    }
}
