//! Splitting files into retrievable chunks with `file:line` ranges.
//!
//! C and headers go through tree-sitter-c: one chunk per function, struct/union/enum, typedef
//! and macro (a function keeps the comment right above it, which is where kernel-doc lives);
//! runs of small items (`#define` tables, prototypes) are grouped. Lines no item covers — parse
//! error regions, which about half of kernel files have because of attribute macros, and glue
//! such as `EXPORT_SYMBOL` — become fixed line windows whose likely definitions are still found
//! by a column-0 heuristic. Documentation is cut at section headings, Kconfig at `config` entries.

use std::ops::Range;

use tree_sitter::{Node, Parser};

/// Lines per fallback window.
const WINDOW_LINES: usize = 40;
/// Lines per documentation window inside one section.
const DOC_WINDOW_LINES: usize = 60;
/// Small items (a `#define`, a prototype) are grouped up to this many lines per chunk.
const GROUP_LINES: usize = 40;
/// Files larger than this skip tree-sitter: they are generated register tables in practice, and
/// a line scan finds their `#define`s as well at a fraction of the cost.
const MAX_PARSE_BYTES: usize = 512 * 1024;
/// At most this many names go into one chunk's symbol field.
const MAX_SYMBOLS: usize = 48;

/// What a chunk holds; also a field of the index, so queries can filter on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChunkKind {
    Function,
    Struct,
    Union,
    Enum,
    Typedef,
    Macro,
    Prototype,
    Variable,
    /// A fallback line window of code.
    Lines,
    Doc,
    Kconfig,
    /// A fix from the Debian changelog or `git log`.
    Fix,
}

impl ChunkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChunkKind::Function => "function",
            ChunkKind::Struct => "struct",
            ChunkKind::Union => "union",
            ChunkKind::Enum => "enum",
            ChunkKind::Typedef => "typedef",
            ChunkKind::Macro => "macro",
            ChunkKind::Prototype => "prototype",
            ChunkKind::Variable => "variable",
            ChunkKind::Lines => "lines",
            ChunkKind::Doc => "doc",
            ChunkKind::Kconfig => "kconfig",
            ChunkKind::Fix => "fix",
        }
    }

    /// True for kinds that define their symbol (as opposed to using or declaring it).
    pub fn defines(self) -> bool {
        matches!(
            self,
            ChunkKind::Function
                | ChunkKind::Struct
                | ChunkKind::Union
                | ChunkKind::Enum
                | ChunkKind::Typedef
                | ChunkKind::Macro
                | ChunkKind::Kconfig
        )
    }
}

/// One retrievable piece of a file. Lines are 1-based and inclusive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk<'a> {
    pub start_line: u32,
    pub end_line: u32,
    /// Names the chunk defines, space separated; the first is the display name.
    pub symbol: String,
    pub kind: ChunkKind,
    pub text: &'a str,
}

/// How a file is chunked, decided from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    C,
    Asm,
    Doc,
    Kconfig,
}

impl FileType {
    /// The type of an indexable file, or `None` for files the index skips.
    pub fn of(path: &str) -> Option<FileType> {
        let name = path.rsplit('/').next().unwrap_or(path);
        if name.starts_with("Kconfig") {
            return Some(FileType::Kconfig);
        }
        match name.rsplit_once('.').map(|(_, ext)| ext) {
            Some("c" | "h") => Some(FileType::C),
            Some("S") => Some(FileType::Asm),
            Some("rst" | "txt") => Some(FileType::Doc),
            _ => None,
        }
    }
}

/// Byte offsets of line starts, for turning line ranges into text slices.
struct Lines<'a> {
    src: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(src: &'a str) -> Self {
        let mut starts = Vec::with_capacity(src.len() / 32 + 1);
        starts.push(0);
        starts.extend(memchr::memchr_iter(b'\n', src.as_bytes()).map(|i| i + 1).filter(|&i| i < src.len()));
        Lines { src, starts }
    }

    fn count(&self) -> usize {
        if self.src.is_empty() {
            0
        } else {
            self.starts.len()
        }
    }

    /// Text of the 0-based inclusive row range.
    fn text(&self, rows: Range<usize>) -> &'a str {
        let start = self.starts[rows.start];
        let end = self.starts.get(rows.end).copied().unwrap_or(self.src.len());
        &self.src[start..end]
    }

    fn line(&self, row: usize) -> &'a str {
        self.text(row..row + 1).trim_end_matches(['\n', '\r'])
    }
}

/// A parser set up for C; create one per thread and reuse it.
pub fn c_parser() -> Parser {
    let mut parser = Parser::new();
    parser.set_language(&tree_sitter_c::LANGUAGE.into()).expect("tree-sitter-c matches the tree-sitter ABI");
    parser
}

/// Chunks one file. `parser` is only used for C.
pub fn chunk_file<'a>(file_type: FileType, src: &'a str, parser: &mut Parser) -> Vec<Chunk<'a>> {
    match file_type {
        FileType::C => chunk_c(src, parser),
        FileType::Asm => chunk_asm(src),
        FileType::Doc => chunk_doc(src),
        FileType::Kconfig => chunk_kconfig(src),
    }
}

/// An item found in the syntax tree, by 0-based inclusive rows.
#[derive(Debug)]
struct Item {
    first_row: usize,
    last_row: usize,
    kind: ChunkKind,
    names: Vec<String>,
}

/// Chunks C source with tree-sitter, filling uncovered regions with line windows.
pub fn chunk_c<'a>(src: &'a str, parser: &mut Parser) -> Vec<Chunk<'a>> {
    let lines = Lines::new(src);
    if lines.count() == 0 {
        return Vec::new();
    }
    let mut items = Vec::new();
    if src.len() <= MAX_PARSE_BYTES {
        // Only top-level items matter, so the parser gets the file with top-level bodies
        // emptied (rows kept): most of a C file's bytes are bodies, and skipping them makes
        // parsing several times faster.
        let outline = outline(src);
        if let Some(tree) = parser.parse(outline.as_bytes(), None) {
            collect_items(tree.root_node(), outline.as_bytes(), &mut items);
        }
    }
    items.sort_by_key(|item| item.first_row);
    assemble(&lines, items)
}

/// `src` with the insides of top-level bodies removed and every line kept. A body opens as
/// [`opens_top_level_body`] says and closes at the next column-0 `}` that neither ends a table
/// entry (`},`) nor continues a `#define`. What is left has the same rows, so items keep their
/// line ranges (the chunks take their text from `src`). Code in another style keeps its
/// bodies and is parsed whole.
///
/// A definition wrapped in a macro with no return type before it (`BPF_CALL_2(name, ...)`,
/// `SYSCALL_DEFINE3(open, ...)`) is not C to tree-sitter, which would leave it to a line
/// window; its head gets an `int ` in front, so it parses as a function named by the macro.
fn outline(src: &str) -> std::borrow::Cow<'_, str> {
    let mut out = String::new();
    // Bytes of `src` before this offset are already in `out` (or dropped).
    let mut copied = 0;
    // Offset of the line after the one just read.
    let mut offset = 0;
    let mut previous_code_line = "";
    // Where the definition head being read started: a column-0 line since the last
    // statement, directive, blank line or body.
    let mut head: Option<usize> = None;
    let mut lines = src.split_inclusive('\n');
    while let Some(line) = lines.next() {
        let line_start = offset;
        offset += line.len();
        let text = line.trim_end();
        let column_0_name = text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        if !opens_top_level_body(text, previous_code_line) {
            if text.is_empty() || text.starts_with('#') || text.ends_with(';') || text.ends_with('}') {
                head = None;
            } else if column_0_name && head.is_none() {
                head = Some(line_start);
            }
            if !text.is_empty() {
                previous_code_line = text;
            }
            continue;
        }
        // The head of a function body (`{` alone), or the opening line itself when it is the
        // whole head (`BPF_CALL_1(name, u64, x) {`); not a table or struct after a macro line.
        let head_start = if text == "{" {
            head.filter(|&start| is_macro_wrapped_head(&src[start..line_start]))
        } else {
            Some(line_start).filter(|_| is_macro_wrapped_head(&text[..text.len() - 1]))
        };
        head = None;
        if let Some(start) = head_start {
            out.push_str(&src[copied..start]);
            out.push_str("int ");
            copied = start;
        }
        let body_start = offset;
        let mut continued = false;
        let mut closed = false;
        for (body_lines, body_line) in lines.by_ref().enumerate() {
            // `},` at column 0 ends an entry of a table, not the table; a `}` that continues a
            // `#define` inside the body is part of the macro.
            if body_line.starts_with('}') && !continued && !body_line[1..].trim_start().starts_with(',') {
                out.push_str(&src[copied..body_start]);
                out.extend(std::iter::repeat_n('\n', body_lines));
                copied = offset;
                offset += body_line.len();
                previous_code_line = body_line.trim_end();
                closed = true;
                break;
            }
            continued = body_line.trim_end().ends_with('\\');
            offset += body_line.len();
        }
        if !closed {
            break;
        }
    }
    if out.is_empty() {
        return std::borrow::Cow::Borrowed(src);
    }
    out.push_str(&src[copied..]);
    std::borrow::Cow::Owned(out)
}

/// True when `head`, a definition's head up to its `{`, is one macro call and nothing else
/// (`BPF_CALL_2(name, ...)`), where C would have a type and a declarator.
fn is_macro_wrapped_head(head: &str) -> bool {
    let head = head.trim_end();
    let name_end = head.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(head.len());
    if !head[name_end..].starts_with('(') || !is_macro_like(&head[..name_end]) {
        return false;
    }
    let mut depth = 0usize;
    for (at, byte) in head.bytes().enumerate().skip(name_end) {
        match byte {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return at + 1 == head.len();
                }
            }
            _ => {}
        }
    }
    false
}

/// True when `line` opens a body at the top level in kernel style: `{` alone after a function
/// head, or a column-0 line ending in `{` (a struct, enum or initializer table, or a function
/// head on one line). `extern "C" {` wraps whole headers and is not a body.
fn opens_top_level_body(line: &str, previous_code_line: &str) -> bool {
    if line == "{" {
        return previous_code_line.ends_with(')');
    }
    line.ends_with('{')
        && line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && !line.starts_with("extern \"C\"")
}

/// Walks top-level items, descending into preprocessor conditionals and error nodes.
fn collect_items(node: Node, src: &[u8], items: &mut Vec<Item>) {
    let mut cursor = node.walk();
    let mut comment_start: Option<usize> = None;
    let mut previous_end_row: Option<usize> = None;
    for child in node.children(&mut cursor) {
        let first_row = child.start_position().row;
        let last_row = end_row(child);
        // A comment block directly above an item belongs to it (kernel-doc lives there).
        let attached_start = |comment_start: Option<usize>| comment_start.unwrap_or(first_row);
        match child.kind() {
            "comment" => {
                let adjacent = previous_end_row.is_some_and(|row| row + 1 >= first_row);
                if comment_start.is_none() || !adjacent {
                    comment_start = Some(first_row);
                }
                previous_end_row = Some(last_row);
                continue;
            }
            "function_definition" => {
                let mut names = function_names(child, src);
                if names.is_empty() {
                    // A wrapper macro tree-sitter took for the return type: name by the head line.
                    let head = text_of(child, src).lines().next().unwrap_or_default();
                    names.extend(definition_name(head).map(str::to_string));
                }
                items.push(Item {
                    first_row: attached_start(comment_start),
                    last_row,
                    kind: ChunkKind::Function,
                    names,
                });
            }
            "declaration" | "type_definition" => {
                if let Some(item) = declaration_item(child, src, attached_start(comment_start), last_row) {
                    items.push(item);
                }
            }
            "struct_specifier" | "union_specifier" | "enum_specifier" => {
                if let Some((kind, name)) = tagged_type(child, src) {
                    items.push(Item { first_row: attached_start(comment_start), last_row, kind, names: vec![name] });
                }
            }
            "preproc_def" | "preproc_function_def" => {
                if let Some(name) = child.child_by_field_name("name") {
                    items.push(Item {
                        first_row: attached_start(comment_start),
                        last_row,
                        kind: ChunkKind::Macro,
                        names: vec![text_of(name, src).to_string()],
                    });
                }
            }
            "preproc_if"
            | "preproc_ifdef"
            | "preproc_else"
            | "preproc_elif"
            | "preproc_elifdef"
            | "linkage_specification"
            | "declaration_list"
            | "ERROR" => collect_items(child, src, items),
            _ => {}
        }
        comment_start = None;
        previous_end_row = Some(last_row);
    }
}

/// Last row a node covers, not counting a trailing newline.
fn end_row(node: Node) -> usize {
    let end = node.end_position();
    if end.column == 0 && end.row > node.start_position().row {
        end.row - 1
    } else {
        end.row
    }
}

fn text_of<'a>(node: Node, src: &'a [u8]) -> &'a str {
    std::str::from_utf8(&src[node.byte_range()]).unwrap_or("")
}

/// The innermost identifier of a declarator chain (`*foo`, `foo[3]`, `foo(void)`).
fn declarator_name<'a>(mut node: Node<'a>, src: &[u8]) -> Option<(Node<'a>, String)> {
    loop {
        match node.kind() {
            "identifier" | "field_identifier" | "type_identifier" | "primitive_type" => {
                return Some((node, text_of(node, src).to_string()))
            }
            _ => node = node.child_by_field_name("declarator")?,
        }
    }
}

/// True for names written like a wrapping macro: `SYSCALL_DEFINE3`, `BPF_CALL_2`.
fn is_macro_like(name: &str) -> bool {
    name.len() > 2 && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Names a function definition introduces. Definitions wrapped in a macro
/// (`BPF_CALL_2(bpf_map_lookup_elem, ...)`, `SYSCALL_DEFINE3(open, ...)`) are named after the
/// macro's first argument, with `sys_` added for system calls.
fn function_names(node: Node, src: &[u8]) -> Vec<String> {
    let Some(declarator) = node.child_by_field_name("declarator") else { return Vec::new() };
    let Some((_, name)) = declarator_name(declarator, src) else { return Vec::new() };
    if is_macro_like(&name) {
        if let Some(first) = first_argument(declarator, src) {
            let mut names = vec![first.clone()];
            if name.starts_with("SYSCALL_DEFINE") || name.starts_with("COMPAT_SYSCALL_DEFINE") {
                names.push(format!("sys_{first}"));
            }
            names.push(name);
            return names;
        }
    }
    vec![name]
}

/// The first identifier inside the parameter list of the function declarator under `node`.
fn first_argument(node: Node, src: &[u8]) -> Option<String> {
    let mut current = node;
    while current.kind() != "function_declarator" {
        current = current.child_by_field_name("declarator")?;
    }
    let parameters = current.child_by_field_name("parameters")?;
    let text = text_of(parameters, src);
    text.trim_start_matches('(')
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|word| !word.is_empty())
        .map(str::to_string)
}

fn tagged_type(node: Node, src: &[u8]) -> Option<(ChunkKind, String)> {
    node.child_by_field_name("body")?;
    let kind = match node.kind() {
        "struct_specifier" => ChunkKind::Struct,
        "union_specifier" => ChunkKind::Union,
        _ => ChunkKind::Enum,
    };
    let name = node.child_by_field_name("name").map(|name| text_of(name, src).to_string()).unwrap_or_default();
    Some((kind, name))
}

/// Classifies a declaration: a type with a body, a typedef, a prototype or a variable.
fn declaration_item(node: Node, src: &[u8], first_row: usize, last_row: usize) -> Option<Item> {
    let mut names = Vec::new();
    let mut kind = ChunkKind::Variable;
    if let Some(type_node) = node.child_by_field_name("type") {
        if let Some((type_kind, name)) = tagged_type(type_node, src) {
            kind = type_kind;
            if !name.is_empty() {
                names.push(name);
            }
        }
    }
    let mut cursor = node.walk();
    for declarator in node.children_by_field_name("declarator", &mut cursor) {
        if let Some((_, name)) = declarator_name(declarator, src) {
            if node.kind() == "type_definition" {
                if kind == ChunkKind::Variable {
                    kind = ChunkKind::Typedef;
                }
            } else if kind == ChunkKind::Variable && contains_function_declarator(declarator) {
                kind = ChunkKind::Prototype;
            }
            names.push(name);
        }
    }
    if names.is_empty() {
        return None;
    }
    Some(Item { first_row, last_row, kind, names })
}

fn contains_function_declarator(mut node: Node) -> bool {
    loop {
        if node.kind() == "function_declarator" {
            return true;
        }
        match node.child_by_field_name("declarator") {
            Some(inner) => node = inner,
            None => return false,
        }
    }
}

/// Turns sorted items into chunks: groups small ones, windows the gaps.
fn assemble<'a>(lines: &Lines<'a>, items: Vec<Item>) -> Vec<Chunk<'a>> {
    let mut chunks = Vec::new();
    let mut next_free_row = 0usize;
    let mut group: Option<Item> = None;
    let flush = |group: &mut Option<Item>, chunks: &mut Vec<Chunk<'a>>| {
        if let Some(item) = group.take() {
            chunks.push(item_chunk(lines, item));
        }
    };
    for mut item in items {
        if item.last_row < next_free_row {
            continue; // nested inside an item already taken (e.g. a struct inside an error node)
        }
        item.first_row = item.first_row.max(next_free_row);
        if item.first_row > next_free_row {
            flush(&mut group, &mut chunks);
            windows(lines, next_free_row..item.first_row, &mut chunks);
        }
        next_free_row = item.last_row + 1;
        let small = item.last_row - item.first_row < 3
            && matches!(item.kind, ChunkKind::Macro | ChunkKind::Prototype | ChunkKind::Variable);
        if !small {
            flush(&mut group, &mut chunks);
            chunks.push(item_chunk(lines, item));
            continue;
        }
        match &mut group {
            Some(open) if open.kind == item.kind && item.last_row - open.first_row < GROUP_LINES => {
                open.last_row = item.last_row;
                if open.names.len() < MAX_SYMBOLS {
                    open.names.extend(item.names);
                }
            }
            _ => {
                flush(&mut group, &mut chunks);
                group = Some(item);
            }
        }
    }
    flush(&mut group, &mut chunks);
    if next_free_row < lines.count() {
        windows(lines, next_free_row..lines.count(), &mut chunks);
    }
    chunks
}

fn item_chunk<'a>(lines: &Lines<'a>, item: Item) -> Chunk<'a> {
    Chunk {
        start_line: item.first_row as u32 + 1,
        end_line: item.last_row as u32 + 1,
        symbol: item.names.join(" "),
        kind: item.kind,
        text: lines.text(item.first_row..item.last_row + 1),
    }
}

/// Fixed windows over `rows`, skipping blank ones; names likely definitions by a line scan.
fn windows<'a>(lines: &Lines<'a>, rows: Range<usize>, chunks: &mut Vec<Chunk<'a>>) {
    let mut start = rows.start;
    while start < rows.end {
        let end = (start + WINDOW_LINES).min(rows.end);
        let text = lines.text(start..end);
        if !text.trim().is_empty() {
            let symbol = scan_definitions(lines, start..end);
            chunks.push(Chunk {
                start_line: start as u32 + 1,
                end_line: end as u32,
                symbol,
                kind: ChunkKind::Lines,
                text,
            });
        }
        start = end;
    }
}

/// Names that a line window probably defines: `#define NAME` and column-0 `name(` lines, the
/// kernel's style for function definitions.
fn scan_definitions(lines: &Lines, rows: Range<usize>) -> String {
    let mut names: Vec<&str> = Vec::new();
    for row in rows {
        let line = lines.line(row);
        let name = if let Some(rest) = line.strip_prefix("#define") {
            rest.trim_start().split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next()
        } else if line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') && !line.ends_with(';') {
            definition_name(line)
        } else {
            None
        };
        if let Some(name) = name.filter(|name| name.len() > 1 && !is_keyword(name)) {
            if names.len() < MAX_SYMBOLS {
                names.push(name);
            }
        }
    }
    names.join(" ")
}

/// The name a column-0 definition line introduces: `int foo(` → `foo`, and for wrapper macros
/// (`BPF_CALL_2(bpf_map_lookup_elem, ...)`) the first argument.
fn definition_name(line: &str) -> Option<&str> {
    let (head, arguments) = line.split_once('(')?;
    let name = head.rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next()?;
    if is_macro_like(name) {
        arguments.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().filter(|a| !a.is_empty())
    } else {
        Some(name)
    }
}

fn is_keyword(word: &str) -> bool {
    matches!(word, "if" | "for" | "while" | "switch" | "return" | "sizeof" | "defined" | "else")
}

/// Assembly: line windows, naming `ENTRY(x)` / `SYM_FUNC_START(x)` / `x:` labels.
pub fn chunk_asm(src: &str) -> Vec<Chunk<'_>> {
    let lines = Lines::new(src);
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < lines.count() {
        let end = (start + WINDOW_LINES).min(lines.count());
        let text = lines.text(start..end);
        if !text.trim().is_empty() {
            let mut names = Vec::new();
            for row in start..end {
                let line = lines.line(row).trim();
                if let Some((head, rest)) = line.split_once('(') {
                    if head.starts_with("SYM_") || head == "ENTRY" || head == "ENDPROC" {
                        names.extend(rest.split([',', ')']).next().map(str::trim));
                    }
                } else if let Some(label) = line.strip_suffix(':') {
                    if label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        && !label.starts_with(|c: char| c.is_ascii_digit())
                    {
                        names.push(label);
                    }
                }
            }
            names.truncate(MAX_SYMBOLS);
            chunks.push(Chunk {
                start_line: start as u32 + 1,
                end_line: end as u32,
                symbol: names.join(" "),
                kind: ChunkKind::Lines,
                text,
            });
        }
        start = end;
    }
    chunks
}

/// True for an RST underline/overline: one punctuation character repeated.
fn is_rule(line: &str) -> bool {
    let line = line.trim_end();
    let Some(first) = line.chars().next() else { return false };
    line.len() >= 3 && "=-~^*#\"+'".contains(first) && line.chars().all(|c| c == first)
}

/// Documentation: one chunk per section (split into windows when long), named by its heading.
pub fn chunk_doc(src: &str) -> Vec<Chunk<'_>> {
    let lines = Lines::new(src);
    let count = lines.count();
    // Section starts: (row, title).
    let mut sections: Vec<(usize, String)> = vec![(0, String::new())];
    for row in 1..count {
        let title = lines.line(row - 1).trim();
        if is_rule(lines.line(row))
            && !title.is_empty()
            && !is_rule(title)
            && title.len() <= lines.line(row).trim_end().len() + 2
        {
            let start = if row >= 2 && is_rule(lines.line(row - 2)) { row - 2 } else { row - 1 };
            sections.push((start, title.to_string()));
        }
    }
    let mut chunks = Vec::new();
    for (index, (start, title)) in sections.iter().enumerate() {
        let end = sections.get(index + 1).map_or(count, |next| next.0);
        let mut row = *start;
        while row < end {
            let stop = (row + DOC_WINDOW_LINES).min(end);
            let text = lines.text(row..stop);
            if !text.trim().is_empty() {
                chunks.push(Chunk {
                    start_line: row as u32 + 1,
                    end_line: stop as u32,
                    symbol: title.clone(),
                    kind: ChunkKind::Doc,
                    text,
                });
            }
            row = stop;
        }
    }
    chunks
}

/// Kconfig: one chunk per `config`/`menuconfig` entry (symbol `CONFIG_X X`), windows elsewhere.
pub fn chunk_kconfig(src: &str) -> Vec<Chunk<'_>> {
    let lines = Lines::new(src);
    let count = lines.count();
    let entry_name = |row: usize| {
        let line = lines.line(row);
        line.strip_prefix("config ").or_else(|| line.strip_prefix("menuconfig ")).map(str::trim)
    };
    let mut chunks = Vec::new();
    let mut row = 0;
    while row < count {
        if let Some(name) = entry_name(row) {
            let mut end = row + 1;
            while end < count
                && entry_name(end).is_none()
                && !lines.line(end).starts_with(|c: char| c.is_ascii_alphabetic())
            {
                end += 1;
            }
            chunks.push(Chunk {
                start_line: row as u32 + 1,
                end_line: end as u32,
                symbol: format!("CONFIG_{name} {name}"),
                kind: ChunkKind::Kconfig,
                text: lines.text(row..end),
            });
            row = end;
        } else {
            let mut end = row + 1;
            while end < count && end - row < WINDOW_LINES && entry_name(end).is_none() {
                end += 1;
            }
            let text = lines.text(row..end);
            if !text.trim().is_empty() {
                chunks.push(Chunk {
                    start_line: row as u32 + 1,
                    end_line: end as u32,
                    symbol: String::new(),
                    kind: ChunkKind::Lines,
                    text,
                });
            }
            row = end;
        }
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
#include <linux/spinlock.h>

#define FOO_MAX 16
#define FOO_MIN 1

/**
 * foo_add() - add a foo
 */
static int foo_add(struct foo *foo, int n)
{
\treturn foo->n + n;
}

struct foo {
\tint n;
};

int foo_count(void);
EXPORT_SYMBOL(foo_add);
";

    #[test]
    fn c_items_with_line_ranges() {
        let chunks = chunk_c(SAMPLE, &mut c_parser());
        let summary: Vec<_> = chunks.iter().map(|c| (c.kind, c.symbol.as_str(), c.start_line, c.end_line)).collect();
        assert!(summary.contains(&(ChunkKind::Macro, "FOO_MAX FOO_MIN", 3, 4)), "{summary:?}");
        assert!(summary.contains(&(ChunkKind::Function, "foo_add", 6, 12)), "{summary:?}");
        assert!(summary.contains(&(ChunkKind::Struct, "foo", 14, 16)), "{summary:?}");
        assert!(summary.contains(&(ChunkKind::Prototype, "foo_count", 18, 18)), "{summary:?}");
        // Every non-blank line is covered by exactly one chunk.
        for (row, line) in SAMPLE.lines().enumerate() {
            let line_no = row as u32 + 1;
            let covering = chunks.iter().filter(|c| c.start_line <= line_no && line_no <= c.end_line).count();
            if !line.trim().is_empty() {
                assert_eq!(covering, 1, "line {line_no} {line:?} in {summary:?}");
            }
        }
    }

    #[test]
    fn the_outline_empties_function_bodies_and_keeps_every_row() {
        let outlined = outline(SAMPLE);
        assert_eq!(outlined.lines().count(), SAMPLE.lines().count());
        assert!(!outlined.contains("return foo->n"), "{outlined}");
        assert!(outlined.contains("static int foo_add(struct foo *foo, int n)\n{\n"), "{outlined}");
        assert!(outlined.contains("struct foo {\n\n};"), "{outlined}");
        // Table entries and macros inside a body do not close it.
        let table = "static int t[] = {\n{\n\t1,\n},\n{\n\t2,\n},\n};\nint x;\n";
        assert_eq!(outline(table), "static int t[] = {\n\n\n\n\n\n\n};\nint x;\n");
        let with_macro = "void f(void)\n{\n#define M do { \\\n} while (0)\n\tM;\n}\n";
        assert_eq!(outline(with_macro), "void f(void)\n{\n\n\n\n}\n");
        // `extern "C"` wraps declarations, not a body.
        assert_eq!(outline("extern \"C\" {\nint f(void);\n}\n"), "extern \"C\" {\nint f(void);\n}\n");
        // A one-line head is a body too; an indented block is not top level.
        assert_eq!(outline("int f(void) {\n\treturn 1;\n}\n"), "int f(void) {\n\n}\n");
        assert_eq!(outline("\tif (x) {\n\treturn 1;\n\t}\n"), "\tif (x) {\n\treturn 1;\n\t}\n");
        // An unterminated body is left alone too.
        assert_eq!(outline("int f(void)\n{\n\treturn 1;\n"), "int f(void)\n{\n\treturn 1;\n");
    }

    #[test]
    fn macro_wrapped_definitions_are_named_by_argument() {
        let src = "#include <linux/bpf.h>\n\n/* Look up. */\nBPF_CALL_2(bpf_map_lookup_elem, struct bpf_map *, map, void *, key)\n{\n\treturn 0;\n}\n\n\
                   SYSCALL_DEFINE3(open, const char __user *, filename, int, flags,\n\t\tumode_t, mode)\n{\n\treturn 0;\n}\n";
        let chunks = chunk_c(src, &mut c_parser());
        let functions: Vec<_> = chunks
            .iter()
            .filter(|chunk| chunk.kind == ChunkKind::Function)
            .map(|chunk| (chunk.symbol.as_str(), chunk.start_line, chunk.end_line))
            .collect();
        assert_eq!(
            functions,
            [("bpf_map_lookup_elem BPF_CALL_2", 3, 7), ("open sys_open SYSCALL_DEFINE3", 9, 13)],
            "{chunks:#?}"
        );
        // Rows are kept: the head only gains a type in front.
        assert_eq!(outline(src).lines().count(), src.lines().count());
    }

    /// Files are outside input: random mixes of C fragments (wrapped heads, unbalanced braces,
    /// open comments, continuations) never panic the chunkers, and chunks stay in order within
    /// the file.
    #[test]
    fn chunkers_survive_fragment_soup() {
        const FRAGMENTS: &[&str] = &[
            "BPF_CALL_2(f, u64, a, u64, b)\n",
            "SYSCALL_DEFINE1(x, int,\n",
            "{\n",
            "}\n",
            "},\n",
            "int f(void)\n",
            "static int g(int a) {\n",
            "#define M(a) \\\n",
            "/* open comment\n",
            "*/\n",
            "\"str { \\\"\n",
            "struct s {\n",
            "\treturn 0;\n",
            "\n",
            "(\n",
            ")\n",
            "X(\u{e9}) {\n",
            "ENTRY(sym)\n",
            "label:\n",
        ];
        let mut parser = c_parser();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2_000 {
            let mut src = String::new();
            for _ in 0..next() % 40 {
                src.push_str(FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize]);
            }
            let rows = src.lines().count() as u32;
            for file_type in [FileType::C, FileType::Asm] {
                let mut previous_end = 0;
                for chunk in chunk_file(file_type, &src, &mut parser) {
                    assert!(chunk.start_line >= 1 && chunk.start_line <= chunk.end_line, "{chunk:?} in {src:?}");
                    assert!(chunk.end_line <= rows && chunk.start_line > previous_end, "{chunk:?} in {src:?}");
                    previous_end = chunk.end_line;
                }
            }
            assert_eq!(outline(&src).lines().count(), src.lines().count(), "{src:?}");
        }
    }

    #[test]
    fn doc_sections_named_by_heading() {
        let src = "=====\nTitle\n=====\n\nintro\n\nUsage\n-----\n\ntext\n";
        let chunks = chunk_doc(src);
        assert_eq!(chunks.len(), 2);
        assert_eq!((chunks[0].symbol.as_str(), chunks[0].start_line), ("Title", 1));
        assert_eq!((chunks[1].symbol.as_str(), chunks[1].start_line), ("Usage", 7));
    }

    #[test]
    fn kconfig_entries() {
        let src = "menu \"x\"\n\nconfig BPF_JIT\n\tbool \"Enable BPF JIT\"\n\thelp\n\t  JIT.\n\nendmenu\n";
        let chunks = chunk_kconfig(src);
        let entry = chunks.iter().find(|c| c.kind == ChunkKind::Kconfig).unwrap();
        assert_eq!((entry.symbol.as_str(), entry.start_line), ("CONFIG_BPF_JIT BPF_JIT", 3));
    }
}
