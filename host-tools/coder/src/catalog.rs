//! What the Architect retrieves from: the exemplar library (program idioms, each tagged with
//! the DSL family that implements it) and the catalogs of hooks and helpers.
//!
//! Exemplars describe idioms, not tasks: the synthesizer only learns from them which family of
//! features to try first; the examples decide everything else.

use kingly_bpf::helpers;
use kingly_bpf::hooks::{self, Kind};

/// A family of DSL features (a structural hypothesis the Generator can branch on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// Input length.
    Length,
    /// Folds over every byte: sum, xor, or, and, max, min, last, FNV-1a, djb2.
    ByteFold,
    /// Counting or summing bytes of a class; runs (words).
    ByteCount,
    /// Position of the first byte of a class.
    ByteSearch,
    /// Leading decimal number.
    Parse,
    /// Fixed offsets: bytes, 16/32/64-bit words (either byte order), prefixes.
    Header,
    /// Arithmetic over context fields.
    FieldArith,
    /// Threshold rules over context fields (a small decision tree).
    FieldRules,
    /// A lookup table on field values.
    FieldTable,
    /// Per-key state in a hash map: call counters, running sums, last values.
    MapState,
}

impl Family {
    pub const TOOL: [Family; 6] =
        [Family::Length, Family::ByteFold, Family::ByteCount, Family::ByteSearch, Family::Parse, Family::Header];
    pub const STRUCT: [Family; 4] = [Family::FieldArith, Family::FieldRules, Family::FieldTable, Family::MapState];

    pub fn for_kind(kind: Kind) -> &'static [Family] {
        match kind {
            Kind::Tool => &Family::TOOL,
            _ => &Family::STRUCT,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::Length => "length",
            Family::ByteFold => "byte-fold",
            Family::ByteCount => "byte-count",
            Family::ByteSearch => "byte-search",
            Family::Parse => "parse-decimal",
            Family::Header => "header-fields",
            Family::FieldArith => "field-arithmetic",
            Family::FieldRules => "threshold-rules",
            Family::FieldTable => "lookup-table",
            Family::MapState => "map-state",
        }
    }
}

/// One idiom of the library.
#[derive(Clone, Copy, Debug)]
pub struct Exemplar {
    pub id: &'static str,
    pub kinds: &'static [Kind],
    pub family: Family,
    pub text: &'static str,
}

const T: &[Kind] = &[Kind::Tool];
const S: &[Kind] = &[Kind::Decision, Kind::Timer];

/// The exemplar library.
pub const EXEMPLARS: &[Exemplar] = &[
    Exemplar { id: "len", kinds: T, family: Family::Length, text: "length of the input in bytes; size of the message; how long; empty input; number of bytes received" },
    Exemplar { id: "len-limit", kinds: T, family: Family::Length, text: "reject input longer than a maximum size; too long or too short; minimum length check" },
    Exemplar { id: "sum", kinds: T, family: Family::ByteFold, text: "sum of all input bytes; add up every byte; total of the bytes; additive checksum modulo 256" },
    Exemplar { id: "xor", kinds: T, family: Family::ByteFold, text: "xor of all bytes; parity byte; longitudinal redundancy check LRC; xor checksum" },
    Exemplar { id: "or-and", kinds: T, family: Family::ByteFold, text: "bitwise or of every byte; bitwise and of all bytes; any high bit set; seven bit ascii clean" },
    Exemplar { id: "max-min", kinds: T, family: Family::ByteFold, text: "largest byte; maximum byte value; smallest byte; minimum byte; peak value in the buffer" },
    Exemplar { id: "last", kinds: T, family: Family::ByteFold, text: "last byte of the input; final byte; trailing byte; ends with" },
    Exemplar { id: "hash", kinds: T, family: Family::ByteFold, text: "hash of the input; fnv-1a 32-bit hash; djb2 string hash; fingerprint of the bytes; hash key for a table" },
    Exemplar { id: "count-byte", kinds: T, family: Family::ByteCount, text: "count occurrences of a byte; how many times a character appears; number of spaces commas newlines zero bytes" },
    Exemplar { id: "count-class", kinds: T, family: Family::ByteCount, text: "count digits letters uppercase lowercase vowels whitespace printable characters; number of non-ascii bytes" },
    Exemplar { id: "words", kinds: T, family: Family::ByteCount, text: "count words separated by spaces; number of fields; tokens; lines; runs of characters" },
    Exemplar { id: "sum-digits", kinds: T, family: Family::ByteCount, text: "sum of the digit characters; add the values of bytes of a class; weighted count" },
    Exemplar { id: "all-class", kinds: T, family: Family::ByteCount, text: "whether every byte is a digit; all characters printable; input is pure ascii; validate that only letters appear; contains any" },
    Exemplar { id: "find", kinds: T, family: Family::ByteSearch, text: "position of the first occurrence of a byte; index of the first space; offset of a delimiter; where the separator is; length of the first word" },
    Exemplar { id: "find-class", kinds: T, family: Family::ByteSearch, text: "index of the first digit; first non-space character; skip leading whitespace; find the first letter" },
    Exemplar { id: "atoi", kinds: T, family: Family::Parse, text: "parse a decimal number; convert ascii digits to an integer; atoi; read the leading number; numeric string to value" },
    Exemplar { id: "byte-at", kinds: T, family: Family::Header, text: "first byte of the input; byte at a fixed offset; opcode byte; version field; type tag in the header" },
    Exemplar { id: "word", kinds: T, family: Family::Header, text: "16-bit or 32-bit field at an offset; little-endian or big-endian word; network byte order length field; port number; header integer" },
    Exemplar { id: "prefix", kinds: T, family: Family::Header, text: "input starts with a magic string; prefix match; command name at the start; recognise a request method; signature check" },
    Exemplar { id: "flags", kinds: T, family: Family::Header, text: "test a flag bit in a header byte; mask bits of a field; shift and mask a bitfield" },
    Exemplar { id: "slice-class", kinds: S, family: Family::FieldTable, text: "time slice per scheduling class; latency tasks get short slices; cpu bound tasks get long slices; sleeper class" },
    Exemplar { id: "table", kinds: S, family: Family::FieldTable, text: "lookup table from a field value to a decision; map each class or tool to a value; specific values get specific answers; deny list allow list of tools" },
    Exemplar { id: "cpu-pin", kinds: S, family: Family::FieldTable, text: "pin a class or task to a fixed core; send latency tasks to core 0; place a particular task on a chosen cpu" },
    Exemplar { id: "threshold", kinds: S, family: Family::FieldRules, text: "if a field is above a threshold choose one value otherwise another; large requests are denied; limit by size; cut off" },
    Exemplar { id: "tree", kinds: S, family: Family::FieldRules, text: "rules combining several fields; when the run queue is long shorten the slice; priority decides; nice value above zero" },
    Exemplar { id: "range", kinds: S, family: Family::FieldRules, text: "clamp a value into a range; at least a minimum and at most a maximum; bounded between" },
    Exemplar { id: "scale", kinds: S, family: Family::FieldArith, text: "slice proportional to a field; divide by the number of runnable tasks; multiply by a factor; scale with nice" },
    Exemplar { id: "spread", kinds: S, family: Family::FieldArith, text: "spread tasks over cores by task id modulo the number of cpus; hash the task to a core; round robin placement" },
    Exemplar { id: "affinity", kinds: S, family: Family::FieldArith, text: "keep the task on its previous cpu; run on the waker's cpu; cache affinity; same core as before" },
    Exemplar { id: "timer-math", kinds: S, family: Family::FieldArith, text: "elapsed time in milliseconds from now_ns; period times runs; every nth run; tick arithmetic" },
    Exemplar { id: "rate-limit", kinds: S, family: Family::MapState, text: "rate limit calls per client; allow the first n calls then rate-limited; count calls in a map; quota per caller" },
    Exemplar { id: "counter", kinds: S, family: Family::MapState, text: "count how many times each cpu ran; per-key counter in a hash map; number of calls so far; statistics kept in maps" },
    Exemplar { id: "budget", kinds: S, family: Family::MapState, text: "running total of bytes per client; byte budget; deny once the total exceeds a limit; accumulate a field in a map" },
    Exemplar { id: "delta", kinds: S, family: Family::MapState, text: "time since the previous run on this cpu; remember the last value in a map and return the difference; change since last time" },
];

/// The hook and helper catalog as retrievable text entries.
pub fn catalog_entries() -> Vec<String> {
    let mut out = Vec::new();
    for h in hooks::HOOKS {
        let fields: Vec<&str> = h.fields.iter().copied().filter(|f| !f.is_empty()).collect();
        out.push(format!(
            "hook {} (decision, id {}): returns {}; fields {}; budget {} instructions worst case; cached {} ms",
            h.name,
            h.id,
            h.returns,
            fields.join(", "),
            h.budget_insns,
            h.ttl_ticks
        ));
    }
    out.push("program type tool: input bytes as a packet, r1->data at +0 and data_end at +8; every read checked against data_end; r0 is the result".into());
    out.push("program type timer: context cpu u32 +0, period_ms u32 +4, now_ns u64 +8, runs u64 +16; runs every period on a core".into());
    for helper in helpers::STANDARD_HELPERS {
        let what = match helper.id {
            1 => "look up a key in a map; returns a pointer to the value or NULL (check before use)",
            2 => "insert or update a key's value in a map (flags 0 any)",
            3 => "delete a key from a map",
            5 => "current time in nanoseconds",
            7 => "a pseudo-random 32-bit number",
            _ => "the current cpu id",
        };
        out.push(format!("helper {} (call {}): {}", helper.name, helper.id, what));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_exemplars() {
        for kind in Kind::ALL {
            for f in Family::for_kind(kind) {
                assert!(EXEMPLARS.iter().any(|e| e.family == *f && e.kinds.contains(&kind)), "{f:?}");
            }
        }
    }
}
