//! Knowledge the coder loop copies from, extracted from the tree: BPF helper prototypes (from
//! `include/uapi/linux/bpf.h`), locking and RCU idioms, and goto-unwind error handling, each
//! with exemplar locations found through the index and checked against the code itself.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::query::{Hit, Mode, Retriever};
use super::source;
use super::CatalogArgs;

/// The UAPI header that documents every helper.
pub const BPF_HEADER: &str = "include/uapi/linux/bpf.h";
/// Exemplars kept per catalog entry.
const EXEMPLARS: usize = 3;
/// Ranked chunks checked for exemplars per entry.
const EXEMPLAR_CANDIDATES: usize = 200;
/// Exemplar functions longer than this are poor examples to copy.
const MAX_EXEMPLAR_LINES: u32 = 80;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    BpfHelpers,
    Locking,
    Errors,
}

/// A place in the tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Location {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub symbol: String,
}

/// One BPF helper as the UAPI header documents it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BpfHelper {
    /// The helper number (its position in `__BPF_FUNC_MAPPER`), which programs call by.
    pub id: u32,
    /// `bpf_map_lookup_elem`.
    pub name: String,
    /// `void *bpf_map_lookup_elem(struct bpf_map *map, const void *key)`.
    pub prototype: String,
    pub description: String,
    pub returns: String,
    /// Where the header documents it.
    pub documented_at: Location,
    /// Where the kernel implements it (`BPF_CALL_n(bpf_…)`), when an index was given.
    pub defined_at: Option<Location>,
}

/// Parses the helper list and documentation comment of `include/uapi/linux/bpf.h`.
pub fn parse_bpf_helpers(header: &str) -> Vec<BpfHelper> {
    // Helper numbers: order of FN(name) in __BPF_FUNC_MAPPER (6.1 has no explicit numbers;
    // later kernels write FN(name, id), which this also reads).
    let mut ids = std::collections::HashMap::new();
    if let Some(start) = header.find("#define __BPF_FUNC_MAPPER(FN)") {
        let body = &header[start..];
        let end = body.find("\n\n").unwrap_or(body.len());
        for (position, call) in body[..end].split("FN(").skip(1).enumerate() {
            let inner = call.split(')').next().unwrap_or_default();
            let mut parts = inner.split(',').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let id = parts.next().and_then(|id| id.parse().ok()).unwrap_or(position as u32);
            ids.insert(format!("bpf_{name}"), id);
        }
    }
    let lines: Vec<&str> = header.lines().collect();
    let mut helpers = Vec::new();
    let mut row = 0;
    while row < lines.len() {
        let line = lines[row];
        let Some(prototype) = line.strip_prefix(" * ").filter(|rest| !rest.starts_with(['\t', ' '])) else {
            row += 1;
            continue;
        };
        let name = prototype
            .split('(')
            .next()
            .and_then(|head| head.rsplit([' ', '*']).next())
            .filter(|name| name.starts_with("bpf_") && prototype.contains('('));
        let Some(name) = name.filter(|name| ids.contains_key(*name)) else {
            row += 1;
            continue;
        };
        let mut description = String::new();
        let mut returns = String::new();
        let mut section: Option<&mut String> = None;
        let start = row;
        row += 1;
        while row < lines.len() {
            let body = lines[row].strip_prefix(" *").unwrap_or("");
            if body.starts_with(' ') && !body.starts_with(" \t") && !body.trim().is_empty()
                || lines[row].starts_with(" */")
            {
                break; // the next prototype, or the end of the comment
            }
            match body.trim() {
                "Description" => section = Some(&mut description),
                "Return" => section = Some(&mut returns),
                text => {
                    if let Some(target) = section.as_deref_mut() {
                        if !text.is_empty() {
                            if !target.is_empty() {
                                target.push(' ');
                            }
                            target.push_str(text);
                        }
                    }
                }
            }
            row += 1;
        }
        helpers.push(BpfHelper {
            id: ids[name],
            name: name.to_string(),
            prototype: prototype.trim().to_string(),
            description,
            returns,
            documented_at: Location {
                path: BPF_HEADER.to_string(),
                start_line: start as u32 + 1,
                end_line: row as u32,
                symbol: name.to_string(),
            },
            defined_at: None,
        });
    }
    helpers.sort_by_key(|helper| helper.id);
    helpers
}

/// The helper catalog of the tree at `root`, with definitions located through `retriever`.
pub fn bpf_helpers(root: &Path, retriever: Option<&Retriever>) -> Result<Vec<BpfHelper>> {
    let path = root.join(BPF_HEADER);
    let header = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut helpers = parse_bpf_helpers(&header);
    if let Some(retriever) = retriever {
        for helper in &mut helpers {
            let hits = retriever.search(&helper.name, 5, Mode::Bm25)?;
            helper.defined_at = hits
                .into_iter()
                .find(|hit| (hit.kind == "function" || hit.kind == "lines") && hit.symbol == helper.name)
                .map(|hit| Location {
                    path: hit.path,
                    start_line: hit.start_line,
                    end_line: hit.end_line,
                    symbol: hit.symbol,
                });
        }
    }
    Ok(helpers)
}

/// A coding pattern and where the kernel uses it well.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Idiom {
    pub name: &'static str,
    /// `locking`, `rcu` or `errors`.
    pub category: &'static str,
    pub summary: &'static str,
    /// Calls an exemplar must contain, in this order.
    pub calls: &'static [&'static str],
    pub exemplars: Vec<Location>,
}

struct IdiomSpec {
    name: &'static str,
    category: &'static str,
    summary: &'static str,
    /// Calls an exemplar makes, in order. One that starts with `_` is a suffix (`_lock(`
    /// matches `spin_lock(` and `mutex_lock(`), checked in the code but not searched for.
    calls: &'static [&'static str],
}

const IDIOMS: &[IdiomSpec] = &[
    IdiomSpec {
        name: "spin_lock_irqsave",
        category: "locking",
        summary: "Lock shared with interrupt handlers: save and disable local IRQs, restore on unlock.",
        calls: &["spin_lock_irqsave(", "spin_unlock_irqrestore("],
    },
    IdiomSpec {
        name: "spin_lock_bh",
        category: "locking",
        summary: "Lock shared with softirqs (networking, timers): disable bottom halves while held.",
        calls: &["spin_lock_bh(", "spin_unlock_bh("],
    },
    IdiomSpec {
        name: "mutex_lock",
        category: "locking",
        summary: "Sleeping lock for process context; never from atomic context.",
        calls: &["mutex_lock(", "mutex_unlock("],
    },
    IdiomSpec {
        name: "raw_spin_lock",
        category: "locking",
        summary: "Spinlock that stays spinning under PREEMPT_RT, for core code and IRQ chips.",
        calls: &["raw_spin_lock(", "raw_spin_unlock("],
    },
    IdiomSpec {
        name: "seqlock reader retry",
        category: "locking",
        summary: "Lockless reader of rarely written data: retry when a writer raced.",
        calls: &["read_seqcount_begin(", "read_seqcount_retry("],
    },
    IdiomSpec {
        name: "rcu_read_lock + rcu_dereference",
        category: "rcu",
        summary: "Read an RCU-protected pointer inside a read-side critical section.",
        calls: &["rcu_read_lock(", "rcu_dereference(", "rcu_read_unlock("],
    },
    IdiomSpec {
        name: "rcu_assign_pointer publish",
        category: "rcu",
        summary: "Publish a fully initialised object to RCU readers.",
        calls: &["rcu_assign_pointer("],
    },
    IdiomSpec {
        name: "synchronize_rcu before free",
        category: "rcu",
        summary: "Unpublish, wait for a grace period, then free: readers can no longer see the object.",
        calls: &["synchronize_rcu(", "kfree("],
    },
    IdiomSpec {
        name: "call_rcu deferred free",
        category: "rcu",
        summary: "Free after a grace period without blocking: an rcu_head callback.",
        calls: &["call_rcu("],
    },
    IdiomSpec {
        name: "kfree_rcu",
        category: "rcu",
        summary: "Free an object with an rcu_head after a grace period, no callback needed.",
        calls: &["kfree_rcu("],
    },
    IdiomSpec {
        name: "list_for_each_entry_rcu",
        category: "rcu",
        summary: "Walk an RCU-protected list under rcu_read_lock.",
        calls: &["rcu_read_lock(", "list_for_each_entry_rcu(", "rcu_read_unlock("],
    },
    IdiomSpec {
        name: "list_add_rcu under lock",
        category: "rcu",
        summary: "Writers serialise with a lock (spinlock or mutex) and publish entries with list_add_rcu.",
        calls: &["_lock(", "list_add_rcu(", "_unlock("],
    },
];

/// Checks that `calls` occur in `text` in order.
fn contains_in_order(text: &str, calls: &[&str]) -> bool {
    let mut rest = text;
    for call in calls {
        match rest.find(call) {
            Some(at) => rest = &rest[at + call.len()..],
            None => return false,
        }
    }
    true
}

/// Short functions among `hits` whose code passes `check`.
fn exemplars(retriever: &Retriever, mut hits: Vec<Hit>, check: impl Fn(&str) -> bool) -> Result<Vec<Location>> {
    let mut found = Vec::new();
    hits.retain(|hit| hit.kind == "function" && hit.end_line - hit.start_line < MAX_EXEMPLAR_LINES);
    // Prefer core code over drivers: it is reviewed by the subsystem's maintainers.
    hits.sort_by_key(|hit| {
        (hit.path.starts_with("drivers/") || hit.path.starts_with("tools/"), hit.end_line - hit.start_line)
    });
    for hit in hits {
        let code = source::read_lines(retriever.source_root(), &hit.path, hit.start_line, hit.end_line, usize::MAX)
            .unwrap_or_default();
        if check(&code) {
            found.push(Location {
                path: hit.path,
                start_line: hit.start_line,
                end_line: hit.end_line,
                symbol: hit.symbol,
            });
            if found.len() == EXEMPLARS {
                break;
            }
        }
    }
    Ok(found)
}

/// Locking and RCU idioms with exemplars.
pub fn locking_idioms(retriever: &Retriever) -> Result<Vec<Idiom>> {
    IDIOMS
        .iter()
        .map(|spec| {
            let names: Vec<&str> = spec
                .calls
                .iter()
                .filter(|call| !call.starts_with('_'))
                .map(|call| call.trim_end_matches('('))
                .collect();
            let hits = retriever.using(&names, EXEMPLAR_CANDIDATES)?;
            Ok(Idiom {
                name: spec.name,
                category: spec.category,
                summary: spec.summary,
                calls: spec.calls,
                exemplars: exemplars(retriever, hits, |code| contains_in_order(code, spec.calls))?,
            })
        })
        .collect()
}

/// Labels that `goto` jumps to, in order of first use, when the function unwinds through at
/// least two of them and each label is defined below in reverse acquisition order.
pub fn unwind_labels(code: &str) -> Option<Vec<String>> {
    let mut gotos: Vec<String> = Vec::new();
    for part in code.split("goto ").skip(1) {
        let label: String = part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !label.is_empty() && !gotos.contains(&label) {
            gotos.push(label);
        }
    }
    if gotos.len() < 2 {
        return None;
    }
    let position = |label: &str| code.lines().position(|line| line.trim_end() == format!("{label}:"));
    let positions: Option<Vec<usize>> = gotos.iter().map(|label| position(label)).collect();
    let positions = positions?;
    // Later acquisitions jump to labels placed earlier (they undo more): strictly descending.
    positions.windows(2).all(|pair| pair[0] > pair[1]).then_some(gotos)
}

/// Goto-unwind error handling, with exemplars whose labels really unwind in reverse order.
pub fn error_idioms(retriever: &Retriever) -> Result<Vec<Idiom>> {
    let specs: [(&'static str, &'static str, &'static str, &'static [&'static str]); 2] = [
        (
            "goto unwind",
            "Acquire in order; on failure jump to the label that releases everything acquired so far, labels in reverse order.",
            "goto err_free out_free err_unregister err_put",
            &["goto ", "return 0;", "return "],
        ),
        (
            "probe unwind with devm",
            "Driver probe: managed (devm_) allocations need no unwinding; only the rest gets labels.",
            "probe devm_kzalloc goto err",
            &["devm_", "goto "],
        ),
    ];
    specs
        .into_iter()
        .map(|(name, summary, query, calls)| {
            Ok(Idiom {
                name,
                category: "errors",
                summary,
                calls,
                exemplars: exemplars(retriever, retriever.search(query, EXEMPLAR_CANDIDATES, Mode::Bm25)?, |code| {
                    contains_in_order(code, calls) && unwind_labels(code).is_some()
                })?,
            })
        })
        .collect()
}

/// `kingly rag catalog`.
pub fn run(args: &CatalogArgs) -> Result<i32> {
    let index_dir = args.index.clone().unwrap_or_else(super::default_index_dir);
    let retriever = Retriever::open(&index_dir).ok();
    let root = match (&args.source, &retriever) {
        (Some(root), _) => root.clone(),
        (None, Some(retriever)) => retriever.source_root().to_path_buf(),
        (None, None) => anyhow::bail!("no index at {} and no --source", index_dir.display()),
    };
    let need_index = || retriever.as_ref().context("this catalog needs an index: run `kingly rag index` first");
    match args.which {
        Which::BpfHelpers => {
            let helpers = bpf_helpers(&root, retriever.as_ref())?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&helpers)?);
            } else {
                for helper in &helpers {
                    let defined = helper
                        .defined_at
                        .as_ref()
                        .map(|at| format!("  [{}:{}]", at.path, at.start_line))
                        .unwrap_or_default();
                    println!("{:>3} {}{defined}", helper.id, helper.prototype);
                }
            }
        }
        Which::Locking | Which::Errors => {
            let retriever = need_index()?;
            let idioms =
                if args.which == Which::Locking { locking_idioms(retriever)? } else { error_idioms(retriever)? };
            if args.json {
                println!("{}", serde_json::to_string_pretty(&idioms)?);
            } else {
                for idiom in &idioms {
                    println!("{} ({}): {}", idiom.name, idiom.category, idiom.summary);
                    for at in &idiom.exemplars {
                        println!("    {}:{}-{} {}", at.path, at.start_line, at.end_line, at.symbol);
                    }
                }
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwind_labels_in_reverse_order() {
        let good = "int f(void)\n{\n\ta = get();\n\tif (!a)\n\t\tgoto out;\n\tb = get();\n\tif (!b)\n\t\tgoto put_a;\n\treturn 0;\nput_a:\n\tput(a);\nout:\n\treturn -ENOMEM;\n}\n";
        assert_eq!(unwind_labels(good), Some(vec!["out".to_string(), "put_a".to_string()]));
        let wrong_order = good.replace("put_a:\n\tput(a);\nout:", "out:\n\tput(a);\nput_a:");
        assert_eq!(unwind_labels(&wrong_order), None);
    }

    #[test]
    fn calls_in_order() {
        assert!(contains_in_order("a(); b(); c();", &["a(", "c("]));
        assert!(!contains_in_order("c(); a();", &["a(", "c("]));
    }
}
