//! Probes: inputs the task's examples do not cover, used to tell apart programs that all fit
//! the examples. When two surviving candidates answer a probe differently the task is
//! ambiguous, and the shortest such probe becomes a question for the user.

use crate::dsl::DslProgram;
use crate::task::{Example, Input, Layout, Task};

/// A small deterministic generator (splitmix64): probes are the same on every run; also the
/// fine-tuner's record order and adapter initialisation.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// `0..n` in a random order (Fisher–Yates).
    pub fn order(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            v.swap(i, self.below(i + 1));
        }
        v
    }
}

/// Inputs near and beyond the examples, shortest first: prefixes and single-byte edits of the
/// example inputs, short inputs over the examples' bytes, random bytes; for context structs,
/// each field of each example moved up, down, to 0 and to twice its value.
pub fn inputs(task: &Task, extra_bytes: &[u8]) -> Vec<Input> {
    let mut rng = Rng(0x6b69_6e67_6c79);
    let mut out: Vec<Input> = Vec::new();
    let push = |i: Input, out: &mut Vec<Input>| {
        if !out.contains(&i) && !task.examples.iter().any(|e| e.input == i) {
            out.push(i);
        }
    };
    match task.layout {
        Layout::Packet => {
            let examples: Vec<&Vec<u8>> = task
                .examples
                .iter()
                .filter_map(|e| match &e.input {
                    Input::Bytes(b) => Some(b),
                    Input::Fields(_) => None,
                })
                .collect();
            let mut alphabet: Vec<u8> = examples.iter().flat_map(|b| b.iter().copied()).collect();
            alphabet.extend_from_slice(extra_bytes);
            alphabet.extend_from_slice(&[0, 1, 0xff, b' ', b'a', b'0']);
            alphabet.sort_unstable();
            alphabet.dedup();
            for b in &examples {
                for n in 0..b.len() {
                    push(Input::Bytes(b[..n].to_vec()), &mut out);
                }
                for i in 0..b.len().min(12) {
                    let mut dropped = (*b).clone();
                    dropped.remove(i);
                    push(Input::Bytes(dropped), &mut out);
                    let mut changed = (*b).clone();
                    changed[i] = alphabet[rng.below(alphabet.len())];
                    push(Input::Bytes(changed), &mut out);
                }
                let mut doubled = (*b).clone();
                doubled.extend_from_slice(b);
                push(Input::Bytes(doubled), &mut out);
            }
            for _ in 0..160 {
                let len = rng.below(13);
                let from_alphabet = rng.below(3) != 0;
                let bytes = (0..len)
                    .map(|_| if from_alphabet { alphabet[rng.below(alphabet.len())] } else { rng.next_u64() as u8 })
                    .collect();
                push(Input::Bytes(bytes), &mut out);
            }
        }
        Layout::Struct { .. } => {
            for e in &task.examples {
                let Input::Fields(values) = &e.input else { continue };
                for i in 0..values.len() {
                    let v = values[i];
                    for w in [v.wrapping_add(1), v.saturating_sub(1), 0, v.saturating_mul(2), v / 2, v + 1000] {
                        let mut moved = values.clone();
                        moved[i] = w;
                        push(Input::Fields(moved), &mut out);
                    }
                }
            }
        }
    }
    out.sort_by_key(|i| match i {
        Input::Bytes(b) => b.len(),
        Input::Fields(v) => v.iter().filter(|x| **x != 0).count(),
    });
    out.truncate(600);
    out
}

/// What `program` answers on `probe` after seeing the examples (map state carries over, as on
/// the board).
pub fn answer(program: &DslProgram, examples: &[Example], probe: &Input, layout: &Layout) -> u64 {
    let mut seq = examples.to_vec();
    seq.push(Example { input: probe.clone(), output: 0 });
    *program.eval_all(&seq, layout).last().expect("one probe")
}

/// The first probe on which `a` and `b` answer differently, with both answers.
pub fn separating(a: &DslProgram, b: &DslProgram, task: &Task, probes: &[Input]) -> Option<(Input, u64, u64)> {
    probes.iter().find_map(|p| {
        let (x, y) = (answer(a, &task.examples, p, &task.layout), answer(b, &task.examples, p, &task.layout));
        (x != y).then(|| (p.clone(), x, y))
    })
}

/// A probe as the user would write it: hex bytes (empty for the empty input), or
/// `field=value` pairs.
pub fn written(input: &Input, layout: &Layout) -> String {
    match input {
        Input::Bytes(b) => b.iter().map(|c| format!("{c:02x}")).collect(),
        Input::Fields(_) => input.describe(layout),
    }
}

/// A probe in a sentence: `written` in backquotes, or "the empty input".
pub fn show(input: &Input, layout: &Layout) -> String {
    match input {
        Input::Bytes(b) if b.is_empty() => "the empty input".into(),
        _ => format!("`{}`", written(input, layout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::{Expr, Feature, Fold};

    #[test]
    fn separates_max_from_last_byte() {
        let task = Task::parse(
            "t",
            "description = \"x\"\n[[examples]]\ninput = \"01 02 03\"\noutput = 3\n[[examples]]\ninput = \"05\"\noutput = 5\n",
        )
        .unwrap();
        let probes = inputs(&task, &[]);
        assert!(probes.iter().all(|p| !task.examples.iter().any(|e| e.input == *p)));
        let max = DslProgram { features: vec![Feature::Fold(Fold::Max)], body: Expr::Feat(0) };
        let last = DslProgram { features: vec![Feature::Fold(Fold::Last)], body: Expr::Feat(0) };
        let (p, a, b) = separating(&max, &last, &task, &probes).expect("they differ somewhere");
        let Input::Bytes(bytes) = &p else { panic!() };
        assert_eq!(a, u64::from(*bytes.iter().max().unwrap()));
        assert_eq!(b, u64::from(*bytes.last().unwrap()));
        assert!(separating(&max, &max, &task, &probes).is_none());
    }
}
