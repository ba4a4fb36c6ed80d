//! Runs eBPF programs as native code: W^X executable memory and the call into JIT code.
//!
//! The translation itself is safe code in `kingly_bpf::jit`; this file only places the words
//! in executable memory and calls them.
//!
//! # API (what the agent runtime uses)
//!
//! ```ignore
//! let jit = JitProgram::compile(&verified)?;          // Err(JitError) -> use the interpreter
//! let r0 = jit.run(&mut ctx, &mut packet, &mut env)?; // same results as
//!                                                     // Interpreter::run_with_packet
//! jit.retire(&RCU);                                   // when replaced: freed after a grace period
//! ```
//!
//! `run` takes the same context, packet and [`Env`] as the interpreter and gives the same r0,
//! memory, map contents and errors (a helper's error carries the call's pc). Differences:
//! `env.budget_insns` counts only backward jumps and bpf-to-bpf calls (a program with neither
//! cannot loop and is not counted), so the JIT stops a run with `BudgetExhausted` (at the
//! jump's or call's pc) no earlier than the interpreter would; it refuses unverified programs at
//! `compile`; and a `Packet` context's `data`/`data_end` fields hold real addresses instead of
//! the interpreter's tagged ones. `run` may be called on any core, concurrently: per-run state
//! lives on the caller's stack and in this core's eBPF stack, whose bytes the program can reach
//! are zeroed before every run (`dc zva`; none for a program that never names r10).
//!
//! # Executable memory
//!
//! JIT code lives in a dedicated 8 MiB virtual window (level-1 entry 511, 4 KiB pages through
//! our own level-2/level-3 tables). `compile` writes the code to freshly allocated heap pages
//! (read-write, through the identity map), cleans them to the point of unification
//! (`dc cvau`, `dsb ish`), maps them into the window read-only and executable, then invalidates
//! the instruction cache for the window addresses (`ic ivau`, `dsb ish`, `isb`). Nothing ever
//! writes through the window and nothing executes through the identity map's alias, which
//! stays read-write. (The identity map of RAM is still executable at EL1, as it was before the
//! JIT; making it PXN outside the kernel text is a separate change in `mm::translation`.)
//! Dropping a [`JitProgram`] unmaps its pages (`tlbi vae1is`) and frees them; a program that
//! other cores may still be running must be dropped through [`JitProgram::retire`], which
//! waits for an RCU grace period.
//!
//! # Resources
//! Arm ARM D7.5.9 / K11.5 "Concurrent modification and execution of instructions" (the
//! cache-maintenance sequence), D8.3 (page descriptors: AP[2:1] = 0b10 is EL1 read-only).

use aarch64_cpu::asm::barrier;
use alloc::alloc::{alloc_zeroed, dealloc, Layout};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::arch::asm;
use core::ffi::c_void;
use core::sync::atomic::{AtomicU64, Ordering};
use kingly_bpf::jit::{self as bpf_jit, HelperBridge, HelperReturn, JitError, Stack};
use kingly_bpf::memory::STACK_BYTES;
use kingly_bpf::{ContextKind, Env, MapDef, ProgramType, RunError, VerifiedProgram};

use super::cpu::Aarch64Cpu;
use super::mmu;
use crate::cpu::{CpuOps, MAX_CPUS};

const PAGE_BYTES: usize = 4096;
const ENTRIES: usize = 512;
/// Level-3 tables in the window: 4 × 2 MiB.
const L3_TABLES: usize = 4;
const WINDOW_PAGES: usize = L3_TABLES * ENTRIES;
/// Level-1 entry of the window: the last GiB of the 39-bit space, unused by every board.
const WINDOW_L1_INDEX: usize = 511;
const WINDOW_BASE: u64 = (WINDOW_L1_INDEX as u64) << 30;

const VALID_TABLE: u64 = 0b11;
const PAGE: u64 = 0b11;
const AF: u64 = 1 << 10;
const SH_INNER: u64 = 0b11 << 8;
/// AP[2:1] = 0b10: read-only at EL1, no EL0 access.
const AP_EL1_READ_ONLY: u64 = 0b10 << 6;
const UXN: u64 = 1 << 54;
/// MAIR index 0 is normal write-back memory (see `mm::translation`).
const ATTR_NORMAL: u64 = 0 << 2;

#[repr(C, align(4096))]
struct PageTable([AtomicU64; ENTRIES]);

impl PageTable {
    const fn new() -> Self {
        Self([const { AtomicU64::new(0) }; ENTRIES])
    }
    fn address(&self) -> u64 {
        self.0.as_ptr() as u64
    }
}

static L2: PageTable = PageTable::new();
static L3: [PageTable; L3_TABLES] = [const { PageTable::new() }; L3_TABLES];
static WINDOW: spin::Once<()> = spin::Once::new();
/// One bit per window page: set while mapped.
static USED_PAGES: spin::Mutex<[u64; WINDOW_PAGES / 64]> = spin::Mutex::new([0; WINDOW_PAGES / 64]);

fn install_window() {
    WINDOW.call_once(|| {
        for (entry, table) in L2.0.iter().zip(&L3) {
            entry.store(table.address() | VALID_TABLE, Ordering::Relaxed);
        }
        barrier::dsb(barrier::ISHST);
        mmu::install_l1_table(WINDOW_L1_INDEX, L2.address());
    });
}

fn pte(page: usize) -> &'static AtomicU64 {
    &L3[page / ENTRIES].0[page % ENTRIES]
}

/// Reserves `pages` consecutive window pages; returns the first.
fn reserve(pages: usize) -> Option<usize> {
    let mut used = USED_PAGES.lock();
    let is_used = |used: &[u64], p: usize| used[p / 64] & (1 << (p % 64)) != 0;
    let mut start = 0;
    while start + pages <= WINDOW_PAGES {
        match (start..start + pages).find(|&p| is_used(&used[..], p)) {
            Some(busy) => start = busy + 1,
            None => {
                for p in start..start + pages {
                    used[p / 64] |= 1 << (p % 64);
                }
                return Some(start);
            }
        }
    }
    None
}

fn release(first: usize, pages: usize) {
    let mut used = USED_PAGES.lock();
    for p in first..first + pages {
        used[p / 64] &= !(1 << (p % 64));
    }
}

fn cache_line_bytes() -> (usize, usize) {
    let ctr: u64;
    // SAFETY: CTR_EL0 is a read-only ID register readable at EL1.
    unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    let dminline = 4 << ((ctr >> 16) & 0xf);
    let iminline = 4 << (ctr & 0xf);
    (dminline, iminline)
}

/// Native code for one program, mapped read-only and executable.
struct ExecRegion {
    /// Heap pages holding the code (written once through the identity map).
    backing: *mut u8,
    first_page: usize,
    pages: usize,
}

// SAFETY: the region is immutable after construction; the raw pointer is only freed in Drop.
unsafe impl Send for ExecRegion {}
// SAFETY: as above; shared references only read the window address.
unsafe impl Sync for ExecRegion {}

impl ExecRegion {
    fn layout(pages: usize) -> Layout {
        // A page-aligned layout of at least one page: the size cannot overflow for code that
        // fits the window, which the caller checked.
        Layout::from_size_align(pages * PAGE_BYTES, PAGE_BYTES).unwrap_or(Layout::new::<[u8; PAGE_BYTES]>())
    }

    fn new(code: &[u8]) -> Result<ExecRegion, JitError> {
        install_window();
        let pages = code.len().div_ceil(PAGE_BYTES).max(1);
        if pages > WINDOW_PAGES {
            return Err(JitError::TooLarge);
        }
        let first_page = reserve(pages).ok_or(JitError::OutOfExecutableMemory)?;
        // SAFETY: the layout has a non-zero size.
        let backing = unsafe { alloc_zeroed(Self::layout(pages)) };
        if backing.is_null() {
            release(first_page, pages);
            return Err(JitError::OutOfExecutableMemory);
        }
        // SAFETY: `backing` is a fresh allocation of `pages * PAGE_BYTES >= code.len()` bytes.
        unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), backing, code.len()) };
        let (dline, iline) = cache_line_bytes();
        // Clean the new instructions to the point of unification so instruction fetch sees them.
        for addr in (backing as usize..backing as usize + pages * PAGE_BYTES).step_by(dline) {
            // SAFETY: cache maintenance by VA on memory we own; it changes no contents.
            unsafe { asm!("dc cvau, {}", in(reg) addr, options(nostack, preserves_flags)) };
        }
        barrier::dsb(barrier::ISH);
        for i in 0..pages {
            let physical = backing as u64 + (i * PAGE_BYTES) as u64;
            let descriptor = physical | PAGE | AF | SH_INNER | ATTR_NORMAL | AP_EL1_READ_ONLY | UXN;
            pte(first_page + i).store(descriptor, Ordering::Relaxed);
        }
        // The entries were invalid, so no TLB holds them; make the stores visible to the walker.
        barrier::dsb(barrier::ISHST);
        let window = WINDOW_BASE as usize + first_page * PAGE_BYTES;
        for addr in (window..window + pages * PAGE_BYTES).step_by(iline) {
            // SAFETY: invalidates instruction-cache lines for our window addresses (broadcast
            // to the inner-shareable domain); no data changes.
            unsafe { asm!("ic ivau, {}", in(reg) addr, options(nostack, preserves_flags)) };
        }
        barrier::dsb(barrier::ISH);
        barrier::isb(barrier::SY);
        Ok(ExecRegion { backing, first_page, pages })
    }

    fn entry(&self) -> usize {
        WINDOW_BASE as usize + self.first_page * PAGE_BYTES
    }
}

impl Drop for ExecRegion {
    fn drop(&mut self) {
        for i in 0..self.pages {
            pte(self.first_page + i).store(0, Ordering::Relaxed);
        }
        barrier::dsb(barrier::ISHST);
        for i in 0..self.pages {
            let page = (WINDOW_BASE as usize + (self.first_page + i) * PAGE_BYTES) >> 12;
            // SAFETY: invalidates this VA's TLB entries on every core; needed before the
            // physical page is reused.
            unsafe { asm!("tlbi vae1is, {}", in(reg) page, options(nostack, preserves_flags)) };
        }
        barrier::dsb(barrier::ISH);
        barrier::isb(barrier::SY);
        release(self.first_page, self.pages);
        // SAFETY: allocated in `new` with the same layout; no mapping refers to it any more.
        unsafe { dealloc(self.backing, Self::layout(self.pages)) };
    }
}

/// An eBPF stack aligned so that [`zero_top`] can use `dc zva` on it (64-byte blocks on the
/// Cortex-A72; a block larger than the alignment falls back to stores).
#[repr(C, align(512))]
struct CoreStack(Stack);

/// One eBPF stack per core, reused across runs (zeroed where the next program can reach
/// before each run).
static STACKS: [spin::Mutex<CoreStack>; MAX_CPUS] = [const { spin::Mutex::new(CoreStack([0; STACK_BYTES])) }; MAX_CPUS];

/// Zeroes the top `bytes` of `stack` (at most all of it).
///
/// `dc zva` zeroes one block (DCZID_EL0.BS: 64 bytes on a Cortex-A72) per instruction without
/// reading it first. `bpf-jit-bench` measures 57 guest instructions for a 512-byte frame (an
/// out-of-line call included) where `fill`, the library `memset` (8 bytes per 3 instructions
/// under the kernel's `strict-align`), takes 226; 197 against 1570 for the whole stack. It needs Normal
/// memory and is allowed at EL1 unless DCZID_EL0.DZP says otherwise; then, or when the region
/// is not whole aligned groups of four blocks, `fill` does it.
pub fn zero_top(stack: &mut Stack, bytes: usize) {
    let region = &mut stack[STACK_BYTES - bytes.min(STACK_BYTES)..];
    let dczid: u64;
    // SAFETY: DCZID_EL0 is a read-only ID register, readable at EL1.
    unsafe { asm!("mrs {}, dczid_el0", out(reg) dczid, options(nomem, nostack, preserves_flags)) };
    let block = 4usize << (dczid & 0xf);
    let prohibited = dczid & 0x10 != 0;
    let aligned = (region.as_ptr() as usize).is_multiple_of(block) && region.len().is_multiple_of(4 * block);
    if prohibited || !aligned || region.is_empty() {
        region.fill(0);
        return;
    }
    let start = region.as_mut_ptr();
    let end = start.wrapping_add(region.len());
    // SAFETY: `dc zva` writes zeros to the naturally aligned `block`-byte block holding the
    // address. `region` starts on a block boundary and is a non-zero number of groups of four
    // blocks, so the loop zeroes exactly `region`, which we borrow mutably, and stops at its
    // end. The memory is Normal cacheable: every byte array the kernel borrows is (device
    // memory is reached only through its register blocks).
    unsafe {
        asm!(
            "2:",
            "dc zva, {p}",
            "add {p}, {p}, {block}",
            "dc zva, {p}",
            "add {p}, {p}, {block}",
            "dc zva, {p}",
            "add {p}, {p}, {block}",
            "dc zva, {p}",
            "add {p}, {p}, {block}",
            "cmp {p}, {end}",
            "b.lo 2b",
            p = inout(reg) start => _,
            block = in(reg) block,
            end = in(reg) end,
            options(nostack),
        );
    }
}

/// A copy of this core's eBPF stack as the last JIT run on it left it (for the JIT suites'
/// stack-clearing check); `None` while a run holds it.
pub fn this_core_stack() -> Option<Stack> {
    STACKS.get(Aarch64Cpu::cpu_id()).and_then(|stack| stack.try_lock()).map(|stack| stack.0)
}

/// The generated entry point: `(r1, r2, bridge, r10, trampoline, budget) -> r0`.
type Entry = unsafe extern "C" fn(u64, u64, *mut c_void, u64, usize, u64) -> u64;

/// The entry point of a leaf that never names r10: `(r1, r2) -> r0`.
type LeafEntry = unsafe extern "C" fn(u64, u64) -> u64;

type Trampoline = extern "C" fn(*mut c_void, u64, u64, u64, u64, u64, u64, u64) -> HelperReturn;

/// Called by JIT code for every helper call: `(bridge, id, r1..r5, pc) -> (r0, stop)`.
#[allow(clippy::too_many_arguments)] // the A64 argument registers, as the JIT fills them
extern "C" fn helper_trampoline(
    bridge: *mut c_void,
    id: u64,
    r1: u64,
    r2: u64,
    r3: u64,
    r4: u64,
    r5: u64,
    pc: u64,
) -> HelperReturn {
    // SAFETY: JIT code passes back exactly the pointer `JitProgram::run` gave it in x2 (kept in
    // x26, callee-saved), which points at a live `HelperBridge` on `run`'s stack for the whole
    // call; nothing else references the bridge while native code runs.
    let bridge = unsafe { &mut *bridge.cast::<HelperBridge<'_>>() };
    bridge.call(id, [r1, r2, r3, r4, r5], pc as usize)
}

/// A verified program compiled to native code. See the module documentation.
pub struct JitProgram {
    region: ExecRegion,
    prog_type: ProgramType,
    maps: Vec<MapDef>,
    /// The code as translated (what was copied into the window), kept for `bpf_dump`.
    code: bpf_jit::aarch64::Code,
    /// Bytes at the top of the eBPF stack the program can use, zeroed before each run.
    stack_bytes: usize,
    /// A leaf (`kingly_bpf::jit::aarch64::is_leaf`): runs without a helper bridge.
    leaf: bool,
    /// A plain leaf that never names r10 (every decision program the cache fronts, and the
    /// conformance suite's straight-line programs): [`JitProgram::run`] calls its code directly.
    direct: bool,
    /// r1 and r2 at entry, without a match on the context kind.
    entry_masks: bpf_jit::EntryMasks,
    /// The context bytes the verifier assumed (`kingly_bpf::jit::context_bytes`).
    ctx_bytes: usize,
}

impl JitProgram {
    /// Compiles `prog` and maps the code executable. Errors mean "use the interpreter".
    pub fn compile(prog: &VerifiedProgram) -> Result<JitProgram, JitError> {
        let code = bpf_jit::aarch64::compile(prog)?;
        let bytes = code.bytes();
        let region = ExecRegion::new(&bytes)?;
        let context = prog.program_type().context;
        let plain = prog.maps().is_empty() && !matches!(context, ContextKind::Packet { .. });
        // Whole groups of four 64-byte blocks, which `zero_top` clears with `dc zva`.
        let stack_bytes = bpf_jit::stack_bytes_used(prog.insns()).next_multiple_of(256).min(STACK_BYTES);
        Ok(JitProgram {
            prog_type: *prog.program_type(),
            maps: prog.maps().to_vec(),
            stack_bytes,
            leaf: code.leaf,
            direct: plain && code.leaf && stack_bytes == 0,
            entry_masks: bpf_jit::EntryMasks::new(context),
            ctx_bytes: bpf_jit::context_bytes(context),
            region,
            code,
        })
    }

    /// Address of the first instruction (in the JIT window).
    pub fn entry_address(&self) -> usize {
        self.region.entry()
    }

    /// Bytes of native code.
    pub fn code_bytes(&self) -> usize {
        self.code.words.len() * 4
    }

    /// The code as translated, with each eBPF slot's word offset.
    pub fn code(&self) -> &bpf_jit::aarch64::Code {
        &self.code
    }

    /// Bytes of the eBPF stack zeroed before each run: what the program can reach (see
    /// `kingly_bpf::jit::stack_bytes_used`) in whole 256-byte groups, 0 for a program that
    /// never names r10.
    pub fn stack_bytes(&self) -> usize {
        self.stack_bytes
    }

    /// Runs the program; same contract and results as `Interpreter::run_with_packet`.
    ///
    /// The eBPF stack is this core's, its top [`JitProgram::stack_bytes`] zeroed first: the
    /// verifier proved that no program reads a stack byte it did not write, and should it be
    /// wrong, the program reads zeros rather than an earlier run's data. A run nested on the
    /// same core (from an interrupt) gets a fresh zeroed stack on the kernel stack.
    ///
    /// A program that cannot reach the stack at all (`stack_bytes` 0: it never names r10) runs
    /// without one: no per-core stack to take, nothing to clear.
    #[inline(always)]
    pub fn run(&self, ctx: &mut [u8], packet: &mut [u8], env: &mut Env<'_>) -> Result<u64, RunError> {
        if self.direct {
            return self.run_direct(ctx, env);
        }
        self.run_other(ctx, packet, env)
    }

    /// [`JitProgram::run`] of a `direct` program: inlined into the caller (the `dyn Compiled`
    /// method), so that a decision program's run is two compares and the call.
    #[inline(always)]
    fn run_direct(&self, ctx: &mut [u8], env: &mut Env<'_>) -> Result<u64, RunError> {
        if ctx.len() < self.ctx_bytes || !env.maps.is_empty() {
            return Err(self.refusal(ctx, env));
        }
        // SAFETY: `entry` is the start of code produced by `kingly_bpf::jit::aarch64::compile`
        // for this program, mapped executable until `self` is dropped. A leaf's entry reads
        // only x0 and x1 (r1, r2) and x3 (r10) if the program names r10, which a `direct` one
        // does not (`stack_bytes` 0): the two-argument signature is the one its prologue
        // implements.
        let entry: LeafEntry = unsafe { core::mem::transmute::<usize, LeafEntry>(self.region.entry()) };
        let (r1, r2) = self.entry_masks.registers(ctx);
        // SAFETY: the program was verified for this context (a structure or buffer of
        // `ctx_bytes`, or none; not a packet), so its accesses stay inside the context, which
        // is at least that long (checked above); it has no maps; it never names r10, so it
        // touches no stack; as a leaf it calls no helper and never stops early; the code
        // preserves the AAPCS64 callee-saved registers.
        Ok(unsafe { entry(r1, r2) })
    }

    /// Why a `direct` run was refused (out of line: never taken by a correct caller).
    #[cold]
    #[inline(never)]
    fn refusal(&self, ctx: &[u8], env: &Env<'_>) -> RunError {
        match bpf_jit::check_sizes(self.prog_type.context, &[], ctx, env.maps) {
            Err(error) => error,
            Ok(()) => RunError { pc: 0, kind: kingly_bpf::RunErrorKind::MapMismatch },
        }
    }

    /// [`JitProgram::run`] of a program that is not `direct`.
    #[inline(never)]
    fn run_other(&self, ctx: &mut [u8], packet: &mut [u8], env: &mut Env<'_>) -> Result<u64, RunError> {
        if self.leaf && self.stack_bytes == 0 {
            return self.run_bare(ctx, packet, env);
        }
        self.run_framed(ctx, packet, env)
    }

    /// A run of a leaf that never names r10: no stack, no bridge, just the checks and the
    /// call. A function of its own, so that it saves only the registers it needs (as part of
    /// the general run, it saved all ten callee-saved ones). A leaf without maps or a packet
    /// never gets here: [`JitProgram::run`] calls it directly.
    #[inline(never)]
    fn run_bare(&self, ctx: &mut [u8], packet: &mut [u8], env: &mut Env<'_>) -> Result<u64, RunError> {
        bpf_jit::check(&self.prog_type, &self.maps, ctx, packet, env.maps)?;
        let (r1, r2, _) = bpf_jit::entry_registers(self.prog_type.context, ctx, &mut []);
        // SAFETY: `entry` is the start of code produced by `kingly_bpf::jit::aarch64::compile`
        // for this program, mapped executable until `self` is dropped. A leaf's entry reads
        // only x0 and x1 (r1, r2) and x3 (r10) if the program names r10, which this one does
        // not (`stack_bytes` 0): the two-argument signature is the one its prologue implements.
        let entry: LeafEntry = unsafe { core::mem::transmute::<usize, LeafEntry>(self.region.entry()) };
        // SAFETY: the program was verified for this context, so its accesses stay inside the
        // context (at least as long as the verifier assumed, checked above) and the packet;
        // it never names r10, so it touches no stack; as a leaf it calls no helper and never
        // stops early; the code preserves the AAPCS64 callee-saved registers.
        Ok(unsafe { entry(r1, r2) })
    }

    /// [`JitProgram::run`] of a program that uses the stack or calls helpers.
    #[inline(never)]
    fn run_framed(&self, ctx: &mut [u8], packet: &mut [u8], env: &mut Env<'_>) -> Result<u64, RunError> {
        if self.stack_bytes == 0 {
            return self.run_on(&mut [], ctx, packet, env);
        }
        match STACKS.get(Aarch64Cpu::cpu_id()).and_then(|stack| stack.try_lock()) {
            Some(mut stack) => {
                zero_top(&mut stack.0, self.stack_bytes);
                self.run_on(&mut stack.0, ctx, packet, env)
            }
            None => self.run_nested(ctx, packet, env),
        }
    }

    /// [`JitProgram::run`] nested in another run on this core: on a fresh zeroed stack. Out of
    /// line, so that the usual run does not reserve 4 KiB of kernel stack for it.
    #[cold]
    #[inline(never)]
    fn run_nested(&self, ctx: &mut [u8], packet: &mut [u8], env: &mut Env<'_>) -> Result<u64, RunError> {
        self.run_on(&mut [0; STACK_BYTES], ctx, packet, env)
    }

    #[inline(always)]
    fn run_on(&self, stack: &mut [u8], ctx: &mut [u8], packet: &mut [u8], env: &mut Env<'_>) -> Result<u64, RunError> {
        let budget = env.budget_insns;
        // SAFETY: `entry` is the start of code produced by `kingly_bpf::jit::aarch64::compile`
        // for this program, mapped executable until `self` is dropped; its signature is the
        // one the translator's prologue implements.
        let entry: Entry = unsafe { core::mem::transmute::<usize, Entry>(self.region.entry()) };
        if self.leaf {
            bpf_jit::check(&self.prog_type, &self.maps, ctx, packet, env.maps)?;
            let (r1, r2, r10) = bpf_jit::entry_registers(self.prog_type.context, ctx, stack);
            // SAFETY: as below. A leaf calls no helper and never stops early (the translator
            // gives it no trampoline call and no abort path), so its code never reads the
            // bridge and trampoline arguments, which are null here.
            return Ok(unsafe { entry(r1, r2, core::ptr::null_mut(), r10, 0, budget) });
        }
        let mut bridge = bpf_jit::prepare(&self.prog_type, &self.maps, stack, ctx, packet, env)?;
        let (r1, r2, r10) = bridge.entry_registers(self.prog_type.context);
        let bridge_ptr = (&mut bridge as *mut HelperBridge<'_>).cast::<c_void>();
        let trampoline: Trampoline = helper_trampoline;
        // SAFETY: the program was verified for this context: every memory access the code
        // makes stays inside the stack, context, packet and map storage that `bridge` borrows
        // for this call, and the code preserves the AAPCS64 callee-saved registers and sp.
        let r0 = unsafe { entry(r1, r2, bridge_ptr, r10, trampoline as usize, budget) };
        bridge.finish(r0)
    }

    /// Drops the program after a grace period of `rcu` (the domain its readers are in), so
    /// cores still running it finish first. Use this when a program is replaced or unloaded.
    pub fn retire(self, rcu: &dyn crate::rcu::Retire) {
        rcu.retire_object(Box::new(self));
    }
}

/// Whether an EL1 read (or write) of `address` would translate, asked of the MMU with
/// `AT S1E1R`/`AT S1E1W` (PAR_EL1.F is set when it would fault). Lets tests check W^X.
pub fn probe(address: usize, write: bool) -> bool {
    let par: u64;
    // SAFETY: address translation instructions only query the MMU and write PAR_EL1.
    unsafe {
        if write {
            asm!("at s1e1w, {}", "isb", "mrs {par}, par_el1", in(reg) address, par = out(reg) par, options(nostack, preserves_flags));
        } else {
            asm!("at s1e1r, {}", "isb", "mrs {par}, par_el1", in(reg) address, par = out(reg) par, options(nostack, preserves_flags));
        }
    }
    par & 1 == 0
}
