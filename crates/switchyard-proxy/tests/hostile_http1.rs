//! Request smuggling on HTTP/1.1, through the real gateway on loopback with a raw client: every message
//! whose framing two parsers could read differently is refused, or read one way only and the connection
//! closed after it, so that the bytes hidden in it never reach the backend as a second request.
//!
//! Each hostile request is followed, on the same connection, by `GET /smuggled`, placed where a parser
//! that read the framing the other way would find a request.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use support::{Backend, TestGateway, parse_raw, raw_exchange, route};
use switchyard_config::{PassiveHealthCheck, ServiceKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The request a confused parser would find in the hostile one.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

/// How long a connection the gateway keeps open is read before the test stops waiting for it to close.
const KEPT_OPEN: Duration = Duration::from_secs(2);

/// What came back on one connection: every byte until the gateway closed it or [`KEPT_OPEN`] passed.
struct Exchange {
    bytes: Vec<u8>,
    closed: bool,
}

impl Exchange {
    /// The status codes of the responses on the connection, in order.
    fn statuses(&self) -> Vec<u16> {
        let marker = b"HTTP/1.1 ";
        let mut statuses = Vec::new();
        let mut at = 0;
        while let Some(found) = self.bytes[at..].windows(marker.len()).position(|w| w == marker) {
            let start = at + found + marker.len();
            let code = self
                .bytes
                .get(start..start + 3)
                .and_then(|c| std::str::from_utf8(c).ok());
            if let Some(code) = code.and_then(|c| c.parse().ok()) {
                statuses.push(code);
            }
            at = start;
        }
        statuses
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Writes `request` then [`SMUGGLED`] on a new connection and reads what comes back.
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> Exchange {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut wire = request.to_vec();
    wire.extend_from_slice(SMUGGLED.as_bytes());
    stream.write_all(&wire).await.unwrap();
    let mut bytes = Vec::new();
    let mut buf = vec![0; 16 << 10];
    let closed = loop {
        match tokio::time::timeout(KEPT_OPEN, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break true,
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    Exchange { bytes, closed }
}

async fn gateway() -> (Backend, TestGateway) {
    let backend = Backend::start("b").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    (backend, gateway)
}

/// The paths the backend has seen.
fn paths(backend: &Backend) -> Vec<String> {
    backend.seen().iter().map(|s| s.uri.path().to_owned()).collect()
}

/// A POST to `/echo` with `headers` (each line ending CRLF) and `body` as written.
fn post(headers: &str, body: &str) -> String {
    format!("POST /echo HTTP/1.1\r\nHost: a\r\n{headers}\r\n{body}")
}

#[tokio::test]
async fn ambiguous_heads_are_refused_with_400_before_any_backend_sees_them() {
    let (backend, gateway) = gateway().await;
    let hidden = format!("0\r\n\r\n{SMUGGLED}");
    let cl = hidden.len();
    let cases = [
        // Two lengths: which one frames the body is the whole attack.
        post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello"),
        post("Content-Length: 5, 6\r\n", "hello"),
        post("Content-Length: 5, 5\r\n", "hello"),
        post("Content-Length: +5\r\n", "hello"),
        post("Content-Length: -5\r\n", "hello"),
        post("Content-Length: 0x5\r\n", "hello"),
        // A transfer coding whose last member is not `chunked`, however spelled: nothing frames the body.
        post(
            &format!("Content-Length: {cl}\r\nTransfer-Encoding: chunked, identity\r\n"),
            &hidden,
        ),
        post(
            &format!("Content-Length: {cl}\r\nTransfer-Encoding: xchunked\r\n"),
            &hidden,
        ),
        post(
            &format!("Content-Length: {cl}\r\nTransfer-Encoding: chunked-false\r\n"),
            &hidden,
        ),
        post(
            &format!("Content-Length: {cl}\r\nTransfer-Encoding: identity\r\n"),
            &hidden,
        ),
        post(
            &format!("Content-Length: {cl}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"),
            &hidden,
        ),
        // A space before the colon makes a name that is no token.
        post(
            &format!("Content-Length: {cl}\r\nTransfer-Encoding : chunked\r\n"),
            &hidden,
        ),
        // HTTP/1.0 has no chunked coding.
        format!("POST /echo HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: {cl}\r\n\r\n{hidden}"),
        // obs-fold, also as the first header line.
        post(
            &format!("X-Folded: a\r\n Transfer-Encoding: chunked\r\nContent-Length: {cl}\r\n"),
            &hidden,
        ),
        format!(
            "POST /echo HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: a\r\nContent-Length: {cl}\r\n\r\n{hidden}"
        ),
        post(
            &format!("X-Folded: a\r\n\tchunked\r\nContent-Length: {cl}\r\n"),
            &hidden,
        ),
        // A bare CR ends nothing.
        post(
            &format!("X-A: a\rTransfer-Encoding: chunked\r\nContent-Length: {cl}\r\n"),
            &hidden,
        ),
        "GET /echo HTTP/1.1\rHost: a\r\n\r\n".to_owned(),
        // Names that are no tokens, and control characters in values.
        post("X A: b\r\n", ""),
        post("X\u{1}A: b\r\n", ""),
        post(": b\r\n", ""),
        post("X-\"A\": b\r\n", ""),
        post("X-A: a\0b\r\n", ""),
        post("X-A: a\u{7f}b\r\n", ""),
        post("X-A: a\u{1b}b\r\n", ""),
    ];
    for request in &cases {
        let answer = exchange(gateway.addr, request.as_bytes()).await;
        assert_eq!(answer.statuses(), [400], "{request:?} answered {:?}", answer.text());
        assert!(answer.closed, "{request:?} left the connection open");
        assert_eq!(
            parse_raw(&answer.bytes).header("connection"),
            Some("close"),
            "{request:?}"
        );
    }
    assert_eq!(
        paths(&backend),
        Vec::<String>::new(),
        "no refused request reached the backend"
    );
}

#[tokio::test]
async fn content_length_with_chunked_is_read_as_chunked_once_and_the_connection_closed() {
    let (backend, gateway) = gateway().await;
    // The chunked body is `hello`; read by its Content-Length it would hide `GET /smuggled`, and read
    // as chunked it leaves `GET /smuggled` as a pipelined request: either way only one may be served.
    let body = format!("5\r\nhello\r\n0\r\n\r\n{SMUGGLED}");
    let codings = [
        "chunked",
        "Chunked",
        "CHUNKED",
        "  chunked  ",
        "\tchunked",
        "identity, chunked",
    ];
    for (i, coding) in codings.iter().enumerate() {
        let request = post(
            &format!("Content-Length: {}\r\nTransfer-Encoding: {coding}\r\n", body.len()),
            &body,
        );
        let answer = exchange(gateway.addr, request.as_bytes()).await;
        assert_eq!(answer.statuses(), [200], "{coding:?}: {:?}", answer.text());
        assert!(answer.closed, "{coding:?}: RFC 9112 §6.1 wants the connection closed");
        assert!(answer.text().contains("hello"), "{coding:?}: {:?}", answer.text());
        let seen = backend.seen();
        assert_eq!(seen.len(), i + 1, "{coding:?}: one request per connection");
        let last = seen.last().unwrap();
        assert_eq!(last.uri.path(), "/echo");
        assert!(
            !last.headers.contains_key("content-length"),
            "{coding:?}: the received length is not forwarded with the chunked body"
        );
    }
    assert!(!paths(&backend).contains(&"/smuggled".to_owned()));
}

#[tokio::test]
async fn a_repeated_equal_content_length_is_one_length() {
    let (backend, gateway) = gateway().await;
    let request = post(
        "Content-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n",
        "hello",
    );
    let answer = exchange(gateway.addr, request.as_bytes()).await;
    assert_eq!(answer.statuses(), [200], "{}", answer.text());
    assert!(answer.text().contains("hello"), "{}", answer.text());
    let seen = backend.last();
    let lengths: Vec<_> = seen.headers.get_all("content-length").iter().collect();
    assert_eq!(lengths, ["5"], "the backend gets one Content-Length");
    assert_eq!(paths(&backend), ["/echo"]);
}

#[tokio::test]
async fn a_broken_chunked_body_is_400_and_its_remainder_never_becomes_a_request() {
    let (backend, gateway) = gateway().await;
    let bodies = [
        format!("0x5\r\nhello\r\n0\r\n\r\n{SMUGGLED}"),
        format!("-5\r\nhello\r\n0\r\n\r\n{SMUGGLED}"),
        format!("1ffffffffffffffff\r\nhello\r\n0\r\n\r\n{SMUGGLED}"),
        format!("5\nhello\r\n0\r\n\r\n{SMUGGLED}"),
        format!("5;ext\nhello\r\n0\r\n\r\n{SMUGGLED}"),
        format!("5 5\r\nhello\r\n0\r\n\r\n{SMUGGLED}"),
        format!("5\r\nhello\n0\r\n\r\n{SMUGGLED}"),
        format!("5\r\nhelloXX0\r\n\r\n{SMUGGLED}"),
        format!("5\r\nhello\r\n0\n\r\n{SMUGGLED}"),
    ];
    for body in &bodies {
        let request = post("Transfer-Encoding: chunked\r\n", body);
        let answer = exchange(gateway.addr, request.as_bytes()).await;
        // The head was sound, so the request went on its way; the body it streams fails, which is
        // the client's fault, not the backend's.
        assert_eq!(answer.statuses(), [400], "{body:?} answered {:?}", answer.text());
        assert!(answer.closed, "{body:?} left the connection open");
    }
    let seen = paths(&backend);
    assert!(!seen.contains(&"/smuggled".to_owned()), "{seen:?}");
}

#[tokio::test]
async fn chunk_extensions_after_whitespace_are_read_and_dropped() {
    let (backend, gateway) = gateway().await;
    let body = "5 ;ext=1\r\nhello\r\n6;a=\"b;c\"\r\n world\r\n0\r\n\r\n";
    let request = post("Transfer-Encoding: chunked\r\nConnection: close\r\n", body);
    let answer = exchange(gateway.addr, request.as_bytes()).await;
    assert_eq!(answer.statuses(), [200], "{}", answer.text());
    // The echo streams the chunks back as they came, framed anew.
    let body = String::from_utf8_lossy(&parse_raw(&answer.bytes).body).into_owned();
    let hello = body.find("\r\nhello\r\n").expect(&body);
    assert!(body[hello..].contains("\r\n world\r\n"), "{body:?}");
    assert!(!body.contains("ext"), "{body:?}");
    assert_eq!(paths(&backend), ["/echo"]);
}

#[tokio::test]
async fn bare_lf_line_ends_are_read_as_line_ends_and_forwarded_as_crlf() {
    // RFC 9112 §2.2 lets a recipient take a bare LF as a line end, as Go's server does; the backend
    // gets a head hyper wrote again, so it cannot read it another way.
    let (backend, gateway) = gateway().await;
    let request = "POST /echo HTTP/1.1\nHost: a\nX-A: 1\nContent-Length: 5\nConnection: close\n\nhello";
    let answer = exchange(gateway.addr, request.as_bytes()).await;
    assert_eq!(answer.statuses(), [200], "{}", answer.text());
    assert!(answer.text().contains("hello"), "{}", answer.text());
    let seen = backend.last();
    assert_eq!(seen.headers["x-a"], "1");
    assert_eq!(paths(&backend), ["/echo"]);
}

#[tokio::test]
async fn a_broken_chunked_body_does_not_bench_the_server() {
    let backend = Backend::start("b").await;
    let mut config = route("PathPrefix(`/`)", &[backend.url()]);
    if let ServiceKind::LoadBalancer(lb) = &mut config.http.services.get_mut("s").unwrap().kind {
        lb.passive_health_check = Some(PassiveHealthCheck {
            failure_window: switchyard_config::Duration::from_secs(60),
            max_failed_attempts: 1,
        });
    }
    let gateway = TestGateway::start(config).await;
    let broken = post("Transfer-Encoding: chunked\r\n", "0x5\r\nhello\r\n0\r\n\r\n");
    assert_eq!(exchange(gateway.addr, broken.as_bytes()).await.statuses(), [400]);
    // Had the client's fault counted against the only server, the service would answer 503 now.
    let sound = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let response = raw_exchange(gateway.addr, sound.as_bytes()).await;
    assert_eq!((response.status, response.body.as_slice()), (200, &b"b"[..]));
}

#[tokio::test]
async fn framing_headers_spelled_with_underscores_never_reach_the_backend() {
    // Under the default `underscoreHeadersStrategy: keep`, other underscore headers pass.
    let (backend, gateway) = gateway().await;
    let hidden = format!("0\r\n\r\n{SMUGGLED}");
    let request = post(
        &format!(
            "Content-Length: {}\r\nTransfer_Encoding: chunked\r\nX_Kept: 1\r\nConnection: close\r\n",
            hidden.len()
        ),
        &hidden,
    );
    let answer = exchange(gateway.addr, request.as_bytes()).await;
    assert_eq!(answer.statuses(), [200], "{}", answer.text());
    let request = post(
        "Transfer-Encoding: chunked\r\nContent_Length: 1\r\nConnection: close\r\n",
        "5\r\nhello\r\n0\r\n\r\n",
    );
    let answer = exchange(gateway.addr, request.as_bytes()).await;
    assert_eq!(answer.statuses(), [200], "{}", answer.text());
    let seen = backend.seen();
    assert_eq!(paths(&backend), ["/echo", "/echo"]);
    for head in &seen {
        assert!(!head.headers.contains_key("transfer_encoding"), "{:?}", head.headers);
        assert!(!head.headers.contains_key("content_length"), "{:?}", head.headers);
    }
    assert_eq!(seen[0].headers["x_kept"], "1");
    assert_eq!(seen[0].headers["content-length"], hidden.len().to_string().as_str());
}
