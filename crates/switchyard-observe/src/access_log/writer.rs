//! The writing, off the request path: lines go through a bounded channel to a thread that owns the
//! file (or standard output), writes them, and reopens the file on SIGUSR1 or when asked.
//!
//! Under load the writer gathers lines instead of waking for each: once a line wakes it, it sleeps
//! [`GATHER`] and takes what came meanwhile, so that requests send without waking anyone and the file
//! gets one write per buffer ([`BUFFER`]) rather than one per line. What it holds reaches the file as
//! soon as the lines stop coming, and at least every [`FLUSH_EVERY`] while they keep coming.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

use signal_hook::SigId;

use crate::ObserveError;

/// How often the idle writer looks at the rotation flag and reports dropped lines.
const TICK: Duration = Duration::from_millis(500);
/// How long the busy writer lets lines gather before taking them.
const GATHER: Duration = Duration::from_millis(5);
/// The longest a written line waits in the buffer while more keep coming.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// The writer's buffer.
const BUFFER: usize = 64 * 1024;
/// The least time between two warnings of the same kind.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Where the lines go.
pub(super) enum Target {
    /// Standard output (`filePath` empty).
    Stdout,
    /// A file, created if missing and appended to, reopened on SIGUSR1.
    File(PathBuf),
    /// Any writer (tests).
    #[cfg(test)]
    Sink(Box<dyn Write + Send>),
}

enum Message {
    Line(String),
    Flush(mpsc::Sender<()>),
    Reopen,
}

/// The request side of the writer: a bounded channel that never blocks a request.
#[derive(Debug)]
pub(super) struct Queue {
    sender: SyncSender<Message>,
    drops: Arc<Drops>,
    signal: Option<SigId>,
}

impl Queue {
    /// Opens `target` and starts its writer thread, with room for `capacity` lines in between.
    pub(super) fn start(target: Target, capacity: usize) -> Result<Self, ObserveError> {
        let (out, path) = target.open()?;
        let rotate = Arc::new(AtomicBool::new(false));
        let signal = path.as_ref().map(|_| watch_sigusr1(&rotate)).transpose()?;
        let (sender, receiver) = mpsc::sync_channel(capacity);
        let drops = Arc::new(Drops::default());
        let writer = Writer {
            out: BufWriter::with_capacity(BUFFER, out),
            dirty: false,
            path,
            rotate,
            drops: Arc::clone(&drops),
            errors: Throttle::default(),
        };
        let queue = Self { sender, drops, signal };
        // On failure, dropping the queue lets go of the signal.
        writer.spawn(receiver)?;
        Ok(queue)
    }

    /// Hands `line` to the writer; drops (and counts) it when the channel is full.
    pub(super) fn push(&self, line: String) {
        if self.sender.try_send(Message::Line(line)).is_err() {
            self.drops.count();
        }
    }

    /// Waits until every line pushed so far is written and flushed.
    pub(super) fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.sender.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
    }

    /// Has the writer reopen the file after the lines pushed so far.
    pub(super) fn reopen(&self) {
        let _ = self.sender.send(Message::Reopen);
    }

    /// How many lines were dropped so far.
    #[cfg(test)]
    pub(super) fn dropped(&self) -> u64 {
        self.drops.total.load(Ordering::Relaxed)
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // The writer thread writes what is left and ends once the channel closes.
        if let Some(id) = self.signal {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Sets `rotate` on every SIGUSR1 (the handler only stores the flag; the writer reopens).
fn watch_sigusr1(rotate: &Arc<AtomicBool>) -> Result<SigId, ObserveError> {
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, Arc::clone(rotate)).map_err(|e| ObserveError::Invalid {
        key: "accessLog.filePath".into(),
        reason: format!("cannot watch SIGUSR1 to reopen the file: {e}"),
    })
}

impl Target {
    fn open(self) -> Result<(Box<dyn Write + Send>, Option<PathBuf>), ObserveError> {
        match self {
            Self::Stdout => Ok((Box::new(io::stdout()), None)),
            Self::File(path) => match open_file(&path) {
                Ok(file) => Ok((Box::new(file), Some(path))),
                Err(source) => Err(ObserveError::File {
                    key: "accessLog.filePath",
                    path,
                    source,
                }),
            },
            #[cfg(test)]
            Self::Sink(sink) => Ok((sink, None)),
        }
    }
}

/// Opens `path` for appending, creating it (`rw-rw-r--` before the umask, as Traefik); its directory
/// must exist.
fn open_file(path: &std::path::Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o664);
    options.open(path)
}

/// Lines dropped because the writer fell behind, and when that was last reported.
#[derive(Debug, Default)]
struct Drops {
    total: AtomicU64,
    unreported: AtomicU64,
    warnings: Throttle,
}

impl Drops {
    fn count(&self) {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.unreported.fetch_add(1, Ordering::Relaxed);
        self.report();
    }

    /// Warns of the lines dropped since the last warning, at most once a minute.
    fn report(&self) {
        if self.unreported.load(Ordering::Relaxed) > 0 && self.warnings.due() {
            let dropped = self.unreported.swap(0, Ordering::Relaxed);
            tracing::warn!(
                dropped,
                "access log: the writer fell behind and {dropped} lines were dropped"
            );
        }
    }
}

/// Lets one warning through per minute.
#[derive(Debug)]
struct Throttle {
    epoch: Instant,
    /// Seconds from `epoch` to the last warning, plus one; 0 before any.
    last: AtomicU64,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            last: AtomicU64::new(0),
        }
    }
}

impl Throttle {
    fn due(&self) -> bool {
        let now = self.epoch.elapsed().as_secs() + 1;
        let last = self.last.load(Ordering::Relaxed);
        let due = last == 0 || now >= last + WARN_EVERY.as_secs();
        due && self
            .last
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

/// The writer thread's side: owns the output.
struct Writer {
    out: BufWriter<Box<dyn Write + Send>>,
    dirty: bool,
    path: Option<PathBuf>,
    rotate: Arc<AtomicBool>,
    drops: Arc<Drops>,
    errors: Throttle,
}

impl Writer {
    fn spawn(self, receiver: Receiver<Message>) -> Result<(), ObserveError> {
        let spawned = thread::Builder::new()
            .name("access-log".into())
            .spawn(move || self.run(&receiver));
        spawned.map(drop).map_err(|e| ObserveError::Invalid {
            key: "accessLog".into(),
            reason: format!("cannot start the writer thread: {e}"),
        })
    }

    fn run(mut self, receiver: &Receiver<Message>) {
        loop {
            match receiver.recv_timeout(TICK) {
                Ok(message) => {
                    self.handle(message);
                    self.gather(receiver);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.rotate_if_asked();
            self.flush();
            self.drops.report();
        }
        self.flush();
    }

    /// Takes the lines that keep coming, [`GATHER`] at a time, until a pause; flushes at least every
    /// [`FLUSH_EVERY`] meanwhile.
    fn gather(&mut self, receiver: &Receiver<Message>) {
        let mut flushed = Instant::now();
        while self.dirty {
            thread::sleep(GATHER);
            let mut taken = 0;
            for message in receiver.try_iter() {
                self.handle(message);
                taken += 1;
            }
            self.rotate_if_asked();
            if taken == 0 {
                return;
            }
            if flushed.elapsed() >= FLUSH_EVERY {
                self.flush();
                flushed = Instant::now();
            }
        }
    }

    fn rotate_if_asked(&mut self) {
        if self.rotate.swap(false, Ordering::SeqCst) {
            self.reopen();
        }
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::Line(line) => {
                self.dirty = true;
                if let Err(e) = self.out.write_all(line.as_bytes()) {
                    self.failed("write", &e);
                }
            }
            Message::Flush(done) => {
                self.flush();
                let _ = done.send(());
            }
            Message::Reopen => self.reopen(),
        }
    }

    fn flush(&mut self) {
        if std::mem::take(&mut self.dirty) {
            if let Err(e) = self.out.flush() {
                self.failed("write", &e);
            }
        }
    }

    /// Reopens the file at its path (after a rotation moved it away); keeps the old one on failure.
    fn reopen(&mut self) {
        let Some(path) = &self.path else { return };
        match open_file(path) {
            Ok(file) => {
                self.dirty = true;
                self.flush();
                self.out = BufWriter::with_capacity(BUFFER, Box::new(file));
            }
            Err(e) => self.failed("reopen", &e),
        }
    }

    fn failed(&self, what: &str, error: &io::Error) {
        if self.errors.due() {
            let path = self
                .path
                .as_deref()
                .map_or("standard output".into(), |p| p.display().to_string());
            tracing::warn!(%error, "access log: cannot {what} {path}");
        }
    }
}
