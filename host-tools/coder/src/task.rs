//! Task files: an English description, the program type and hook, and input/output examples.
//!
//! ```toml
//! description = "Count the spaces in the input"
//! type = "tool"                 # tool | decision | timer
//! hook = "sched_slice"          # decision programs only
//! max_insns = 200000            # optional worst-case budget (defaults: the hook's budget)
//! [[examples]]
//! input = "61 20 62"            # tool: hex bytes
//! output = 1
//! [[examples]]                  # decision/timer: named context fields (missing ones are 0)
//! class = 2
//! output = 1000
//! ```
//! A string value of a decision field is hashed like the kernel names tools (32-bit FNV-1a),
//! so `tool = "bpf_load"` is the `mcp_admit` context of a call to `bpf_load`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use kingly_bpf::hooks::{self, Hook, Kind};

/// One named scalar in a struct context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: &'static str,
    pub offset: usize,
    pub size_bytes: usize,
}

/// What the program reads: input bytes (tool) or a fixed structure of named fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    Packet,
    Struct { size_bytes: usize, fields: Vec<FieldSpec> },
}

impl Layout {
    pub fn for_kind(kind: Kind, hook: Option<Hook>) -> Layout {
        match kind {
            Kind::Tool => Layout::Packet,
            Kind::Decision => {
                let mut fields = vec![
                    FieldSpec { name: "hook", offset: 0, size_bytes: 4 },
                    FieldSpec { name: "cpu", offset: 4, size_bytes: 4 },
                    FieldSpec { name: "now_ns", offset: 8, size_bytes: 8 },
                ];
                if let Some(hook) = hook {
                    for (i, name) in hook.fields.iter().enumerate() {
                        if !name.is_empty() {
                            let offset = hooks::DECISION_FIELDS_OFFSET + 8 * i;
                            fields.push(FieldSpec { name, offset, size_bytes: 8 });
                        }
                    }
                }
                Layout::Struct { size_bytes: hooks::DECISION_CTX_BYTES, fields }
            }
            Kind::Timer => Layout::Struct {
                size_bytes: hooks::TIMER_CTX_BYTES,
                fields: vec![
                    FieldSpec { name: "cpu", offset: 0, size_bytes: 4 },
                    FieldSpec { name: "period_ms", offset: 4, size_bytes: 4 },
                    FieldSpec { name: "now_ns", offset: 8, size_bytes: 8 },
                    FieldSpec { name: "runs", offset: 16, size_bytes: 8 },
                ],
            },
        }
    }

    pub fn fields(&self) -> &[FieldSpec] {
        match self {
            Layout::Packet => &[],
            Layout::Struct { fields, .. } => fields,
        }
    }

    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields().iter().position(|f| f.name == name)
    }
}

/// One example's input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Bytes(Vec<u8>),
    /// Values of [`Layout::fields`], in order.
    Fields(Vec<u64>),
}

impl Input {
    /// The context (and packet) bytes the program runs on.
    pub fn context(&self, layout: &Layout) -> (Vec<u8>, Vec<u8>) {
        match (self, layout) {
            (Input::Bytes(b), _) => (vec![0; hooks::TOOL_CTX_BYTES], b.clone()),
            (Input::Fields(values), Layout::Struct { size_bytes, fields }) => {
                let mut ctx = vec![0u8; *size_bytes];
                for (f, v) in fields.iter().zip(values) {
                    ctx[f.offset..f.offset + f.size_bytes].copy_from_slice(&v.to_le_bytes()[..f.size_bytes]);
                }
                (ctx, Vec::new())
            }
            (Input::Fields(_), Layout::Packet) => (vec![0; hooks::TOOL_CTX_BYTES], Vec::new()),
        }
    }

    /// Short human form for logs and feedback.
    pub fn describe(&self, layout: &Layout) -> String {
        match self {
            Input::Bytes(b) => {
                const SHOWN: usize = 24;
                let head = &b[..b.len().min(SHOWN)];
                let more = if b.len() > SHOWN { format!("... ({} bytes)", b.len()) } else { String::new() };
                let printable = head.iter().all(|c| (0x20..0x7f).contains(c));
                if printable && !b.is_empty() {
                    format!("{:?}{more}", String::from_utf8_lossy(head))
                } else {
                    format!("[{}]{more}", head.iter().map(|c| format!("{c:02x}")).collect::<Vec<_>>().join(" "))
                }
            }
            Input::Fields(v) => layout
                .fields()
                .iter()
                .zip(v)
                .filter(|(f, v)| **v != 0 && f.name != "hook")
                .map(|(f, v)| format!("{}={v}", f.name))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    pub input: Input,
    pub output: u64,
}

/// A parsed task.
#[derive(Clone, Debug)]
pub struct Task {
    pub name: String,
    pub description: String,
    pub kind: Kind,
    pub hook: Option<Hook>,
    pub layout: Layout,
    pub max_insns: Option<u64>,
    pub examples: Vec<Example>,
    pub path: Option<PathBuf>,
}

/// Default worst-case budget of a `tool` program (no hook budget applies): 64 per input byte.
pub const TOOL_BUDGET_INSNS: u64 = 64 * hooks::TOOL_MAX_INPUT_BYTES as u64;
/// Default worst-case budget of a `timer` program.
pub const TIMER_BUDGET_INSNS: u64 = 4096;

impl Task {
    /// Worst-case instructions the chosen program may take.
    pub fn budget_insns(&self) -> u64 {
        self.max_insns.unwrap_or(match (self.kind, self.hook) {
            (Kind::Decision, Some(h)) => h.budget_insns,
            (Kind::Timer, _) => TIMER_BUDGET_INSNS,
            _ => TOOL_BUDGET_INSNS,
        })
    }

    /// Largest valid result, when the hook limits it.
    pub fn max_result(&self) -> Option<u64> {
        self.hook.map(|h| h.max_decision)
    }

    pub fn parse(name: &str, text: &str) -> Result<Task> {
        let doc: toml::Table = toml::from_str(text).context("task file is not valid TOML")?;
        let description =
            doc.get("description").and_then(|v| v.as_str()).context("task needs `description = \"...\"`")?.to_string();
        let kind_name = doc.get("type").and_then(|v| v.as_str()).unwrap_or("tool");
        let kind = Kind::from_name(kind_name)
            .with_context(|| format!("unknown type `{kind_name}`: use tool, decision or timer"))?;
        let hook = match doc.get("hook").and_then(|v| v.as_str()) {
            Some(h) => Some(
                Hook::by_name(h)
                    .with_context(|| format!("unknown hook `{h}`: use one of sched_slice, sched_cpu, mcp_admit"))?,
            ),
            None if kind == Kind::Decision => {
                bail!("a decision task needs `hook = \"sched_slice|sched_cpu|mcp_admit\"`")
            }
            None => None,
        };
        let max_insns = match doc.get("max_insns") {
            Some(v) => Some(v.as_integer().filter(|n| *n > 0).context("max_insns must be a positive integer")? as u64),
            None => None,
        };
        let layout = Layout::for_kind(kind, hook);
        let mut examples = Vec::new();
        if let Some(list) = doc.get("examples") {
            let list = list.as_array().context("`examples` must be an array of tables ([[examples]])")?;
            for (i, e) in list.iter().enumerate() {
                let table = e.as_table().with_context(|| format!("example {} is not a table", i + 1))?;
                examples.push(parse_example(table, kind, &layout).with_context(|| format!("example {}", i + 1))?);
            }
        }
        Ok(Task { name: name.to_string(), description, kind, hook, layout, max_insns, examples, path: None })
    }

    /// What identifies the task as a coder run saw it: SHA-256 (first 16 hex digits) of its
    /// description, type, hook and examples. The attempt log carries it so `kingly dataset` can
    /// find the exact task (and example subset) a logged candidate was written for.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.description.as_bytes());
        h.update(format!("\n{}\n{:?}\n", self.kind.name(), self.hook.map(|hook| hook.name)));
        for e in &self.examples {
            h.update(format!("{:?} -> {}\n", e.input, e.output));
        }
        h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    pub fn load(path: &Path) -> Result<Task> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let mut task = Task::parse(&name, &text).with_context(|| format!("in {}", path.display()))?;
        task.path = Some(path.to_path_buf());
        Ok(task)
    }

    /// The task file's `[[reference]]` examples: checked by `kingly code --eval` only, never
    /// shown to the coder (a large set from a reference implementation on random inputs).
    pub fn reference_examples(&self) -> Result<Vec<Example>> {
        let Some(path) = &self.path else { return Ok(Vec::new()) };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let doc: toml::Table = toml::from_str(&text).context("task file is not valid TOML")?;
        let Some(list) = doc.get("reference") else { return Ok(Vec::new()) };
        let list = list.as_array().context("`reference` must be an array of tables ([[reference]])")?;
        list.iter()
            .enumerate()
            .map(|(i, e)| {
                let table = e.as_table().with_context(|| format!("reference {} is not a table", i + 1))?;
                parse_example(table, self.kind, &self.layout).with_context(|| format!("reference {}", i + 1))
            })
            .collect()
    }

    /// Every `*.toml` in a directory, by name.
    pub fn load_dir(dir: &Path) -> Result<Vec<Task>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading task directory {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        if paths.is_empty() {
            bail!("no *.toml task files in {}", dir.display());
        }
        paths.iter().map(|p| Task::load(p)).collect()
    }
}

fn parse_u64(v: &toml::Value) -> Result<u64> {
    match v {
        toml::Value::Integer(n) => Ok(*n as u64),
        toml::Value::Boolean(b) => Ok(*b as u64),
        toml::Value::String(s) => {
            let t = s.trim();
            if let Some(h) = t.strip_prefix("0x") {
                return u64::from_str_radix(h, 16).with_context(|| format!("bad hex number `{s}`"));
            }
            if let Ok(n) = t.parse::<u64>() {
                return Ok(n);
            }
            // A name: hashed as the kernel hashes tool names.
            Ok(hooks::tool_name_hash(t))
        }
        other => bail!("expected an integer, got {other}"),
    }
}

/// Parses hex bytes (`"47 45 54"`, `"474554"`); a string in quotes-prefix form `s:TEXT` is taken literally.
pub fn parse_hex(text: &str) -> Result<Vec<u8>> {
    if let Some(literal) = text.strip_prefix("s:") {
        return Ok(literal.as_bytes().to_vec());
    }
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        bail!("hex input `{text}` has an odd number of digits");
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).with_context(|| format!("bad hex byte in `{text}`")))
        .collect()
}

fn parse_example(table: &toml::Table, kind: Kind, layout: &Layout) -> Result<Example> {
    let output = parse_u64(table.get("output").context("missing `output`")?).context("output")?;
    let input = match kind {
        Kind::Tool => {
            let text =
                table.get("input").and_then(|v| v.as_str()).context("a tool example needs `input = \"hex bytes\"`")?;
            let bytes = parse_hex(text)?;
            if bytes.len() > hooks::TOOL_MAX_INPUT_BYTES {
                bail!("input is longer than {} bytes", hooks::TOOL_MAX_INPUT_BYTES);
            }
            Input::Bytes(bytes)
        }
        Kind::Decision | Kind::Timer => {
            let mut values = vec![0u64; layout.fields().len()];
            for (key, value) in table {
                if key == "output" {
                    continue;
                }
                let index = layout.field_index(key).filter(|_| key != "hook").with_context(|| {
                    let names: Vec<&str> = layout.fields().iter().map(|f| f.name).filter(|n| *n != "hook").collect();
                    format!("unknown field `{key}`: this context has {}", names.join(", "))
                })?;
                values[index] = parse_u64(value).with_context(|| format!("field `{key}`"))?;
            }
            Input::Fields(values)
        }
    };
    Ok(Example { input, output })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tool_and_decision_tasks() {
        let t = Task::parse("t", "description = \"x\"\ntype = \"tool\"\n[[examples]]\ninput = \"61 20\"\noutput = 1\n")
            .unwrap();
        assert_eq!(t.examples[0].input, Input::Bytes(vec![0x61, 0x20]));
        let d = Task::parse(
            "d",
            "description = \"x\"\ntype = \"decision\"\nhook = \"mcp_admit\"\n[[examples]]\ntool = \"ping\"\nclient = 3\noutput = 0\n",
        )
        .unwrap();
        let Input::Fields(v) = &d.examples[0].input else { panic!() };
        assert_eq!(v[d.layout.field_index("tool").unwrap()], hooks::tool_name_hash("ping"));
        assert_eq!(v[d.layout.field_index("client").unwrap()], 3);
    }

    #[test]
    fn bad_tasks_name_the_problem() {
        let e = Task::parse("d", "description = \"x\"\ntype = \"decision\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("hook"));
        let e = Task::parse(
            "d",
            "description = \"x\"\ntype = \"decision\"\nhook = \"sched_slice\"\n[[examples]]\nbogus = 1\noutput = 2\n",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("unknown field `bogus`"));
        assert!(Task::parse("t", "description = \"x\"\n[[examples]]\ninput = \"6\"\noutput = 1\n").is_err());
    }
}
