//! The verifier: path-sensitive abstract interpretation over every path, with state pruning.
//!
//! Each path carries a [`State`] (typed registers, per-frame stack bytes and spills, scalar
//! ranges with known bits). At jump targets the state is compared with states already seen
//! there: a state covered by a fully explored one is pruned; a state equal to one still being
//! explored on the same path is an infinite loop. Bounded loops are simply unrolled until their
//! condition fails, under a budget of processed instructions like Linux's one million.
//!
//! The driver keeps Linux's "branches" bookkeeping: a checkpoint is complete once every path
//! below it has ended, and only complete checkpoints may prune. The same bookkeeping yields the
//! longest path (the worst-case number of instructions one run can execute).

mod liveness;
mod scalar;
mod state;
mod step;
mod tnum;
mod verified;

pub use scalar::{Relation, Scalar};
pub use state::{FrameState, Pointer, Region, Stack, State, Value};
pub use tnum::Tnum;
pub use verified::{accept, VerifiedProgram};

use alloc::vec;
use alloc::vec::Vec;

use crate::error::{ErrorKind, VerifyError};
use crate::isa::Insn;
use crate::maps::MapDef;
use crate::program::{ContextKind, ProgramType};

use step::{Facts, Step};

/// Verifier limits and test hooks.
#[derive(Clone, Debug)]
pub struct Options {
    /// Instructions processed (over all paths) before giving up, like Linux's 1M.
    pub max_insns_processed: u64,
    /// States remembered per jump target.
    pub max_states_per_insn: usize,
    /// States remembered in total (bounds the verifier's memory; pruning just gets rarer).
    pub max_states_total: u64,
    /// Work before giving up: instructions plus the size of every state copied or compared,
    /// so the time to a verdict is bounded for any program, not just its instruction count.
    pub max_work_units: u64,
    /// Replaces the program type's initial state (test hook for seeded preconditions).
    pub initial_state: Option<State>,
    /// Refuse divisions and modulos whose divisor may be zero (the ISA defines them, so off
    /// by default; PREVAIL's `!allow_division_by_zero`).
    pub reject_division_by_zero: bool,
    /// Treat running past the last instruction as the end of the program instead of an error
    /// (test hook for PREVAIL's harness, which requires no final `exit`).
    pub end_at_fall_off: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_insns_processed: 1_000_000,
            max_states_per_insn: 64,
            max_states_total: 8_192,
            max_work_units: 4_000_000,
            initial_state: None,
            reject_division_by_zero: false,
            end_at_fall_off: false,
        }
    }
}

/// What verification cost and proved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyStats {
    /// Instructions abstractly executed over all paths.
    pub insns_processed: u64,
    /// States stored at jump targets.
    pub states_stored: u64,
    /// Paths cut because a stored state covered them.
    pub paths_pruned: u64,
    /// Longest execution any input can cause, in instructions (main program and calls).
    pub worst_case_path_insns: u64,
    /// Work done (see [`Options::max_work_units`]).
    pub work_units: u64,
}

struct Checkpoint {
    state: State,
    /// [`loop_key`] of `state`, so a loop head's many unfinished states are told apart cheaply.
    key: u64,
    parent: Option<usize>,
    branches: u32,
    len_at: u64,
    max_tail: u64,
}

struct Path {
    pc: usize,
    state: State,
    checkpoint: usize,
    len: u64,
}

/// The initial abstract state a program type promises.
pub fn initial_state(prog_type: &ProgramType) -> State {
    let mut state = State::empty();
    let ctx = Value::Ptr(Pointer::new(Region::Context, Scalar::constant(0)));
    match prog_type.context {
        ContextKind::None => state.set_reg(1, Value::Scalar(Scalar::constant(0))),
        ContextKind::Buffer { len_bytes } => {
            let r1 = if len_bytes == 0 { Value::Scalar(Scalar::constant(0)) } else { ctx };
            state.set_reg(1, r1);
            state.set_reg(2, Value::Scalar(Scalar::constant(len_bytes as u64)));
        }
        ContextKind::Struct { .. } | ContextKind::Packet { .. } => state.set_reg(1, ctx),
    }
    state
}

fn prune_points(insns: &[Insn]) -> Vec<bool> {
    let mut points = vec![false; insns.len()];
    for (pc, insn) in insns.iter().enumerate() {
        if let Some(t) = insn.jump_target(pc) {
            if let Some(p) = points.get_mut(t as usize) {
                *p = true;
            }
            if let Some(p) = points.get_mut(pc + 1) {
                *p = true;
            }
        }
    }
    points
}

fn finish(checkpoints: &mut [Checkpoint], mut c: usize, total_len: u64) {
    let tail = total_len.saturating_sub(checkpoints[c].len_at);
    checkpoints[c].max_tail = checkpoints[c].max_tail.max(tail);
    loop {
        debug_assert!(checkpoints[c].branches > 0);
        checkpoints[c].branches = checkpoints[c].branches.saturating_sub(1);
        if checkpoints[c].branches > 0 {
            return;
        }
        let Some(parent) = checkpoints[c].parent else {
            return;
        };
        let tail = checkpoints[c].max_tail + (checkpoints[c].len_at - checkpoints[parent].len_at);
        checkpoints[parent].max_tail = checkpoints[parent].max_tail.max(tail);
        // Completed checkpoints keep their state for pruning but no longer need a parent link.
        c = parent;
    }
}

/// Whether two states are the same as far as a loop is concerned (ids may have grown).
fn same_loop_state(a: &State, b: &State) -> bool {
    a.frames == b.frames && a.packet_range == b.packet_range && a.var_ranges == b.var_ranges
}

/// A hash of what [`same_loop_state`] compares (FNV-style multiply-xor, a word at a time,
/// over the derived `Hash`).
fn loop_key(state: &State) -> u64 {
    use core::hash::{Hash, Hasher};
    struct Mix(u64);
    impl Mix {
        fn word(&mut self, w: u64) {
            self.0 = (self.0 ^ w).wrapping_mul(0x0100_0000_01b3).rotate_left(29);
        }
    }
    impl Hasher for Mix {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            let mut chunks = bytes.chunks_exact(8);
            for c in &mut chunks {
                self.word(u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]));
            }
            for &b in chunks.remainder() {
                self.word(u64::from(b));
            }
        }
        fn write_u8(&mut self, v: u8) {
            self.word(u64::from(v));
        }
        fn write_u16(&mut self, v: u16) {
            self.word(u64::from(v));
        }
        fn write_u32(&mut self, v: u32) {
            self.word(u64::from(v));
        }
        fn write_u64(&mut self, v: u64) {
            self.word(v);
        }
        fn write_usize(&mut self, v: usize) {
            self.word(v as u64);
        }
    }
    let mut h = Mix(0xcbf2_9ce4_8422_2325);
    state.frames.hash(&mut h);
    state.packet_range.hash(&mut h);
    state.var_ranges.hash(&mut h);
    h.finish()
}

/// Work units a stored state costs besides its weight (an allocation and its bookkeeping).
const STORE_UNITS: u64 = 32;

/// Counts `units` of work against the budget.
fn charge(stats: &mut VerifyStats, units: u64, options: &Options) -> Result<(), ErrorKind> {
    stats.work_units += units;
    if stats.work_units > options.max_work_units {
        return Err(ErrorKind::TooComplex);
    }
    Ok(())
}

/// Verifies decoded instructions for `prog_type` with `maps`.
pub fn verify(
    insns: &[Insn],
    prog_type: &ProgramType,
    maps: &[MapDef],
    options: &Options,
) -> Result<VerifyStats, VerifyError> {
    let facts = Facts { insns, prog_type, maps, reject_division_by_zero: options.reject_division_by_zero };
    let points = prune_points(insns);
    let live = liveness::live_in(insns);
    let mut visited: Vec<Vec<usize>> = vec![Vec::new(); insns.len()];
    let initial = options.initial_state.clone().unwrap_or_else(|| initial_state(prog_type));
    let mut checkpoints = vec![Checkpoint {
        key: loop_key(&initial),
        state: initial.clone(),
        parent: None,
        branches: 1,
        len_at: 0,
        max_tail: 0,
    }];
    let mut stats = VerifyStats::default();
    let mut pending = vec![Path { pc: 0, state: initial, checkpoint: 0, len: 0 }];

    'paths: while let Some(mut path) = pending.pop() {
        loop {
            let pc = path.pc;
            let fail = |kind| VerifyError::new(pc, kind);
            if points[pc] {
                // Dead registers never influence the rest of a path: forget them before comparing.
                if let Some(live) = &live {
                    for r in 0..10u8 {
                        if live[pc] & (1 << r) == 0 {
                            path.state.set_reg(r, Value::Uninit);
                        }
                    }
                }
                let weight = path.state.weight();
                // The state's loop key, computed once per visit (its cost is the state's size).
                charge(&mut stats, weight, options).map_err(fail)?;
                let key = loop_key(&path.state);
                for &c in &visited[pc] {
                    let cp = &checkpoints[c];
                    if cp.branches == 0 {
                        // A full containment test: it costs what the state weighs.
                        charge(&mut stats, weight, options).map_err(fail)?;
                        if cp.state.contains(&path.state) {
                            let total = path.len + cp.max_tail;
                            stats.paths_pruned += 1;
                            finish(&mut checkpoints, path.checkpoint, total);
                            continue 'paths;
                        }
                    } else if cp.key == key {
                        // Unfinished states (the loop heads on this path) differ in their key
                        // almost always: only a match costs a full comparison.
                        charge(&mut stats, weight, options).map_err(fail)?;
                        if same_loop_state(&cp.state, &path.state) {
                            return Err(fail(ErrorKind::InfiniteLoop));
                        }
                    }
                }
                // Unfinished states cost a key comparison each: cheap, but not free.
                let unfinished = visited[pc].iter().filter(|&&c| checkpoints[c].branches != 0).count() as u64;
                charge(&mut stats, unfinished / 16, options).map_err(fail)?;
                if visited[pc].len() < options.max_states_per_insn && stats.states_stored < options.max_states_total {
                    // Storing allocates; in the kernel's heap that is what a stored state costs most.
                    charge(&mut stats, weight + STORE_UNITS, options).map_err(fail)?;
                    checkpoints.push(Checkpoint {
                        key,
                        state: path.state.clone(),
                        parent: Some(path.checkpoint),
                        branches: 1,
                        len_at: path.len,
                        max_tail: 0,
                    });
                    path.checkpoint = checkpoints.len() - 1;
                    visited[pc].push(path.checkpoint);
                    stats.states_stored += 1;
                }
            }
            stats.insns_processed += 1;
            if stats.insns_processed > options.max_insns_processed {
                return Err(fail(ErrorKind::TooComplex));
            }
            charge(&mut stats, 1, options).map_err(fail)?;
            path.len += 1;
            let step = match facts.step(&mut path.state, pc) {
                Err(ErrorKind::FallOffEnd) if options.end_at_fall_off => Step::End,
                other => other.map_err(fail)?,
            };
            match step {
                Step::Next(n) => path.pc = n,
                Step::Fork(first, second, other) => {
                    charge(&mut stats, other.weight(), options).map_err(fail)?;
                    checkpoints[path.checkpoint].branches += 1;
                    pending.push(Path { pc: second, state: other, checkpoint: path.checkpoint, len: path.len });
                    path.pc = first;
                }
                Step::End => {
                    finish(&mut checkpoints, path.checkpoint, path.len);
                    continue 'paths;
                }
            }
        }
    }
    stats.worst_case_path_insns = checkpoints[0].max_tail;
    Ok(stats)
}
