//! Reader for the bpf_conformance `.data` test format (`-- asm`, `-- raw`, `-- mem`,
//! `-- result`, `-- error`). See `shared/conformance/bpf_conformance/README.md`.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::asm::{self, AsmError};
use crate::isa::RawInsn;

/// What a test expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// r0 must equal this value.
    Result(u64),
    /// Loading or running must fail (the text is implementation-specific).
    Error(String),
    /// Neither section is present.
    Nothing,
}

/// A parsed test file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestCase {
    pub program: Vec<RawInsn>,
    pub mem: Vec<u8>,
    pub expect: Expect,
}

/// Why a `.data` file could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataError {
    Asm(AsmError),
    UnknownDirective(usize),
    BadRaw(usize),
    BadMem(usize),
    BadResult(usize),
    NoProgram,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Asm(e) => write!(f, "{e}"),
            DataError::UnknownDirective(l) => write!(f, "unknown directive on line {l}"),
            DataError::BadRaw(l) => write!(f, "bad raw instruction on line {l}"),
            DataError::BadMem(l) => write!(f, "bad memory byte on line {l}"),
            DataError::BadResult(l) => write!(f, "bad result on line {l}"),
            DataError::NoProgram => f.write_str("no program"),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    Asm,
    Raw,
    Mem,
    Result,
    Error,
    Ignored,
}

fn directive(line: &str) -> Option<Section> {
    // Same substring order as upstream: asm, result, mem, raw, no register offset, c, error.
    Some(if line.contains("asm") {
        Section::Asm
    } else if line.contains("result") {
        Section::Result
    } else if line.contains("mem") {
        Section::Mem
    } else if line.contains("raw") {
        Section::Raw
    } else if line.contains("no register offset") || line.contains(" c") {
        Section::Ignored
    } else if line.contains("error") {
        Section::Error
    } else {
        return None;
    })
}

/// Parses a `.data` file.
pub fn parse(text: &str) -> Result<TestCase, DataError> {
    let mut section = Section::None;
    let mut asm_text = String::new();
    let mut asm_first_line = 0;
    let mut raw: Vec<RawInsn> = Vec::new();
    let mut has_raw = false;
    let mut has_asm = false;
    let mut mem = Vec::new();
    let mut expect = Expect::Nothing;
    for (index, full_line) in text.lines().enumerate() {
        let line_no = index + 1;
        if full_line.contains("--") {
            section = directive(full_line).ok_or(DataError::UnknownDirective(line_no))?;
            match section {
                Section::Asm => {
                    has_asm = true;
                    asm_first_line = line_no;
                }
                Section::Raw => has_raw = true,
                Section::Error => expect = Expect::Error(String::new()),
                _ => {}
            }
            continue;
        }
        let line = full_line.split('#').next().unwrap_or("").trim();
        match section {
            Section::Asm => {
                asm_text.push_str(full_line);
                asm_text.push('\n');
            }
            Section::Raw if !line.is_empty() => {
                let tokens: Vec<&str> = line.split_whitespace().collect();
                if tokens.len() == 8 {
                    let mut bytes = [0u8; 8];
                    for (b, t) in bytes.iter_mut().zip(&tokens) {
                        *b = u8::from_str_radix(t, 16).map_err(|_| DataError::BadRaw(line_no))?;
                    }
                    raw.push(RawInsn::from_bytes(bytes));
                } else {
                    for t in tokens {
                        let h = t.strip_prefix("0x").ok_or(DataError::BadRaw(line_no))?;
                        let v = u64::from_str_radix(h, 16).map_err(|_| DataError::BadRaw(line_no))?;
                        raw.push(RawInsn::from_u64(v));
                    }
                }
            }
            Section::Mem => {
                for t in line.split_whitespace() {
                    mem.push(u8::from_str_radix(t, 16).map_err(|_| DataError::BadMem(line_no))?);
                }
            }
            Section::Result if !line.is_empty() => {
                let (v, _) = asm::parse_int(line).ok_or(DataError::BadResult(line_no))?;
                expect = Expect::Result(v as u64);
            }
            Section::Error if !line.is_empty() => expect = Expect::Error(String::from(line)),
            _ => {}
        }
    }
    let program = if has_raw {
        raw
    } else if has_asm {
        asm::assemble(&asm_text).map_err(|mut e| {
            e.line += asm_first_line;
            DataError::Asm(e)
        })?
    } else {
        return Err(DataError::NoProgram);
    };
    if program.is_empty() {
        return Err(DataError::NoProgram);
    }
    Ok(TestCase { program, mem, expect })
}

#[cfg(test)]
mod tests {
    #[test]
    fn garbage_never_panics() {
        for text in crate::asm::garbage_texts() {
            let _ = super::parse(&alloc::format!("-- asm\n{text}\n-- mem\n{text}\n-- result\n{text}"));
        }
    }
}
