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
//! 4. Synthesis — the best passing candidate (fewest warnings, simplest, cheapest worst case);
//!    failures become feedback for the next round. Every attempt is a JSON line.
//!
//! [`eval`] runs a directory of [`task`] files and reports solved, pass@k and timings.
#![forbid(unsafe_code)]

pub mod architect;
pub mod catalog;
pub mod codegen;
pub mod coder;
pub mod dsl;
pub mod eval;
pub mod llm;
pub mod probe;
pub mod retrieval;
pub mod stages;
pub mod synth;
pub mod task;

pub use architect::{ContextSource, Spec};
pub use coder::{run, Generator, OfflineGenerator, RunResult, Settings};
pub use llm::{LlmConfig, LlmGenerator};
pub use task::Task;
