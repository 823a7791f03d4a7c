//! The writing, off the request path: lines are appended to a buffer shared with a thread that owns
//! the file (or standard output), takes what was appended in one piece and writes it, and reopens the
//! file on SIGUSR1 or when asked.
//!
//! Under load the writer gathers lines instead of waking for each: once a line wakes it, it sleeps
//! [`GATHER`] and takes what came meanwhile, so that requests append without waking anyone, no line
//! is allocated or handed over on its own, and the file gets one write per buffer ([`BUFFER`]) rather
//! than one per line. What it holds reaches the file as soon as the lines stop coming, and at least
//! every [`FLUSH_EVERY`] while they keep coming.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, mpsc};
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
/// The most room a batch keeps for the next one (what a burst needed above it is let go).
const KEPT: usize = 1024 * 1024;
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

/// What the requests handed to the writer and it has not taken yet.
#[derive(Debug, Default)]
struct Batch {
    /// The lines, one after the other.
    text: String,
    /// How many lines `text` holds.
    lines: usize,
    /// Where in `text` the file is to be reopened, when it was asked to be.
    reopen_at: Option<usize>,
    /// Who waits for the lines before them to be written and flushed.
    flushes: Vec<mpsc::Sender<()>>,
}

impl Batch {
    /// Empties the batch, keeping its room (up to [`KEPT`]).
    fn clear(&mut self) {
        if self.text.capacity() > KEPT {
            self.text = String::new();
        }
        self.text.clear();
        self.lines = 0;
        self.reopen_at = None;
        self.flushes.clear();
    }

    /// Whether there is nothing for the writer to do.
    fn is_empty(&self) -> bool {
        self.lines == 0 && self.reopen_at.is_none() && self.flushes.is_empty()
    }
}

/// The state the requests and the writer share, behind [`Shared::state`].
#[derive(Debug, Default)]
struct State {
    batch: Batch,
    /// The writer waits for work: whoever gives it some must wake it.
    idle: bool,
    /// The queue is gone: the writer writes what is left and ends.
    closed: bool,
    /// The writer has ended (after the queue, or it panicked): nothing will be written any more.
    gone: bool,
}

/// The buffer between the requests and the writer, and what wakes the writer.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the state with `change` and wakes the writer, whether it was idle or not.
    fn ask(&self, change: impl FnOnce(&mut State)) {
        let mut state = self.lock();
        change(&mut state);
        state.idle = false;
        drop(state);
        self.wake.notify_one();
    }
}

/// The request side of the writer: a bounded buffer that never blocks a request for long (only while
/// another appends its line or the writer takes them).
#[derive(Debug)]
pub(super) struct Queue {
    shared: Arc<Shared>,
    /// The most lines the buffer holds.
    capacity: usize,
    drops: Arc<Drops>,
    signal: Option<SigId>,
}

impl Queue {
    /// Opens `target` and starts its writer thread, with room for `capacity` lines in between.
    pub(super) fn start(target: Target, capacity: usize) -> Result<Self, ObserveError> {
        let (out, path) = target.open()?;
        let rotate = Arc::new(AtomicBool::new(false));
        let signal = path.as_ref().map(|_| watch_sigusr1(&rotate)).transpose()?;
        let shared = Arc::new(Shared::default());
        let drops = Arc::new(Drops::default());
        let writer = Writer {
            out: BufWriter::with_capacity(BUFFER, out),
            dirty: false,
            path,
            rotate,
            drops: Arc::clone(&drops),
            errors: Throttle::default(),
            shared: Arc::clone(&shared),
            taken: Batch::default(),
        };
        let queue = Self {
            shared,
            capacity,
            drops,
            signal,
        };
        // On failure, dropping the queue lets go of the signal.
        writer.spawn()?;
        Ok(queue)
    }

    /// Hands `line` to the writer; drops (and counts) it when the buffer is full.
    pub(super) fn push(&self, line: &str) {
        let mut state = self.shared.lock();
        if state.batch.lines >= self.capacity || state.gone {
            drop(state);
            self.drops.count();
            return;
        }
        state.batch.text.push_str(line);
        state.batch.lines += 1;
        let wake = std::mem::take(&mut state.idle);
        drop(state);
        if wake {
            self.shared.wake.notify_one();
        }
    }

    /// Waits until every line pushed so far is written and flushed.
    pub(super) fn flush(&self) {
        let (done, wait) = mpsc::channel();
        self.shared.ask(|state| {
            if !state.gone {
                state.batch.flushes.push(done);
            }
        });
        let _ = wait.recv();
    }

    /// Has the writer reopen the file after the lines pushed so far.
    pub(super) fn reopen(&self) {
        self.shared.ask(|state| {
            let batch = &mut state.batch;
            batch.reopen_at = batch.reopen_at.or(Some(batch.text.len()));
        });
    }

    /// How many lines were dropped so far.
    #[cfg(test)]
    pub(super) fn dropped(&self) -> u64 {
        self.drops.total.load(Ordering::Relaxed)
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        if let Some(id) = self.signal {
            signal_hook::low_level::unregister(id);
        }
        // The writer thread writes what is left and ends.
        self.shared.ask(|state| state.closed = true);
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
    shared: Arc<Shared>,
    /// The batch last taken from the requests (kept, emptied, for its room).
    taken: Batch,
}

impl Writer {
    fn spawn(self) -> Result<(), ObserveError> {
        let spawned = thread::Builder::new()
            .name("access-log".into())
            .spawn(move || self.run());
        spawned.map(drop).map_err(|e| ObserveError::Invalid {
            key: "accessLog".into(),
            reason: format!("cannot start the writer thread: {e}"),
        })
    }

    fn run(mut self) {
        loop {
            let closed = self.wait();
            if self.write_taken() > 0 {
                self.gather();
            }
            self.rotate_if_asked();
            self.flush();
            self.drops.report();
            if closed {
                break;
            }
        }
        self.flush();
    }

    /// Waits, [`TICK`] at most, for something to do, and takes it; whether the queue is gone.
    fn wait(&mut self) -> bool {
        let mut state = self.shared.lock();
        if state.batch.is_empty() && !state.closed {
            state.idle = true;
            let waited = self
                .shared
                .wake
                .wait_timeout_while(state, TICK, |s| s.idle && !s.closed);
            state = waited.unwrap_or_else(PoisonError::into_inner).0;
            state.idle = false;
        }
        std::mem::swap(&mut state.batch, &mut self.taken);
        state.closed
    }

    /// Takes what the requests handed over since the last time, without waiting.
    fn take(&mut self) {
        let mut state = self.shared.lock();
        std::mem::swap(&mut state.batch, &mut self.taken);
    }

    /// Takes the lines that keep coming, [`GATHER`] at a time, until a pause; flushes at least every
    /// [`FLUSH_EVERY`] meanwhile.
    fn gather(&mut self) {
        let mut flushed = Instant::now();
        while self.dirty {
            thread::sleep(GATHER);
            self.take();
            let taken = self.write_taken();
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

    /// Writes the batch taken (reopening the file where it was asked), then answers those waiting for
    /// a flush; returns how many lines it held.
    fn write_taken(&mut self) -> usize {
        let mut batch = std::mem::take(&mut self.taken);
        let text = batch.text.as_bytes();
        match batch.reopen_at {
            Some(at) => {
                let (before, after) = text.split_at(at.min(text.len()));
                self.write(before);
                self.reopen();
                self.write(after);
            }
            None => self.write(text),
        }
        if !batch.flushes.is_empty() {
            self.flush();
            for done in batch.flushes.drain(..) {
                let _ = done.send(());
            }
        }
        let lines = batch.lines;
        batch.clear();
        self.taken = batch;
        lines
    }

    fn write(&mut self, lines: &[u8]) {
        if lines.is_empty() {
            return;
        }
        self.dirty = true;
        if let Err(e) = self.out.write_all(lines) {
            self.failed("write", &e);
        }
    }

    fn rotate_if_asked(&mut self) {
        if self.rotate.swap(false, Ordering::SeqCst) {
            self.reopen();
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

impl Drop for Writer {
    /// Whether it ended or panicked, nothing will be written any more: those waiting for a flush stop
    /// waiting, and lines are dropped.
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.gone = true;
        state.batch.flushes.clear();
    }
}
