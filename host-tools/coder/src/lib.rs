//! The Kingly coder: an English task becomes a verified eBPF extension.
//!
//! The stages, in the order a task flows through them ([`coder::run`]):
//!
//! 1. [`architect`] — task → spec: program type, hook, context layout, budget; DSL families
//!    ranked by BM25 ([`retrieval`]) over the exemplar library and catalogs ([`catalog`]);
//!    literals named in the text; whether the examples need map state.
//! 2. Generator — K candidates per round, one per tree-of-thought branch: the offline
//!    synthesizer ([`synth`] over the [`dsl`], compiled by [`codegen`]) or a chat model ([`llm`]).
//! 3. Safety, Tester, Performance ([`stages`]) — kingly-bpf's verifier (the kernel's), the host
//!    VM on the examples and generated edge cases, the worst-case path against the hook budget.
//! 4. Synthesis — the best passing candidate (supported by the text, not memorising, following
//!    the text's length clause, fewest warnings, then shortest description); failures become
//!    feedback for the next round. Every candidate (source, assembly, verdict, why) is a JSON
//!    line of the attempt log.
//! 5. Verdict ([`coder::Status`]) — `solved` only when the chosen program is supported by the
//!    text, memorises nothing, honours the text's clauses on [`probe`] inputs, and every equally
//!    supported candidate answers those probes the same way; `ambiguous` (with questions naming
//!    a separating input) when they disagree; `unsure` when it fits only by coincidence;
//!    `unsupported` when nothing fits.
//!
//! [`eval`] runs a directory of [`task`] files on part of their examples and checks each solved
//! program on the held-back examples and the task file's reference examples: `solved`,
//! `correct`, `wrong` (solved but wrong: must stay 0), `ambiguous`, `unsure`, `unsupported`.
//! [`dataset`] turns attempt logs and task sets into fine-tuning data (`kingly dataset`).
#![forbid(unsafe_code)]

pub mod architect;
pub mod catalog;
pub mod codegen;
pub mod coder;
pub mod dataset;
pub mod dsl;
pub mod eval;
pub mod llm;
pub mod probe;
pub mod retrieval;
pub mod stages;
pub mod synth;
pub mod task;

pub use architect::{ContextSource, Spec};
pub use coder::{run, Committee, Generator, OfflineGenerator, RunResult, Settings};
pub use llm::{LlmConfig, LlmGenerator};
pub use task::Task;
