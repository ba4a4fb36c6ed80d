//! What goes when kingly goes: the QEMU it started and the run files it wrote.
//!
//! Three ways out, three mechanisms:
//! - a normal return drops the guards here ([`TempPath`], [`ChildRegistration`]);
//! - SIGINT, SIGTERM and SIGHUP reach a thread that stops every registered child (SIGTERM, then
//!   SIGKILL after a grace period, so QEMU restores a terminal it put in raw mode), removes every
//!   registered path and exits with 128 + the signal number, as a shell reports it;
//! - SIGKILL cannot be caught: the child itself watches its parent
//!   ([`crate::qemu::ParentWatch`]).

use anyhow::Result;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// How long a child gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(2);

enum Entry {
    Child(u32),
    Path(PathBuf),
}

static REGISTRY: Mutex<Vec<(u64, Entry)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

fn register(entry: Entry) -> u64 {
    install_signal_thread();
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner()).push((id, entry));
    id
}

fn unregister(id: u64) {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner()).retain(|(other, _)| *other != id);
}

/// A child process the signal thread stops; dropping this forgets it. Drop it after killing the
/// child and before reaping it (`wait`), so its pid cannot have been reused when a signal comes.
#[must_use = "the child is forgotten when this is dropped"]
pub struct ChildRegistration(u64);

impl ChildRegistration {
    pub fn new(child: &std::process::Child) -> Self {
        Self(register(Entry::Child(child.id())))
    }
}

impl Drop for ChildRegistration {
    fn drop(&mut self) {
        unregister(self.0);
    }
}

/// A file or directory removed when this is dropped, or when a signal ends kingly.
#[derive(Debug)]
pub struct TempPath {
    path: PathBuf,
    id: u64,
}

impl TempPath {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let id = register(Entry::Path(path.clone()));
        Self { path, id }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the file: no longer removed on drop or on a signal.
    pub fn keep(mut self) -> PathBuf {
        unregister(self.id);
        std::mem::take(&mut self.path)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        unregister(self.id);
        if !self.path.as_os_str().is_empty() {
            remove(&self.path);
        }
    }
}

/// Removes what a kingly killed by SIGKILL (which no handler sees) left in `dir`: entries named
/// `{prefix}PID{rest}` whose PID no longer runs. Linux only (needs `/proc`); elsewhere a no-op.
pub fn remove_stale(dir: &Path, prefix: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else { continue };
        let pid = rest.split(|c: char| !c.is_ascii_digit()).next().unwrap_or("");
        if !pid.is_empty() && pid != std::process::id().to_string() && !Path::new("/proc").join(pid).exists() {
            remove(&entry.path());
        }
    }
}

fn remove(path: &Path) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

fn install_signal_thread() {
    INSTALL.call_once(|| {
        if let Err(e) = spawn_signal_thread() {
            eprintln!("kingly: cannot watch for signals ({e}); a killed kingly may leave QEMU running");
        }
    });
}

fn spawn_signal_thread() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new().name("kingly-signals".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            clean_up_and_exit(128 + signal);
        }
    })?;
    Ok(())
}

/// Stops every registered child, removes every registered path and exits with `code`. The
/// registry stays locked until the exit: a thread that sees its QEMU die meanwhile blocks when it
/// drops the child's registration, instead of returning QEMU's status as kingly's.
fn clean_up_and_exit(code: i32) -> ! {
    use rustix::process::{kill_process, Pid, Signal};
    let registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let children: Vec<Pid> = registry
        .iter()
        .filter_map(|(_, entry)| match entry {
            Entry::Child(pid) => Pid::from_raw(i32::try_from(*pid).ok()?),
            Entry::Path(_) => None,
        })
        .collect();
    for &pid in &children {
        let _ = kill_process(pid, Signal::TERM);
    }
    let deadline = Instant::now() + GRACE;
    while children.iter().any(|&pid| running(pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for &pid in &children {
        if running(pid) {
            let _ = kill_process(pid, Signal::KILL);
        }
    }
    for (_, entry) in registry.iter() {
        if let Entry::Path(path) = entry {
            remove(path);
        }
    }
    std::process::exit(code);
}

/// Whether `pid` still runs: it exists and is not a zombie (our children stay zombies until the
/// thread that owns them reaps them, which it will not do before we exit).
fn running(pid: rustix::process::Pid) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero())) else {
        return false;
    };
    // "pid (comm) S ...": the state follows the last ')', as comm may hold one.
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()).is_some_and(|state| state != "Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_paths_go_on_drop_and_leave_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("run.img");
        std::fs::write(&file, b"x").unwrap();
        let guard = TempPath::new(&file);
        let id = guard.id;
        assert!(REGISTRY.lock().unwrap().iter().any(|(other, _)| *other == id));
        drop(guard);
        assert!(!file.exists());
        assert!(!REGISTRY.lock().unwrap().iter().any(|(other, _)| *other == id));
    }

    #[test]
    fn a_kept_path_stays() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kept.img");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(TempPath::new(&file).keep(), file);
        assert!(file.exists());
    }

    #[test]
    fn a_reaped_or_missing_process_does_not_run() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let pid = rustix::process::Pid::from_child(&child);
        assert!(running(pid));
        child.kill().unwrap();
        // Killed but not reaped: a zombie.
        let deadline = Instant::now() + Duration::from_secs(5);
        while running(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!running(pid));
        child.wait().unwrap();
        assert!(!running(pid));
    }
}
