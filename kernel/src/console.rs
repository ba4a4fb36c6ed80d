//! The text console on the UART: a line assembler and the commands it understands.
//!
//! This is the human and test interface until the message port takes over binary frames;
//! bytes that are not printable text are counted and dropped, so a burst of garbage costs
//! at most the line it lands in.

/// Longest accepted command line.
pub const MAX_LINE: usize = 128;

/// One command line (printable ASCII only).
pub type Line = heapless::String<MAX_LINE>;

/// Assembles bytes into command lines.
#[derive(Default)]
pub struct LineAssembler {
    line: Line,
    overlong: bool,
    /// Lines thrown away for being longer than [`MAX_LINE`].
    pub overlong_lines: u64,
    /// Bytes that were neither printable ASCII nor a line ending.
    pub non_text_bytes: u64,
}

impl LineAssembler {
    pub const fn new() -> Self {
        Self { line: heapless::String::new(), overlong: false, overlong_lines: 0, non_text_bytes: 0 }
    }

    /// Feeds one byte; returns the line that `byte` completes, if any.
    pub fn push(&mut self, byte: u8) -> Option<Line> {
        match byte {
            b'\r' | b'\n' => {
                let line = core::mem::take(&mut self.line);
                if core::mem::replace(&mut self.overlong, false) {
                    self.overlong_lines += 1;
                    return None;
                }
                (!line.is_empty()).then_some(line)
            }
            0x20..=0x7e => {
                if self.line.push(byte as char).is_err() {
                    self.overlong = true;
                }
                None
            }
            _ => {
                self.non_text_bytes += 1;
                None
            }
        }
    }
}

/// A console command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// `help`: list the commands.
    Help,
    /// `ping`: answers `pong`.
    Ping,
    /// `echo TEXT`: prints TEXT back.
    Echo(&'a str),
    /// `ticks`: timer ticks per core.
    Ticks,
    /// `uart`: receive statistics.
    Uart,
    /// `info`: board, cores, memory, uptime.
    Info,
    /// Anything else.
    Unknown(&'a str),
}

/// What `help` prints.
pub const HELP: &str = "commands: help, ping, echo TEXT, ticks, uart, info";

/// Parses a command line.
pub fn parse(line: &str) -> Command<'_> {
    let line = line.trim();
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    match word {
        "help" => Command::Help,
        "ping" => Command::Ping,
        "echo" => Command::Echo(rest),
        "ticks" => Command::Ticks,
        "uart" => Command::Uart,
        "info" => Command::Info,
        _ => Command::Unknown(word),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(assembler: &mut LineAssembler, bytes: &[u8]) -> Vec<String> {
        bytes.iter().filter_map(|b| assembler.push(*b)).map(|l| l.as_str().to_owned()).collect()
    }

    #[test]
    fn assembles_lines_and_drops_garbage() {
        let mut a = LineAssembler::new();
        assert_eq!(feed(&mut a, b"ping\r\necho hi\n\n"), ["ping", "echo hi"]);
        assert_eq!(feed(&mut a, b"pi\x00\xffng\n"), ["ping"]);
        assert_eq!(a.non_text_bytes, 2);
    }

    #[test]
    fn overlong_lines_are_dropped_whole() {
        let mut a = LineAssembler::new();
        let mut long = vec![b'x'; MAX_LINE + 10];
        long.push(b'\n');
        assert!(feed(&mut a, &long).is_empty());
        assert_eq!(a.overlong_lines, 1);
        assert_eq!(feed(&mut a, b"ping\n"), ["ping"], "the next line is whole again");
    }

    #[test]
    fn parses_commands() {
        assert_eq!(parse("ping"), Command::Ping);
        assert_eq!(parse(" echo a b "), Command::Echo("a b"));
        assert_eq!(parse("ticks"), Command::Ticks);
        assert_eq!(parse("reboot"), Command::Unknown("reboot"));
    }
}
