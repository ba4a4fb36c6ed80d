//! The text console on the UART: a line assembler and the commands it understands.
//!
//! This is the human and test interface until the message port takes over binary frames;
//! bytes that are not printable text are counted and dropped, so a burst of garbage costs
//! at most the line it lands in.

/// Longest accepted command line.
pub const MAX_LINE: usize = 128;

/// One command line (printable ASCII only).
pub type Line = heapless::String<MAX_LINE>;

/// Assembles bytes into command lines, the way a terminal user expects them edited: printable
/// text is echoed, Backspace and Delete erase the last character, Ctrl-C drops the line, and
/// Enter (CR, LF or CR LF) ends it. A line with a byte no keyboard types is not echoed.
#[derive(Default)]
pub struct LineAssembler {
    line: Line,
    overlong: bool,
    after_cr: bool,
    /// The line has had a byte no keyboard types (noise, a frame of the message port): it is
    /// no longer echoed, so garbage on the line never makes the kernel talk back.
    noisy: bool,
    /// Lines thrown away for being longer than [`MAX_LINE`].
    pub overlong_lines: u64,
    /// Bytes that were neither printable ASCII, a line ending nor an editing key.
    pub non_text_bytes: u64,
}

/// What one typed byte did: what to send back so the terminal shows the line, and the line
/// it completed, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub echo: Echo,
    pub line: Option<Line>,
}

/// The console's answer to one typed byte, for the person at the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// Nothing to show (a non-text byte, the LF of a CR LF, Backspace on an empty line).
    Nothing,
    /// The typed character itself.
    Byte(u8),
    /// Backspace, space, backspace: the last character disappears.
    Erase,
    /// CR LF: the cursor goes to a new line.
    NewLine,
    /// `^C` and a new line: the line was dropped.
    Cancel,
    /// BEL: the line is full; what follows is dropped with it.
    Bell,
}

impl Echo {
    /// The bytes to write back to the UART.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Echo::Nothing => &[],
            Echo::Byte(byte) => core::slice::from_ref(byte),
            Echo::Erase => b"\x08 \x08",
            Echo::NewLine => b"\r\n",
            Echo::Cancel => b"^C\r\n",
            Echo::Bell => b"\x07",
        }
    }
}

const BACKSPACE: u8 = 0x08;
const DELETE: u8 = 0x7f;
const CTRL_C: u8 = 0x03;

impl LineAssembler {
    pub const fn new() -> Self {
        Self {
            line: heapless::String::new(),
            overlong: false,
            after_cr: false,
            noisy: false,
            overlong_lines: 0,
            non_text_bytes: 0,
        }
    }

    /// Feeds one byte; returns what to echo and the line that `byte` completes, if any.
    pub fn push(&mut self, byte: u8) -> Step {
        let after_cr = core::mem::replace(&mut self.after_cr, byte == b'\r');
        let (echo, line) = match byte {
            // The LF of a CR LF: the CR already ended the line.
            b'\n' if after_cr => (Echo::Nothing, None),
            b'\r' | b'\n' => {
                let line = core::mem::take(&mut self.line);
                let echo = if core::mem::replace(&mut self.noisy, false) { Echo::Nothing } else { Echo::NewLine };
                if core::mem::replace(&mut self.overlong, false) {
                    self.overlong_lines += 1;
                    (echo, None)
                } else {
                    (echo, (!line.is_empty()).then_some(line))
                }
            }
            BACKSPACE | DELETE if self.overlong => (Echo::Nothing, None),
            BACKSPACE | DELETE => match self.line.pop() {
                Some(_) => (Echo::Erase, None),
                None => (Echo::Nothing, None),
            },
            CTRL_C => {
                self.line.clear();
                self.overlong = false;
                self.noisy = false;
                (Echo::Cancel, None)
            }
            0x20..=0x7e if self.overlong => (Echo::Nothing, None),
            0x20..=0x7e => match self.line.push(byte as char) {
                Ok(()) => (Echo::Byte(byte), None),
                Err(()) => {
                    self.overlong = true;
                    (Echo::Bell, None)
                }
            },
            _ => {
                self.non_text_bytes += 1;
                self.noisy = true;
                (Echo::Nothing, None)
            }
        };
        let echo = if self.noisy && echo != Echo::Cancel { Echo::Nothing } else { echo };
        Step { echo, line }
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
    /// `reboot`: reset the board (back to the chainloader, if the card carries it).
    Reboot,
    /// Anything else.
    Unknown(&'a str),
}

/// What `help` prints.
pub const HELP: &str = "commands: help, ping, echo TEXT, ticks, uart, info, reboot";

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
        "reboot" => Command::Reboot,
        _ => Command::Unknown(word),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(assembler: &mut LineAssembler, bytes: &[u8]) -> Vec<String> {
        bytes.iter().filter_map(|b| assembler.push(*b).line).map(|l| l.as_str().to_owned()).collect()
    }

    /// What a terminal receives back while `bytes` are typed.
    fn screen(assembler: &mut LineAssembler, bytes: &[u8]) -> Vec<u8> {
        bytes.iter().flat_map(|b| assembler.push(*b).echo.bytes().to_vec()).collect()
    }

    #[test]
    fn a_person_typing_sees_the_line_and_can_correct_it() {
        let mut a = LineAssembler::new();
        assert_eq!(screen(&mut a, b"pinx\x7fg\r"), b"pinx\x08 \x08g\r\n");
        assert_eq!(feed(&mut a, b"pinx\x08g\r\n"), ["ping"], "Backspace and Delete both erase; CR LF is one Enter");
        assert_eq!(screen(&mut a, b"\x7f\x7fok\r\n"), b"ok\r\n", "nothing to erase, nothing shown");
        assert_eq!(screen(&mut a, b"reboot\x03"), b"reboot^C\r\n");
        assert_eq!(feed(&mut a, b"reboot\x03ping\n"), ["ping"], "Ctrl-C drops the line");
        assert_eq!(screen(&mut a, b"\n\n"), b"\r\n\r\n", "LF alone is Enter");
    }

    #[test]
    fn a_full_line_rings_once_and_echoes_nothing_more() {
        let mut a = LineAssembler::new();
        let mut typed = vec![b'x'; MAX_LINE + 5];
        typed.push(b'\x7f');
        let shown = screen(&mut a, &typed);
        assert_eq!(shown.len(), MAX_LINE + 1);
        assert_eq!(shown.last(), Some(&0x07));
        assert_eq!(screen(&mut a, b"\r"), b"\r\n");
        assert_eq!(a.overlong_lines, 1);
        assert_eq!(feed(&mut a, b"ping\r"), ["ping"]);
    }

    #[test]
    fn noise_is_not_echoed() {
        // A line that had a byte no keyboard types is echoed no further, its end included, so
        // a burst of noise (or message-port frames) makes the console say next to nothing.
        let mut a = LineAssembler::new();
        assert_eq!(screen(&mut a, b"ab\x00cd\rok\r"), b"abok\r\n");
        let mut state = 0x6b69_6e67_u32;
        let garbage: Vec<u8> = (0..1 << 16)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            })
            .collect();
        let shown = screen(&mut a, &garbage);
        assert!(shown.len() < garbage.len() / 20, "{} bytes echoed for {} of noise", shown.len(), garbage.len());
        feed(&mut a, b"\r"); // ends what the noise left on the line
        assert_eq!(feed(&mut a, b"ping\r"), ["ping"], "a fresh line after the noise works");
        assert_eq!(screen(&mut a, b"ping\r"), b"ping\r\n", "and is echoed again");
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
        assert_eq!(parse("reboot"), Command::Reboot);
        assert_eq!(parse("frobnicate"), Command::Unknown("frobnicate"));
    }
}
