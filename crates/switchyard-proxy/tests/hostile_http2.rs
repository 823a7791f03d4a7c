//! Hostile HTTP/2 clients (h2c by prior knowledge) through the real gateway on loopback, with frames
//! written by hand where a well-behaved client library would refuse to send them: requests whose
//! framing or headers an HTTP/1.1 backend could read differently (the h2 → h1 downgrade) never reach a
//! backend, and floods (rapid reset, CONTINUATION, SETTINGS and PING, streams past the limit, a zero
//! window) end or stall only the abusive connection, within bounded CPU and memory, while another
//! client is served. Each flood prints its CPU seconds and peak RSS (`--nocapture`).
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::{Request, StatusCode};
use support::{Backend, TestGateway, route};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PROTOCOL_ERROR: u32 = 0x1;
const REFUSED_STREAM: u32 = 0x7;
const CANCEL: u32 = 0x8;
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// An HTTP/2 frame as read or written.
#[derive(Debug, Clone)]
struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

impl Frame {
    fn new(kind: u8, flags: u8, stream: u32, payload: Vec<u8>) -> Self {
        Self {
            kind,
            flags,
            stream,
            payload,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let len = self.payload.len() as u32;
        out.extend_from_slice(&len.to_be_bytes()[1..]);
        out.push(self.kind);
        out.push(self.flags);
        out.extend_from_slice(&(self.stream & 0x7fff_ffff).to_be_bytes());
        out.extend_from_slice(&self.payload);
    }

    /// The error code of a RST_STREAM or GOAWAY.
    fn error_code(&self) -> u32 {
        let at = if self.kind == GOAWAY { 4 } else { 0 };
        u32::from_be_bytes(self.payload[at..at + 4].try_into().unwrap())
    }
}

/// An HPACK integer with an `n`-bit prefix, after `first`'s high bits.
fn hpack_int(out: &mut Vec<u8>, first: u8, n: u32, value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// A header block of literal fields without indexing (new names, no Huffman): any bytes at all, as a
/// hostile client may send them.
fn block(fields: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0);
        hpack_int(&mut out, 0, 7, name.len());
        out.extend_from_slice(name);
        hpack_int(&mut out, 0, 7, value.len());
        out.extend_from_slice(value);
    }
    out
}

/// Header fields as raw names and values.
type Fields<'a> = Vec<(&'a [u8], &'a [u8])>;

/// A valid GET's pseudo-headers, then `extra`.
fn get_fields<'a>(path: &'a [u8], extra: &[(&'a [u8], &'a [u8])]) -> Fields<'a> {
    let mut fields: Fields<'a> = vec![
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":authority", b"a.test"),
        (b":path", path),
    ];
    fields.extend_from_slice(extra);
    fields
}

/// How a hand-written exchange ended, as far as the client could see.
#[derive(Debug)]
struct Seen {
    frames: Vec<Frame>,
    closed: bool,
}

impl Seen {
    fn resets(&self, stream: u32) -> Vec<u32> {
        let frames = self.frames.iter();
        frames
            .filter(|f| f.kind == RST_STREAM && f.stream == stream)
            .map(Frame::error_code)
            .collect()
    }

    fn goaway(&self) -> Option<u32> {
        self.frames.iter().find(|f| f.kind == GOAWAY).map(Frame::error_code)
    }
}

/// A connection writing frames by hand.
struct RawH2 {
    stream: TcpStream,
}

impl RawH2 {
    /// Connects and sends the preface with empty SETTINGS, or with `settings` (id, value) pairs.
    async fn connect(addr: SocketAddr, settings: &[(u16, u32)]) -> Self {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut payload = Vec::new();
        for (id, value) in settings {
            payload.extend_from_slice(&id.to_be_bytes());
            payload.extend_from_slice(&value.to_be_bytes());
        }
        let mut wire = PREFACE.to_vec();
        Frame::new(SETTINGS, 0, 0, payload).encode(&mut wire);
        stream.write_all(&wire).await.unwrap();
        Self { stream }
    }

    /// Writes frames; `false` once the gateway has closed the connection.
    async fn send(&mut self, frames: &[Frame]) -> bool {
        let mut wire = Vec::new();
        for frame in frames {
            frame.encode(&mut wire);
        }
        self.stream.write_all(&wire).await.is_ok()
    }

    /// Reads frames until the connection closes or nothing comes for `quiet`, acknowledging SETTINGS.
    async fn read(&mut self, quiet: Duration) -> Seen {
        let mut bytes = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        let closed = loop {
            match tokio::time::timeout(quiet, self.stream.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => break true,
                Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
                Err(_) => break false,
            }
        };
        let mut frames = Vec::new();
        let mut at = 0;
        while at + 9 <= bytes.len() {
            let len = u32::from_be_bytes([0, bytes[at], bytes[at + 1], bytes[at + 2]]) as usize;
            if at + 9 + len > bytes.len() {
                break;
            }
            let stream = u32::from_be_bytes(bytes[at + 5..at + 9].try_into().unwrap()) & 0x7fff_ffff;
            let payload = bytes[at + 9..at + 9 + len].to_vec();
            frames.push(Frame::new(bytes[at + 3], bytes[at + 4], stream, payload));
            at += 9 + len;
        }
        Seen { frames, closed }
    }
}

async fn gateway() -> (Backend, TestGateway) {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    (backend, gateway)
}

fn paths(backend: &Backend) -> Vec<String> {
    backend.seen().iter().map(|s| s.uri.path().to_owned()).collect()
}

/// One request over a well-behaved h2c client: the status, or the error.
async fn h2_get(addr: SocketAddr, path: &str) -> Result<StatusCode, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (client, connection) = h2::client::handshake(tcp).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut client = client.ready().await.map_err(|e| e.to_string())?;
    let request = Request::get(format!("http://a.test{path}")).body(()).unwrap();
    let (response, _) = client.send_request(request, true).map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .map_err(|_| "no answer within 10 s".to_owned())?
        .map_err(|e| e.to_string())?;
    Ok(response.status())
}

/// The process's CPU time so far (user + system), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat is readable");
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// The resident set size now and its peak, in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status is readable");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/self/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Runs a flood and checks its cost: CPU below `cpu_limit`, resident memory grown by less than
/// `rss_limit_mib`; prints the figures.
async fn measured<F: Future<Output = ()>>(what: &str, cpu_limit: Duration, rss_limit_mib: u64, flood: F) {
    let (rss_before, _) = rss_kib();
    let (cpu_before, started) = (cpu_time(), Instant::now());
    flood.await;
    let (cpu, took) = (cpu_time() - cpu_before, started.elapsed());
    let (rss_after, peak) = rss_kib();
    let grown = rss_after.saturating_sub(rss_before) / 1024;
    println!(
        "{what}: {:.2} CPU s in {:.2} s, RSS {} -> {} MiB (peak {} MiB)",
        cpu.as_secs_f64(),
        took.as_secs_f64(),
        rss_before / 1024,
        rss_after / 1024,
        peak / 1024
    );
    assert!(cpu < cpu_limit, "{what}: {cpu:?} of CPU (limit {cpu_limit:?})");
    assert!(
        grown < rss_limit_mib,
        "{what}: RSS grew by {grown} MiB (limit {rss_limit_mib} MiB)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_content_length_that_disagrees_with_data_never_smuggles_a_request_to_the_backend() {
    let (backend, gateway) = gateway().await;
    let smuggled = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

    // More data than `content-length` says: the extra bytes would be a request on an HTTP/1.1 hop.
    let mut over = RawH2::connect(gateway.addr, &[]).await;
    let mut body = b"hello".to_vec();
    body.extend_from_slice(smuggled);
    let fields = [
        (&b":method"[..], &b"POST"[..]),
        (b":scheme", b"http"),
        (b":authority", b"a.test"),
        (b":path", b"/over"),
        (b"content-length", b"5"),
    ];
    over.send(&[
        Frame::new(HEADERS, END_HEADERS, 1, block(&fields)),
        Frame::new(DATA, END_STREAM, 1, body),
    ])
    .await;
    let seen = over.read(Duration::from_millis(500)).await;
    assert_eq!(
        seen.resets(1),
        [PROTOCOL_ERROR],
        "more data than content-length: {seen:?}"
    );

    // Less data than `content-length` says, then the end of the stream: a backend connection left
    // waiting for the rest would read the next request on it as body.
    let mut under = RawH2::connect(gateway.addr, &[]).await;
    let fields = [
        (&b":method"[..], &b"POST"[..]),
        (b":scheme", b"http"),
        (b":authority", b"a.test"),
        (b":path", b"/under"),
        (b"content-length", b"100"),
    ];
    under
        .send(&[
            Frame::new(HEADERS, END_HEADERS, 1, block(&fields)),
            Frame::new(DATA, END_STREAM, 1, b"short".to_vec()),
        ])
        .await;
    let seen = under.read(Duration::from_millis(500)).await;
    assert_eq!(
        seen.resets(1),
        [PROTOCOL_ERROR],
        "less data than content-length: {seen:?}"
    );

    // The backend still serves requests as requests, and never saw the hidden one.
    for i in 0..5 {
        assert_eq!(h2_get(gateway.addr, &format!("/after-{i}")).await, Ok(StatusCode::OK));
    }
    backend.wait_for_requests(5).await;
    let seen = paths(&backend);
    assert!(!seen.iter().any(|p| p == "/smuggled"), "{seen:?}");
    for i in 0..5 {
        assert!(seen.contains(&format!("/after-{i}")), "{seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_specific_headers_and_pseudo_header_abuse_are_refused_before_any_backend() {
    let (backend, gateway) = gateway().await;
    let cases: Vec<(&str, Fields<'_>)> = vec![
        ("connection", get_fields(b"/c1", &[(b"connection", b"keep-alive")])),
        (
            "transfer-encoding",
            get_fields(b"/c2", &[(b"transfer-encoding", b"chunked")]),
        ),
        ("keep-alive", get_fields(b"/c3", &[(b"keep-alive", b"timeout=5")])),
        ("upgrade", get_fields(b"/c4", &[(b"upgrade", b"websocket")])),
        (
            "proxy-connection",
            get_fields(b"/c5", &[(b"proxy-connection", b"keep-alive")]),
        ),
        ("te other than trailers", get_fields(b"/c6", &[(b"te", b"gzip")])),
        ("a second :path", get_fields(b"/p1", &[(b":path", b"/smuggled")])),
        (
            "no :path",
            vec![(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"a.test")],
        ),
        ("a :path without a slash", get_fields(b"smuggled", &[])),
        (
            "a pseudo-header after a regular one",
            vec![
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b"x-first", b"1"),
                (b":path", b"/p4"),
            ],
        ),
        ("an unknown pseudo-header", get_fields(b"/p5", &[(b":evil", b"1")])),
        ("an upper-case name", get_fields(b"/p6", &[(b"X-Upper", b"1")])),
        (
            "CR LF in a value",
            get_fields(b"/p7", &[(b"x-split", b"a\r\nGET /smuggled HTTP/1.1")]),
        ),
        ("NUL in a value", get_fields(b"/p8", &[(b"x-nul", b"a\0b")])),
        ("a space in a name", get_fields(b"/p9", &[(b"x bad", b"1")])),
    ];
    for (what, fields) in &cases {
        let mut raw = RawH2::connect(gateway.addr, &[]).await;
        raw.send(&[Frame::new(HEADERS, END_HEADERS | END_STREAM, 1, block(fields))])
            .await;
        let seen = raw.read(Duration::from_millis(300)).await;
        let refused = seen.resets(1).contains(&PROTOCOL_ERROR) || seen.goaway() == Some(PROTOCOL_ERROR);
        assert!(refused, "{what}: not refused as malformed: {seen:?}");
    }
    // A well-formed request still goes through, and it is the only one the backend ever saw.
    assert_eq!(h2_get(gateway.addr, "/fine").await, Ok(StatusCode::OK));
    assert_eq!(paths(&backend), ["/fine"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_field_that_disagrees_with_the_authority_is_neither_routed_by_nor_forwarded() {
    // `Host(a.test)` and `Host(b.test)` go to different backends; a request says `a.test` in
    // `:authority` and `b.test` in `host`. The host it is routed by and the host the backend reads
    // must be the same one.
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let mut config = route("Host(`a.test`)", &[a.url()]);
    let other = route("Host(`b.test`)", &[b.url()]);
    config
        .http
        .routers
        .insert("rb".into(), switchyard_config::Router::new("Host(`b.test`)", "sb"));
    config
        .http
        .services
        .insert("sb".into(), other.http.services["s"].clone());
    let gateway = TestGateway::start(config).await;
    let mut raw = RawH2::connect(gateway.addr, &[]).await;
    let fields = get_fields(b"/which", &[(b"host", b"b.test")]);
    raw.send(&[Frame::new(HEADERS, END_HEADERS | END_STREAM, 1, block(&fields))])
        .await;
    let seen = raw.read(Duration::from_millis(500)).await;
    // As Go's server does for Traefik: `:authority` is the request's host, the `host` field goes.
    let answer = seen.frames.iter().find(|f| f.kind == HEADERS && f.stream == 1);
    assert_eq!(
        answer.and_then(|f| f.payload.first()),
        Some(&0x88),
        "answered 200 (HPACK's indexed `:status 200`): {seen:?}"
    );
    assert!(b.seen().is_empty(), "routed or forwarded by the `host` field");
    let served = a.seen();
    assert_eq!(served.len(), 1);
    assert_eq!(
        served[0].headers["host"], "a.test",
        "the backend reads the host that was routed by"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_reset_ends_the_connection_with_bounded_cost_and_others_are_served() {
    let (backend, gateway) = gateway().await;
    let mut raw = RawH2::connect(gateway.addr, &[]).await;
    let mut batches = 0;
    measured(
        "rapid reset (5,000 HEADERS + RST_STREAM)",
        Duration::from_secs(5),
        64,
        async {
            let mut stream = 1;
            for _ in 0..50 {
                let mut frames = Vec::new();
                for _ in 0..100 {
                    frames.push(Frame::new(
                        HEADERS,
                        END_HEADERS | END_STREAM,
                        stream,
                        block(&get_fields(b"/rr", &[])),
                    ));
                    frames.push(Frame::new(RST_STREAM, 0, stream, CANCEL.to_be_bytes().to_vec()));
                    stream += 2;
                }
                if !raw.send(&frames).await {
                    break;
                }
                batches += 1;
            }
            let seen = raw.read(Duration::from_secs(1)).await;
            println!("rapid reset: GOAWAY {:?} after {batches} batches of 100", seen.goaway());
            assert_eq!(
                seen.goaway(),
                Some(ENHANCE_YOUR_CALM),
                "the abusive connection is told off"
            );
            assert!(seen.closed, "and closed");
        },
    )
    .await;
    let forwarded = paths(&backend).iter().filter(|p| *p == "/rr").count();
    println!("rapid reset: {forwarded} of 5,000 reset requests reached the backend");
    assert!(forwarded < 5_000, "the flood was cut short");
    assert_eq!(h2_get(gateway.addr, "/other").await, Ok(StatusCode::OK));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuation_flood_is_cut_at_the_header_limit() {
    let (backend, gateway) = gateway().await;
    let mut raw = RawH2::connect(gateway.addr, &[]).await;
    let mut sent = 0usize;
    measured(
        "CONTINUATION flood (up to 64 MiB of header block)",
        Duration::from_secs(5),
        64,
        async {
            let start = block(&get_fields(b"/cont", &[]));
            if raw.send(&[Frame::new(HEADERS, 0, 1, start)]).await {
                let filler = block(&[(b"x-filler", &[b'a'; 1000][..])]);
                'flood: for _ in 0..1024 {
                    let frames: Vec<Frame> = (0..64)
                        .map(|_| Frame::new(CONTINUATION, 0, 1, filler.clone()))
                        .collect();
                    if !raw.send(&frames).await {
                        break 'flood;
                    }
                    sent += 64 * filler.len();
                }
            }
            let seen = raw.read(Duration::from_secs(1)).await;
            println!("CONTINUATION flood: GOAWAY {:?}, closed {}", seen.goaway(), seen.closed);
            assert!(seen.closed, "the connection is ended: {seen:?}");
        },
    )
    .await;
    println!("CONTINUATION flood: {} KiB sent before the gateway closed", sent / 1024);
    assert!(sent < 64 << 20, "the gateway read the whole flood");
    assert!(paths(&backend).is_empty());
    assert_eq!(h2_get(gateway.addr, "/other").await, Ok(StatusCode::OK));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_and_ping_floods_from_a_client_that_never_reads_stay_bounded() {
    let (_backend, gateway) = gateway().await;
    for (what, frame) in [
        (
            "SETTINGS flood (200,000 frames, never read)",
            Frame::new(SETTINGS, 0, 0, Vec::new()),
        ),
        (
            "PING flood (200,000 frames, never read)",
            Frame::new(PING, 0, 0, vec![7; 8]),
        ),
    ] {
        let mut raw = RawH2::connect(gateway.addr, &[]).await;
        let mut sent = 0;
        let mut outcome = "all sent";
        measured(what, Duration::from_secs(8), 64, async {
            let batch: Vec<Frame> = (0..1000).map(|_| frame.clone()).collect();
            for _ in 0..200 {
                // A gateway that stops reading leaves the writes pending: that is the bound too.
                match tokio::time::timeout(Duration::from_secs(2), raw.send(&batch)).await {
                    Ok(true) => sent += 1000,
                    Ok(false) => {
                        outcome = "connection closed by the gateway";
                        break;
                    }
                    Err(_) => {
                        outcome = "the gateway stopped reading";
                        break;
                    }
                }
            }
        })
        .await;
        let seen = raw.read(Duration::from_millis(500)).await;
        let acks = seen
            .frames
            .iter()
            .filter(|f| f.kind == frame.kind && f.flags & 1 == 1)
            .count();
        println!(
            "{what}: {sent} frames written ({outcome}); {acks} acknowledged so far, GOAWAY {:?}",
            seen.goaway()
        );
        assert_eq!(h2_get(gateway.addr, "/other").await, Ok(StatusCode::OK), "{what}");
        drop(raw);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_and_ping_floods_from_a_client_that_reads_end_with_enhance_your_calm() {
    let (backend, gateway) = gateway().await;
    for (what, frame) in [
        ("SETTINGS flood, answers read", Frame::new(SETTINGS, 0, 0, Vec::new())),
        ("PING flood, answers read", Frame::new(PING, 0, 0, vec![7; 8])),
    ] {
        let mut raw = RawH2::connect(gateway.addr, &[]).await;
        let (mut sent, mut acks, mut goaway, mut closed) = (0, 0, None, false);
        measured(what, Duration::from_secs(8), 64, async {
            let batch: Vec<Frame> = (0..1000).map(|_| frame.clone()).collect();
            // Up to 50,000 frames, reading the acknowledgements after each thousand.
            for _ in 0..50 {
                if !raw.send(&batch).await {
                    closed = true;
                    break;
                }
                sent += 1000;
                let seen = raw.read(Duration::from_millis(50)).await;
                acks += seen
                    .frames
                    .iter()
                    .filter(|f| f.kind == frame.kind && f.flags & 1 == 1)
                    .count();
                goaway = goaway.or(seen.goaway());
                if seen.closed {
                    closed = true;
                    break;
                }
            }
        })
        .await;
        println!("{what}: {sent} frames sent, {acks} acknowledged, GOAWAY {goaway:?}, closed {closed}");
        assert_eq!(
            goaway,
            Some(ENHANCE_YOUR_CALM),
            "{what}: the flood is ended with GOAWAY 0xb"
        );
        assert!(closed, "{what}: the connection is closed");
        assert!(sent <= 15_000, "{what}: {sent} frames were taken before the end");
        assert!(
            acks >= 5_000,
            "{what}: the frames below the budget are answered ({acks})"
        );
        assert_eq!(h2_get(gateway.addr, "/other").await, Ok(StatusCode::OK), "{what}");
    }
    // A client within the budget keeps its connection: 2,000 pings among its requests.
    let mut raw = RawH2::connect(gateway.addr, &[]).await;
    let pings: Vec<Frame> = (0..2000).map(|_| Frame::new(PING, 0, 0, vec![1; 8])).collect();
    assert!(raw.send(&pings).await);
    let request = Frame::new(HEADERS, END_HEADERS | END_STREAM, 1, block(&get_fields(b"/calm", &[])));
    assert!(raw.send(&[request]).await);
    let seen = raw.read(Duration::from_millis(500)).await;
    assert_eq!(seen.goaway(), None, "a few thousand pings are not a flood");
    assert!(!seen.closed);
    assert!(paths(&backend).contains(&"/calm".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_past_the_limit_are_refused_and_a_zero_window_stalls_only_its_stream() {
    let (backend, gateway) = gateway().await;
    // 300 streams waiting on a held backend answer: the entrypoint allows 250 at once.
    let mut raw = RawH2::connect(gateway.addr, &[]).await;
    let frames: Vec<Frame> = (0..300u32)
        .map(|i| {
            Frame::new(
                HEADERS,
                END_HEADERS | END_STREAM,
                1 + 2 * i,
                block(&get_fields(b"/held", &[])),
            )
        })
        .collect();
    assert!(raw.send(&frames).await);
    let seen = raw.read(Duration::from_secs(1)).await;
    let refused = (0..300u32)
        .filter(|i| seen.resets(1 + 2 * i).contains(&REFUSED_STREAM))
        .count();
    println!("300 streams at once: {refused} refused, GOAWAY {:?}", seen.goaway());
    assert_eq!(refused, 50, "the streams past 250 are refused");
    backend.wait_for_requests(250).await;
    assert!(
        backend.seen().len() <= 250,
        "no more than the limit reached the backend"
    );
    backend.release(300);
    drop(raw);

    // A client that opens no window: a large answer waits, bounded, and another client is served.
    let mut stalled = RawH2::connect(gateway.addr, &[(0x4, 0)]).await;
    measured(
        "zero window (a 64 MiB answer never read)",
        Duration::from_secs(5),
        64,
        async {
            let request = Frame::new(
                HEADERS,
                END_HEADERS | END_STREAM,
                1,
                block(&get_fields(b"/bytes/67108864", &[])),
            );
            assert!(stalled.send(&[request]).await);
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert_eq!(h2_get(gateway.addr, "/other").await, Ok(StatusCode::OK));
        },
    )
    .await;
    drop(stalled);
}
