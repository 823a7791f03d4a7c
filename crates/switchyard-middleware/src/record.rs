//! What the stages of a request tell observability about it: the router and service it took, the
//! server chosen, the attempts and the origin's answer.
//!
//! An observing layer in front of routing (`switchyard-observe`) puts a [`RequestRecord`] in the
//! request's extensions; routing, the load balancer, the `retry` middleware and the upstream call add
//! to it, and the layer reads it back when the response ends, for its log line, metrics and span. A
//! request that nothing observes carries no record, and every stage skips its part.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use http::StatusCode;

/// What one request went through, as routing, the service and the upstream call saw it.
///
/// Shared (`Arc`) through the request's extensions, so that copies of the request a middleware makes
/// (a retry, a mirror) add to the same record. The lock is taken a few times per request by one task
/// at a time, so it is never contended.
///
/// ```
/// use std::sync::Arc;
/// use switchyard_middleware::{RequestRecord, Signals};
///
/// let record = Arc::new(RequestRecord::default());
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(Arc::clone(&record));
///
/// // A stage further in adds what it knows.
/// if let Some(record) = RequestRecord::of(req.extensions()) {
///     record.set_router("web-router@file".into(), Some(Signals::ALL));
/// }
/// assert_eq!(record.progress().router.as_deref(), Some("web-router@file"));
/// ```
#[derive(Debug, Default)]
pub struct RequestRecord {
    progress: Mutex<Progress>,
    attempts: Option<Arc<dyn AttemptObserver>>,
}

/// What a request went through so far: see [`RequestRecord::progress`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Progress {
    /// The router that matched, qualified (`web@file`).
    pub router: Option<Arc<str>>,
    /// The service the router leads to, qualified.
    pub service: Option<Arc<str>>,
    /// The URL of the server the last attempt went to.
    pub server: Option<Arc<str>>,
    /// How many times the request was sent again (`retry`).
    pub retries: u32,
    /// The status the origin answered the last attempt with.
    pub origin_status: Option<StatusCode>,
    /// How long the origin took to answer the last attempt's head.
    pub origin_duration: Option<Duration>,
    /// Why the proxy answered in the origin's stead (`502`, `504`…), when it did.
    pub failure: Option<Arc<str>>,
    /// The matched router's `observability` switches, when it has the section (else the entrypoint's
    /// apply).
    pub signals: Option<Signals>,
    /// The user an authentication middleware let in.
    pub username: Option<Arc<str>>,
}

/// A router's `observability` switches: which signals its requests produce (all by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signals {
    /// Access log lines.
    pub access_logs: bool,
    /// Metrics.
    pub metrics: bool,
    /// Trace spans.
    pub tracing: bool,
}

impl Default for Signals {
    fn default() -> Self {
        Self::ALL
    }
}

impl Signals {
    /// Every signal on.
    pub const ALL: Self = Self {
        access_logs: true,
        metrics: true,
        tracing: true,
    };

    /// The switches of a router's `observability` section.
    ///
    /// ```
    /// use switchyard_middleware::Signals;
    ///
    /// let quiet = Signals::new(false, true, true);
    /// assert!(!quiet.access_logs && quiet.metrics);
    /// ```
    pub fn new(access_logs: bool, metrics: bool, tracing: bool) -> Self {
        Self {
            access_logs,
            metrics,
            tracing,
        }
    }
}

/// Watches the attempts a request makes at its servers (a tracer starting a client span per attempt,
/// say). Set on a record by [`RequestRecord::with_attempts`].
///
/// The record reads the clock once at each attempt's start and end, and hands the readings on, so
/// that an observer's times and the record's agree and cost no further reading.
pub trait AttemptObserver: Send + Sync + std::fmt::Debug {
    /// An attempt at `server`, starting `at`, is about to be sent with the head `parts`; the observer
    /// may add headers (trace propagation). What it returns hears how the attempt ended.
    fn attempt(&self, parts: &mut http::request::Parts, server: &str, at: Instant) -> Box<dyn AttemptEnd>;
}

/// How one attempt ended: see [`AttemptObserver`].
pub trait AttemptEnd: Send {
    /// The origin answered with `status`, `at` (when its head arrived).
    fn answered(self: Box<Self>, status: StatusCode, at: Instant);
    /// The attempt failed before an answer, for `cause`, `at`.
    fn failed(self: Box<Self>, cause: &str, at: Instant);
}

impl RequestRecord {
    /// A record whose attempts `observer` watches.
    pub fn with_attempts(observer: Arc<dyn AttemptObserver>) -> Self {
        Self {
            progress: Mutex::default(),
            attempts: Some(observer),
        }
    }

    /// The record of a request, from its extensions.
    pub fn of(extensions: &http::Extensions) -> Option<&Arc<Self>> {
        extensions.get::<Arc<Self>>()
    }

    /// What the request went through so far.
    pub fn progress(&self) -> Progress {
        self.lock().clone()
    }

    /// Takes what the request went through, leaving the record empty: for the observer, once the
    /// response has ended and nothing writes to the record any more.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use switchyard_middleware::RequestRecord;
    ///
    /// let record = RequestRecord::default();
    /// record.set_service(Arc::from("whoami@file"));
    /// assert_eq!(record.take_progress().service.as_deref(), Some("whoami@file"));
    /// assert_eq!(record.progress().service, None);
    /// ```
    pub fn take_progress(&self) -> Progress {
        std::mem::take(&mut *self.lock())
    }

    /// The `observability` switches of the router that matched, when it has the section: what
    /// [`progress`](Self::progress) says of them, without copying the rest.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use switchyard_middleware::{RequestRecord, Signals};
    ///
    /// let record = RequestRecord::default();
    /// assert_eq!(record.signals(), None);
    /// record.set_router(Arc::from("web@file"), Some(Signals::new(true, false, false)));
    /// assert_eq!(record.signals().map(|s| s.metrics), Some(false));
    /// ```
    pub fn signals(&self) -> Option<Signals> {
        self.lock().signals
    }

    /// Routing matched `router`, whose `observability` switches are `signals` (`None`: the router has
    /// no such section).
    pub fn set_router(&self, router: Arc<str>, signals: Option<Signals>) {
        let mut progress = self.lock();
        progress.router = Some(router);
        progress.signals = signals;
    }

    /// The request goes to `service`.
    pub fn set_service(&self, service: Arc<str>) {
        self.lock().service = Some(service);
    }

    /// An authentication middleware let `user` in.
    pub fn set_username(&self, user: &str) {
        self.lock().username = Some(user.into());
    }

    /// The request is sent again.
    pub fn retried(&self) {
        self.lock().retries += 1;
    }

    /// The proxy answered in the origin's stead, for `cause`.
    pub fn set_failure(&self, cause: &str) {
        self.lock().failure = Some(cause.into());
    }

    /// An attempt at `server` starts now with the head `parts`: records the server, lets the attempt
    /// observer (if any) add its headers, and returns what records the attempt's end.
    pub fn attempt(&self, parts: &mut http::request::Parts, server: &Arc<str>) -> Attempt<'_> {
        self.lock().server = Some(Arc::clone(server));
        let started = Instant::now();
        let end = (self.attempts.as_ref()).map(|observer| observer.attempt(parts, server, started));
        Attempt {
            record: self,
            started,
            end,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Progress> {
        // A panic while holding the lock cannot leave the record half-written in a way that matters.
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One attempt at a server, in progress: see [`RequestRecord::attempt`].
#[must_use = "an attempt records its end"]
pub struct Attempt<'a> {
    record: &'a RequestRecord,
    started: Instant,
    end: Option<Box<dyn AttemptEnd>>,
}

impl std::fmt::Debug for Attempt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl Attempt<'_> {
    /// The origin answered with `status`.
    pub fn answered(self, status: StatusCode) {
        let now = Instant::now();
        let mut progress = self.record.lock();
        progress.origin_status = Some(status);
        progress.origin_duration = Some(now.saturating_duration_since(self.started));
        progress.failure = None;
        drop(progress);
        if let Some(end) = self.end {
            end.answered(status, now);
        }
    }

    /// The attempt failed before an answer, for `cause`.
    pub fn failed(self, cause: &str) {
        let now = Instant::now();
        let mut progress = self.record.lock();
        progress.origin_status = None;
        progress.origin_duration = Some(now.saturating_duration_since(self.started));
        progress.failure = Some(cause.into());
        drop(progress);
        if let Some(end) = self.end {
            end.failed(cause, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    struct Count(Mutex<Vec<String>>);

    struct End(Arc<Count>);

    impl AttemptObserver for Arc<Count> {
        fn attempt(&self, parts: &mut http::request::Parts, server: &str, at: Instant) -> Box<dyn AttemptEnd> {
            assert!(at <= Instant::now());
            parts.headers.insert("x-attempt", http::HeaderValue::from_static("1"));
            self.0.lock().expect("lock").push(format!("start {server}"));
            Box::new(End(Arc::clone(self)))
        }
    }

    impl AttemptEnd for End {
        fn answered(self: Box<Self>, status: StatusCode, _at: Instant) {
            self.0.0.lock().expect("lock").push(format!("answered {status}"));
        }
        fn failed(self: Box<Self>, cause: &str, _at: Instant) {
            self.0.0.lock().expect("lock").push(format!("failed {cause}"));
        }
    }

    #[test]
    fn attempts_record_the_server_and_the_origin_answer_and_reach_the_observer() {
        let count = Arc::new(Count::default());
        let record = RequestRecord::with_attempts(Arc::new(Arc::clone(&count)));
        let (mut parts, ()) = http::Request::new(()).into_parts();
        let first: Arc<str> = "http://10.0.0.1:80".into();
        record.attempt(&mut parts, &first).failed("connection refused");
        record.retried();
        let second: Arc<str> = "http://10.0.0.2:80".into();
        record.attempt(&mut parts, &second).answered(StatusCode::CREATED);
        let progress = record.progress();
        assert_eq!(progress.server.as_deref(), Some("http://10.0.0.2:80"));
        assert_eq!(progress.retries, 1);
        assert_eq!(progress.origin_status, Some(StatusCode::CREATED));
        assert!(progress.origin_duration.is_some());
        assert_eq!(parts.headers["x-attempt"], "1");
        assert_eq!(
            *count.0.lock().expect("lock"),
            [
                "start http://10.0.0.1:80",
                "failed connection refused",
                "start http://10.0.0.2:80",
                "answered 201 Created"
            ]
        );
    }

    #[test]
    fn a_failed_attempt_after_an_answer_clears_the_origin_status() {
        let record = RequestRecord::default();
        let (mut parts, ()) = http::Request::new(()).into_parts();
        let server: Arc<str> = "http://10.0.0.1:80".into();
        record.attempt(&mut parts, &server).answered(StatusCode::BAD_GATEWAY);
        record.attempt(&mut parts, &server).failed("timeout");
        assert_eq!(record.progress().origin_status, None);
        assert_eq!(record.progress().signals, None);
    }
}
