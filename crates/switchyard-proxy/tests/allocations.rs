//! Heap allocations per proxied request, counted exactly: a counting global allocator that counts only
//! on the gateway's own runtime threads (the test's client and backend run on another runtime). The
//! figure does not depend on the machine's load, so it can guard the request path where timings
//! cannot: a change that adds an allocation per request fails here with the new count.
//!
//! `cargo test -p switchyard-proxy --test allocations -- --nocapture` prints the figures; with
//! `SWITCHYARD_ALLOC_TRACE=1` it also prints where the allocations of a few requests come from (the
//! first frames of each one's backtrace, grouped).
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]
#![allow(
    unsafe_code,
    reason = "a counting global allocator needs an unsafe impl; it only forwards to System"
)]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use support::{Backend, route, static_config};
use switchyard_config::{MemoryProvider, StaticConfig};
use switchyard_proxy::Gateway;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Counting;

thread_local! {
    /// Set on the gateway runtime's threads.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// Whether the allocations of counted threads are traced now.
static TRACING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The backtraces of traced allocations.
static TRACES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn counted() -> bool {
    COUNTED.try_with(Cell::get).unwrap_or(false)
}

/// Counts an allocation of a counted thread and, while tracing, keeps its backtrace (with counting
/// off on this thread, so that the backtrace's own allocations are not traced).
fn count() {
    if !counted() {
        return;
    }
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    if TRACING.load(Ordering::Relaxed) {
        COUNTED.set(false);
        let trace = std::backtrace::Backtrace::force_capture().to_string();
        TRACES.lock().unwrap().push(trace);
        COUNTED.set(true);
    }
}

/// The traced allocations grouped by their first frames outside the allocator and the standard
/// library, most frequent first.
fn report_traces(requests: usize) {
    let traces = std::mem::take(&mut *TRACES.lock().unwrap());
    let mut groups: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for trace in &traces {
        let frames: Vec<&str> = trace
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("at "))
            .map(|l| l.split_once(": ").map_or(l, |(_, f)| f))
            .filter(|f| {
                let noise = [
                    "std::",
                    "core::",
                    "alloc::",
                    "<alloc::",
                    "<core::",
                    "__rust",
                    "<T as alloc::",
                ];
                !noise.iter().any(|p| f.starts_with(p))
                    && !f.contains("allocations::")
                    && !["count", "alloc", "alloc_impl_runtime", "realloc"].contains(f)
            })
            .take(8)
            .collect();
        *groups.entry(frames.join("\n      <- ")).or_default() += 1;
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    println!("{} allocations traced over {requests} requests:", traces.len());
    for (frames, n) in groups {
        println!("{:5.2}/request  {frames}", n as f64 / requests as f64);
    }
}

// SAFETY: every call is passed to `System` unchanged; the counter is an atomic add.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Sends `n` GETs one after another on one keep-alive connection, reading each whole answer.
async fn requests(stream: &mut TcpStream, n: usize) {
    let mut buf = vec![0u8; 4096];
    for _ in 0..n {
        stream
            .write_all(b"GET /x HTTP/1.1\r\nHost: example.com\r\nUser-Agent: count\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        loop {
            let read = stream.read(&mut buf).await.unwrap();
            assert!(read > 0, "the gateway closed the connection");
            got.extend_from_slice(&buf[..read]);
            if let Some(head_end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&got[..head_end]).unwrap().to_ascii_lowercase();
                assert!(head.starts_with("http/1.1 200"), "{head}");
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .expect("a content-length")
                    .parse()
                    .unwrap();
                if got.len() >= head_end + 4 + length {
                    break;
                }
            }
        }
    }
}

/// Allocations per proxied request on the gateway's threads, for a gateway of `config` routing every
/// request to one backend; with `SWITCHYARD_ALLOC_TRACE`, where they come from.
fn per_request(config: &StaticConfig) -> f64 {
    // One measure at a time: the counter is shared by every counted thread.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // The gateway's runtime: one worker, counted.
    let gateway_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .on_thread_start(|| COUNTED.set(true))
        .build()
        .unwrap();
    let test_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let backend = test_runtime.block_on(Backend::start("b"));
    let dynamic = route("PathPrefix(`/`)", &[backend.url()]);
    let (gateway, addr): (_, SocketAddr) = gateway_runtime.block_on(async {
        let (provider, _handle) = MemoryProvider::new("test", dynamic);
        let gateway = Gateway::new(config)
            .provider(provider)
            .throttle(std::time::Duration::ZERO)
            .start()
            .await
            .unwrap();
        gateway.wait_for(|s| s.generation() > 0).await;
        let addr = gateway.local_addr("web").unwrap();
        (gateway, addr)
    });
    const MEASURED: usize = 2_000;
    let per_request = test_runtime.block_on(async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // Warm up: pools, caches and buffers reach their steady size.
        requests(&mut stream, 500).await;
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        requests(&mut stream, MEASURED).await;
        let after = ALLOCATIONS.load(Ordering::Relaxed);
        if std::env::var_os("SWITCHYARD_ALLOC_TRACE").is_some() {
            TRACING.store(true, Ordering::Relaxed);
            requests(&mut stream, 10).await;
            TRACING.store(false, Ordering::Relaxed);
            report_traces(10);
        }
        (after - before) as f64 / MEASURED as f64
    });
    gateway_runtime.block_on(gateway.shutdown());
    per_request
}

#[test]
fn allocations_per_proxied_keep_alive_request_stay_within_budget() {
    let per_request = per_request(&static_config());
    println!("allocations per proxied HTTP/1.1 keep-alive request: {per_request:.2}");
    // The budget: today's count. Lower it when a change removes allocations; a change that needs
    // more must say why here. Where the 16 are (`SWITCHYARD_ALLOC_TRACE=1`): hyper's server and client
    // halves (heads split out of their read buffers and the buffers regrown, the body channel, the
    // header-read timer, the response's oneshot: 7), the backend's non-standard header names (3, the test backend's), the
    // copy of the head kept to replay a request a reused connection dropped unanswered (2), and
    // hyper's callback for 1xx answers, forwarded as Traefik does (3).
    // Half an allocation of slack: hyper's header-read timer is not armed for every request.
    const BUDGET: f64 = 16.5;
    assert!(
        per_request <= BUDGET,
        "{per_request:.2} allocations per request, over the budget of {BUDGET}"
    );
    assert!(
        per_request >= 1.0,
        "the counter counts the gateway's threads ({per_request:.2})"
    );
}

/// Metrics and the access log on: what observing a request adds (issue: the observability seam).
#[cfg(all(feature = "metrics", feature = "access-log"))]
#[test]
fn observed_requests_add_a_bounded_number_of_allocations() {
    use switchyard_config::{AccessLog, Metrics, Prometheus};
    let plain = per_request(&static_config());
    let logs = tempfile::tempdir().unwrap();
    let mut config = static_config();
    config.metrics = Some(Metrics {
        prometheus: Some(Prometheus {
            manual_routing: true,
            ..Prometheus::default()
        }),
        ..Metrics::default()
    });
    config.access_log = Some(AccessLog {
        file_path: logs.path().join("access.log").display().to_string(),
        ..AccessLog::default()
    });
    let observed = per_request(&config);
    println!("allocations per request: {plain:.2} plain, {observed:.2} with metrics and the access log");
    // 3 today: the request's record (an `Arc`, boxed again as a request extension) and the pending
    // observation; the metric series and the log line reuse their buffers. (The extensions' table,
    // which the record's insertion allocates, the 1xx callback would allocate anyway.)
    const BUDGET: f64 = 3.5;
    assert!(
        observed - plain <= BUDGET,
        "observing adds {:.2} allocations per request, over the budget of {BUDGET}",
        observed - plain
    );
    assert!(
        std::fs::read_to_string(logs.path().join("access.log")).is_ok_and(|l| l.lines().count() > 100),
        "the access log was written"
    );
}

/// The canary's ring of recent requests, once every slot has been written, copies each request into
/// a slot's own buffers: no allocation.
#[test]
fn recording_requests_for_the_canary_allocates_nothing() {
    let plain = per_request(&static_config());
    let mut config = static_config();
    config.canary = Some(switchyard_config::Canary {
        requests: 100,
        hold: false,
    });
    let recorded = per_request(&config);
    println!("allocations per request: {plain:.2} plain, {recorded:.2} with the canary recording");
    // A tenth of slack for the timer noted above.
    assert!(
        recorded - plain <= 0.1,
        "the canary adds {:.2} allocations per request",
        recorded - plain
    );
}
