//! Traefik's access log (`accessLog`): one line per request, in Traefik's `common`, `genericCLF` or
//! `json` layout, filtered by status, retries and duration, with fields and headers kept, dropped or
//! redacted, written to a file (reopened on SIGUSR1, for log rotation) or to standard output.
//!
//! [`AccessLog::log`] runs on the request path: it filters, formats the line (in a buffer its thread
//! keeps) and appends it to a bounded buffer shared with a writer thread, without waiting for it. The
//! writer owns the output; when it falls behind and the buffer is full, lines are dropped and counted,
//! and a warning says how many (at most once a minute). [`AccessLog::flush`] waits until what was
//! logged so far is written.
//!
//! Where switchyard differs from Traefik:
//! - lines are always written off the request path; `bufferingSize` is the buffer's room, in lines
//!   (Traefik's meaning when it is set), 4096 lines when it is 0 (where Traefik writes on the request
//!   path);
//! - an unknown format, mode or status range is an error, not a fallback to the default;
//! - `redact` also applies to fields (Traefik knows it for headers only);
//! - the file's directory must exist (Traefik creates it);
//! - `origin_<Header>` fields, `TLSClientSubject`, `GzipRatio` and
//!   `fields.queryParameters` are not written yet; `OriginContentSize` is the size sent to the
//!   client, `RequestContentSize` the declared `Content-Length`;
//! - `ClientHost` is `X-Forwarded-For` only when the exchange kept the request headers.

mod line;
mod options;
mod record;
#[cfg(test)]
mod tests;
mod text;
mod writer;

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::tz::TimeZone;

use crate::{Exchange, ObserveError};
use line::View;
use options::{Filter, Format, Mode, Modes};
use record::Field;
use record::Record;
use writer::{Queue, Target};

/// Lines the buffer holds when `bufferingSize` is 0 (Traefik then writes on the request path).
const DEFAULT_CAPACITY: usize = 4096;
/// The most lines the buffer holds, whatever `bufferingSize` asks.
const MAX_CAPACITY: usize = 1 << 20;
/// The most room a thread keeps for writing its next line (a longer line's is let go).
const SCRATCH_KEPT: usize = 16 * 1024;

thread_local! {
    /// The line a thread is writing, its room kept from one request to the next.
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

/// A configured access log: see the [module](self).
#[derive(Debug)]
pub(crate) struct AccessLog {
    format: Format,
    filter: Option<Filter>,
    modes: Modes,
    add_internals: bool,
    /// The local time zone, for `StartLocal` and `time`.
    zone: TimeZone,
    /// Requests seen so far (Traefik's `RequestCount`).
    count: AtomicU64,
    queue: Queue,
}

impl AccessLog {
    /// The access log `config` describes, its file opened and its writer started.
    ///
    /// # Errors
    ///
    /// An unknown format or mode, a malformed status range, a negative `minDuration`, or a file that
    /// cannot be opened (its directory must exist).
    pub(crate) fn new(config: &switchyard_config::AccessLog) -> Result<Self, ObserveError> {
        let target = if config.file_path.is_empty() {
            Target::Stdout
        } else {
            Target::File(PathBuf::from(&config.file_path))
        };
        Self::with_target(config, target)
    }

    fn with_target(config: &switchyard_config::AccessLog, target: Target) -> Result<Self, ObserveError> {
        let format = Format::parse(&config.format)?;
        let filter = Filter::parse(config.filters.as_ref())?;
        let modes = Modes::parse(config.fields.as_ref())?;
        let queue = Queue::start(target, capacity(config.buffering_size))?;
        Ok(Self {
            format,
            filter,
            modes,
            add_internals: config.add_internals,
            zone: TimeZone::system(),
            count: AtomicU64::new(0),
            queue,
        })
    }

    /// Logs a finished exchange, unless it went to an internal service (and `addInternals` is off)
    /// or the filters leave it out. Never blocks: a line the writer has no room for is dropped.
    pub(crate) fn log(&self, exchange: &Exchange) {
        if !self.add_internals && is_internal(exchange) {
            return;
        }
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if self.filter.as_ref().is_some_and(|filter| !filter.keeps(exchange)) {
            return;
        }
        let sent = SCRATCH.try_with(|scratch| {
            let Ok(mut line) = scratch.try_borrow_mut() else {
                return false;
            };
            self.send(&mut line, exchange, count);
            if line.capacity() > SCRATCH_KEPT {
                *line = String::new();
            }
            true
        });
        if sent != Ok(true) {
            self.send(&mut String::new(), exchange, count);
        }
    }

    /// Writes the line of `exchange` into `line` (emptied first) and hands it to the writer.
    fn send(&self, line: &mut String, exchange: &Exchange, count: u64) {
        line.clear();
        self.write_line(exchange, count, line);
        self.queue.push(line);
    }

    /// Appends the line of `exchange`, the `count`th request seen, to `out`.
    fn write_line(&self, exchange: &Exchange, count: u64, out: &mut String) {
        let record = Record::new(exchange, count, &self.zone);
        let view = View {
            record: &record,
            modes: &self.modes,
        };
        match self.format {
            Format::Common => line::clf(&view, true, out),
            Format::GenericClf => line::clf(&view, false, out),
            Format::Json => line::json(&view, out),
        }
    }

    /// The line of `exchange`, the `count`th request seen.
    #[cfg(test)]
    fn line(&self, exchange: &Exchange, count: u64) -> String {
        let mut out = String::new();
        self.write_line(exchange, count, &mut out);
        out
    }

    /// Waits until every line logged so far is written to the output.
    pub(crate) fn flush(&self) {
        self.queue.flush();
    }

    /// Reopens the file after the lines logged so far, as SIGUSR1 does: after `mv access.log
    /// access.log.1`, the next lines go to a new `access.log`.
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "SIGUSR1 reopens from the writer thread; only the tests call this"
        )
    )]
    pub(crate) fn reopen(&self) {
        self.queue.reopen();
    }

    /// Whether exchanges must keep their request headers (some header is logged).
    pub(crate) fn needs_request_headers(&self) -> bool {
        self.modes.logs_headers()
    }

    /// Whether exchanges must keep their `Host`: only JSON lines write it (`RequestAddr`,
    /// `RequestHost`, `RequestPort`), and only when those fields are not dropped.
    pub(crate) fn needs_host(&self) -> bool {
        let fields = [Field::RequestAddr, Field::RequestHost, Field::RequestPort];
        self.format == Format::Json && fields.iter().any(|&f| self.modes.field(f) != Mode::Drop)
    }

    /// Whether exchanges must keep their response headers (some header is logged).
    pub(crate) fn needs_response_headers(&self) -> bool {
        self.modes.logs_headers()
    }
}

/// The buffer's room: `bufferingSize` lines, or [`DEFAULT_CAPACITY`] when it is 0.
fn capacity(buffering_size: u64) -> usize {
    match usize::try_from(buffering_size) {
        Ok(0) => DEFAULT_CAPACITY,
        Ok(size) => size.min(MAX_CAPACITY),
        Err(_) => MAX_CAPACITY,
    }
}

/// Whether the request went to one of switchyard's own services (`api@internal`, `ping@internal`…).
fn is_internal(exchange: &Exchange) -> bool {
    let progress = &exchange.progress;
    [&progress.service, &progress.router]
        .into_iter()
        .any(|name| name.as_deref().is_some_and(|n| n.ends_with("@internal")))
}
