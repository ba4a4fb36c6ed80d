//! The code-aware tokenizer shared by the index and the queries.
//!
//! C identifiers are the currency of kernel questions, so an identifier is kept whole
//! (`spin_lock_irqsave`) *and* split at underscores (`spin`, `lock`, `irqsave`): the whole
//! token makes an identifier query precise, the parts let English questions ("lock with irqs
//! saved") reach the same code. Everything is ASCII-lowercased. Long numeric literals (register
//! dumps, magic numbers) carry no retrieval value and are dropped to keep the index small.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// Name under which [`CodeTokenizer`] is registered with tantivy.
pub const CODE_TOKENIZER: &str = "kingly_code";

/// Longest token kept; longer runs are generated data, not names.
const MAX_TOKEN_BYTES: usize = 64;
/// Numeric literals longer than this (in bytes, `0x` prefix included) are dropped.
const MAX_NUMBER_BYTES: usize = 4;

/// Splits text into lowercase identifier tokens plus their underscore-separated parts.
#[derive(Clone, Default)]
pub struct CodeTokenizer;

impl Tokenizer for CodeTokenizer {
    type TokenStream<'a> = CodeTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CodeTokenStream<'a> {
        CodeTokenStream { text, pos: 0, word: None, part_pos: 0, position: 0, token: Token::default() }
    }
}

/// Streaming state: the current identifier, and how far its parts have been emitted.
pub struct CodeTokenStream<'a> {
    text: &'a str,
    pos: usize,
    /// Byte range of the identifier whose parts are still being emitted.
    word: Option<(usize, usize)>,
    part_pos: usize,
    position: usize,
    token: Token,
}

/// Which bytes make up identifiers and numbers (a table: this runs for every byte indexed).
const WORD_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = (byte as u8).is_ascii_alphanumeric() || byte as u8 == b'_';
        byte += 1;
    }
    table
};

#[inline(always)]
fn is_word_byte(byte: u8) -> bool {
    WORD_BYTES[byte as usize]
}

/// True when the run is a number worth dropping (too long to be a meaningful constant).
fn is_long_number(word: &[u8]) -> bool {
    word[0].is_ascii_digit() && word.len() > MAX_NUMBER_BYTES
}

impl CodeTokenStream<'_> {
    fn set_token(&mut self, start: usize, end: usize) {
        // Tokens are runs of ASCII word bytes, so `start..end` lies on character boundaries.
        self.token.text.clear();
        self.token.text.push_str(&self.text[start..end]);
        self.token.text.make_ascii_lowercase();
        self.token.offset_from = start;
        self.token.offset_to = end;
        self.token.position = self.position;
        self.token.position_length = 1;
        self.position += 1;
    }

    /// Emits the next underscore-separated part of the current word, if any is left.
    fn next_part(&mut self) -> bool {
        let Some((_, end)) = self.word else { return false };
        while self.part_pos < end {
            let start = self.part_pos;
            let mut stop = start;
            while stop < end && self.text.as_bytes()[stop] != b'_' {
                stop += 1;
            }
            self.part_pos = stop + 1;
            if stop - start >= 2 && !self.text.as_bytes()[start].is_ascii_digit() {
                self.set_token(start, stop);
                return true;
            }
        }
        self.word = None;
        false
    }
}

impl TokenStream for CodeTokenStream<'_> {
    fn advance(&mut self) -> bool {
        if self.next_part() {
            return true;
        }
        let bytes = self.text.as_bytes();
        loop {
            while self.pos < bytes.len() && !is_word_byte(bytes[self.pos]) {
                self.pos += 1;
            }
            if self.pos >= bytes.len() {
                return false;
            }
            let start = self.pos;
            while self.pos < bytes.len() && is_word_byte(bytes[self.pos]) {
                self.pos += 1;
            }
            let end = self.pos;
            let word = &bytes[start..end];
            let trimmed: &[u8] = {
                let mut s = 0;
                let mut e = word.len();
                while s < e && word[s] == b'_' {
                    s += 1;
                }
                while e > s && word[e - 1] == b'_' {
                    e -= 1;
                }
                &word[s..e]
            };
            if trimmed.is_empty() || word.len() > MAX_TOKEN_BYTES || is_long_number(trimmed) {
                continue;
            }
            self.set_token(start, end);
            if trimmed.len() != word.len() || trimmed.contains(&b'_') {
                self.word = Some((start, end));
                self.part_pos = start;
                // A word with only edge underscores (`__init`) yields the bare name as a part.
            }
            return true;
        }
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

/// Tokenizes `text` into owned strings (used for queries and tests).
pub fn tokens(text: &str) -> Vec<String> {
    let mut tokenizer = CodeTokenizer;
    let mut stream = tokenizer.token_stream(text);
    let mut out = Vec::new();
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

/// The identifier-looking words of a query, kept whole and lowercased (`rcu_read_lock`).
pub fn identifiers(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.contains('_') || word.bytes().any(|b| b.is_ascii_digit()))
        .filter(|word| !word.is_empty() && !word.as_bytes()[0].is_ascii_digit())
        .map(|word| word.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_identifier_whole_and_split() {
        assert_eq!(tokens("spin_lock_irqsave(&x)"), ["spin_lock_irqsave", "spin", "lock", "irqsave", "x"]);
    }

    #[test]
    fn edge_underscores_yield_bare_name() {
        assert_eq!(tokens("__init"), ["__init", "init"]);
    }

    #[test]
    fn drops_long_numbers_and_lowercases() {
        assert_eq!(tokens("REG 0x12345678 42 Foo"), ["reg", "42", "foo"]);
    }

    #[test]
    fn identifiers_of_query() {
        assert_eq!(identifiers("where is kmem_cache_alloc defined"), ["kmem_cache_alloc"]);
    }
}
