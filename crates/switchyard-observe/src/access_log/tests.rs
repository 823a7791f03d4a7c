use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::time::{Duration, Instant, SystemTime};

use http::header::{AUTHORIZATION, CONTENT_TYPE, REFERER, USER_AGENT};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use jiff::tz::{Offset, TimeZone};
use switchyard_config::{Format as ConfigFormat, load_str};

use super::writer::Target;
use super::*;
use crate::TraceIds;

const EXAMPLE_COMMON: &str = "192.0.2.10 - - [07/Dec/2025:09:33:20 +0000] \"GET /whoami?name=x HTTP/1.1\" 200 42 \
                              \"-\" \"-\" 1 \"whoami@file\" \"http://10.0.0.1:80\" 3ms\n";

const EXAMPLE_JSON: &str = concat!(
    r#"{"ClientAddr":"192.0.2.10:51000","ClientHost":"192.0.2.10","ClientPort":"51000","ClientUsername":"-","#,
    r#""DownstreamContentSize":42,"DownstreamStatus":200,"Duration":3000000,"OriginContentSize":42,"#,
    r#""OriginDuration":2000000,"OriginStatus":200,"Overhead":1000000,"RequestAddr":"example.com","#,
    r#""RequestContentSize":0,"RequestCount":1,"RequestHost":"example.com","RequestMethod":"GET","#,
    r#""RequestPath":"/whoami?name=x","RequestPort":"-","RequestProtocol":"HTTP/1.1","RequestScheme":"http","#,
    r#""RetryAttempts":0,"RouterName":"whoami@file","ServiceAddr":"10.0.0.1:80","ServiceName":"whoami@file","#,
    r#""ServiceURL":"http://10.0.0.1:80","StartLocal":"2025-12-07T10:33:20+01:00","#,
    r#""StartUTC":"2025-12-07T09:33:20Z","entryPointName":"web","level":"info","msg":"","#,
    r#""time":"2025-12-07T10:33:20+01:00"}"#,
    "\n"
);

/// The `accessLog` section of a YAML static configuration whose `accessLog` lines are `yaml`.
fn config(yaml: &str) -> switchyard_config::AccessLog {
    let text = if yaml.is_empty() {
        "accessLog: {}\n".to_owned()
    } else {
        format!("accessLog:\n{yaml}")
    };
    load_str::<switchyard_config::StaticConfig>(&text, ConfigFormat::Yaml, "traefik.yml")
        .expect("a valid static configuration")
        .value
        .access_log
        .expect("an accessLog section")
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A writer into memory the test can read.
#[derive(Clone, Default)]
struct Memory(Arc<Mutex<Vec<u8>>>);

impl Write for Memory {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Memory {
    fn text(&self) -> String {
        String::from_utf8(lock(&self.0).clone()).expect("UTF-8 lines")
    }
}

/// An access log configured by `yaml` that writes into memory, with local time at UTC+1.
fn memory(yaml: &str) -> (AccessLog, Memory) {
    let memory = Memory::default();
    let mut log =
        AccessLog::with_target(&config(yaml), Target::Sink(Box::new(memory.clone()))).expect("a valid access log");
    log.zone = TimeZone::fixed(Offset::constant(1));
    (log, memory)
}

/// The lines `yaml`'s access log writes for `exchanges`.
fn lines_of(yaml: &str, exchanges: &[Exchange]) -> Vec<String> {
    let (log, memory) = memory(yaml);
    for exchange in exchanges {
        log.log(exchange);
    }
    log.flush();
    memory.text().lines().map(str::to_owned).collect()
}

fn json_of(yaml: &str, exchange: &Exchange) -> serde_json::Map<String, serde_json::Value> {
    let lines = lines_of(&format!("  format: json\n{yaml}"), std::slice::from_ref(exchange));
    assert_eq!(lines.len(), 1, "{lines:?}");
    match serde_json::from_str(&lines[0]).expect("a JSON line") {
        serde_json::Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn with_status(status: u16) -> Exchange {
    let mut ex = Exchange::example();
    ex.status = StatusCode::from_u16(status).expect("a status");
    ex
}

fn with_headers() -> Exchange {
    let mut request = HeaderMap::new();
    request.insert(USER_AGENT, HeaderValue::from_static("curl/8.5"));
    request.insert(REFERER, HeaderValue::from_static("https://example.org/\"quoted\""));
    request.insert(AUTHORIZATION, HeaderValue::from_static("Basic c2VjcmV0"));
    request.append("x-multi", HeaderValue::from_static("a"));
    request.append("x-multi", HeaderValue::from_static("b"));
    let mut response = HeaderMap::new();
    response.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    let mut ex = Exchange::example();
    ex.request_headers = Some(request);
    ex.response_headers = Some(response);
    ex
}

fn invalid_key(yaml: &str) -> String {
    match AccessLog::new(&config(yaml)) {
        Err(ObserveError::Invalid { key, .. }) => key,
        other => panic!("expected an Invalid error for {yaml:?}, got {other:?}"),
    }
}

#[test]
fn common_line_of_the_example_is_traefiks() {
    let (log, _) = memory("");
    assert_eq!(log.line(&Exchange::example(), 1), EXAMPLE_COMMON);
}

#[test]
fn generic_clf_line_stops_after_the_user_agent() {
    let (log, _) = memory("  format: genericCLF\n");
    let expected = "192.0.2.10 - - [07/Dec/2025:09:33:20 +0000] \"GET /whoami?name=x HTTP/1.1\" 200 42 \"-\" \"-\"\n";
    assert_eq!(log.line(&Exchange::example(), 1), expected);
}

#[test]
fn json_line_of_the_example_is_traefiks() {
    let (log, _) = memory("  format: json\n");
    let line = log.line(&Exchange::example(), 1);
    assert_eq!(line, EXAMPLE_JSON);
    let parsed: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(parsed["Duration"], 3_000_000);
    assert_eq!(parsed["ClientPort"], "51000");
    assert!(parsed.get("TraceId").is_none() && parsed.get("TLSVersion").is_none());
}

#[test]
fn json_line_of_a_tls_request_names_its_version_and_cipher() {
    let (log, _) = memory("  format: json\n");
    let mut exchange = Exchange::example();
    exchange.tls = true;
    exchange.tls_version = Some("1.3");
    exchange.tls_cipher = Some("TLS_AES_128_GCM_SHA256");
    let line = log.line(&exchange, 1);
    let parsed: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(parsed["TLSVersion"], "1.3");
    assert_eq!(parsed["TLSCipher"], "TLS_AES_128_GCM_SHA256");
    assert_eq!(parsed["RequestScheme"], "https");
    let cipher = line.find("\"TLSCipher\"").expect("TLSCipher");
    let (start, trace) = (
        line.find("\"StartUTC\"").expect("StartUTC"),
        line.find("\"TLSVersion\""),
    );
    assert!(
        start < cipher && trace.is_some_and(|version| cipher < version),
        "Go's key order: {line}"
    );
}

#[test]
fn json_line_carries_the_trace_ids_of_a_traced_request() {
    let mut ex = Exchange::example();
    ex.trace = Some(TraceIds {
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        span_id: "00f067aa0ba902b7".into(),
    });
    let json = json_of("", &ex);
    assert_eq!(json["TraceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(json["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(json["SpanId"], "00f067aa0ba902b7");
    assert_eq!(json["span_id"], "00f067aa0ba902b7");
}

#[test]
fn json_escapes_text_as_go_does() {
    let mut ex = Exchange::example();
    ex.progress.router = Some("a\"b\\c<d>&e\u{1}\n".into());
    let (log, _) = memory("  format: json\n");
    let line = log.line(&ex, 1);
    assert!(
        line.contains(r#""RouterName":"a\"b\\c\u003cd\u003e\u0026e\u0001\n""#),
        "{line}"
    );
    let parsed: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(parsed["RouterName"], "a\"b\\c<d>&e\u{1}\n");
}

#[test]
fn headers_are_dropped_by_default() {
    let (log, _) = memory("");
    assert!(!log.needs_request_headers() && !log.needs_response_headers());
    let json = json_of("", &with_headers());
    assert!(
        !json
            .keys()
            .any(|k| k.starts_with("request_") || k.starts_with("downstream_"))
    );
    assert_eq!(lines_of("", &[with_headers()]).remove(0) + "\n", EXAMPLE_COMMON);
}

#[test]
fn header_modes_keep_drop_and_redact() {
    let yaml = "  fields:\n    headers:\n      defaultMode: keep\n      names:\n        user-agent: redact\n        \
                Authorization: drop\n";
    let (log, _) = memory(yaml);
    assert!(log.needs_request_headers() && log.needs_response_headers());
    let json = json_of(yaml, &with_headers());
    assert_eq!(json["request_User-Agent"], "REDACTED");
    assert_eq!(json["request_Referer"], "https://example.org/\"quoted\"");
    assert_eq!(json["request_X-Multi"], "a,b");
    assert_eq!(json["downstream_Content-Type"], "text/plain");
    assert!(json.get("request_Authorization").is_none());
    let common = lines_of(yaml, &[with_headers()]).remove(0);
    assert!(
        common.contains(r#" 200 42 "https://example.org/\"quoted\"" "REDACTED" 1 "whoami@file""#),
        "{common}"
    );
}

#[test]
fn headers_kept_by_name_only() {
    let yaml = "  fields:\n    headers:\n      names:\n        User-Agent: keep\n";
    let json = json_of(yaml, &with_headers());
    let headers: Vec<&String> = json.keys().filter(|k| k.contains('_') && !k.ends_with("_id")).collect();
    assert_eq!(headers, ["request_User-Agent"]);
}

#[test]
fn field_modes_drop_and_redact() {
    let yaml = "  fields:\n    defaultMode: drop\n    names:\n      requestpath: keep\n      ClientHost: redact\n      \
                DownstreamStatus: keep\n";
    let json = json_of(yaml, &Exchange::example());
    let keys: Vec<&str> = json.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["ClientHost", "DownstreamStatus", "RequestPath", "level", "msg", "time"]
    );
    assert_eq!(json["ClientHost"], "REDACTED");
    assert_eq!(json["RequestPath"], "/whoami?name=x");
    let common = lines_of(yaml, &[Exchange::example()]).remove(0);
    assert_eq!(
        common,
        "REDACTED - - [-] \"- /whoami?name=x -\" 200 - \"-\" \"-\" - \"-\" \"-\" 0ms"
    );
}

#[test]
fn dropped_start_utc_falls_back_to_start_local_in_common_lines() {
    let yaml = "  fields:\n    names:\n      StartUTC: drop\n      ClientUsername: drop\n";
    let line = lines_of(yaml, &[Exchange::example()]).remove(0);
    assert!(
        line.starts_with("192.0.2.10 - - [07/Dec/2025:10:33:20 +0100] "),
        "{line}"
    );
}

/// The example, started at `seconds` and `nanos` after (or before, when negative) 1970.
fn started_at(seconds: i64, nanos: u32) -> Exchange {
    let mut ex = Exchange::example();
    let offset = Duration::new(seconds.unsigned_abs(), 0);
    let whole = if seconds < 0 {
        SystemTime::UNIX_EPOCH - offset
    } else {
        SystemTime::UNIX_EPOCH + offset
    };
    ex.start = whole + Duration::from_nanos(nanos.into());
    ex
}

/// The `[…]` of a CLF line.
fn clf_time_of(line: &str) -> &str {
    let start = line.find('[').expect("a CLF time");
    let end = line.find(']').expect("a CLF time");
    &line[start + 1..end]
}

#[test]
fn clf_times_follow_the_second_of_each_start() {
    let (log, _) = memory("");
    let starts = [
        (1_765_100_000, 0, "07/Dec/2025:09:33:20 +0000"),
        (1_765_100_000, 999_999_999, "07/Dec/2025:09:33:20 +0000"),
        (1_765_100_001, 0, "07/Dec/2025:09:33:21 +0000"),
        (1_765_100_000, 500, "07/Dec/2025:09:33:20 +0000"),
        (1_767_225_599, 999_999_999, "31/Dec/2025:23:59:59 +0000"),
        (1_767_225_600, 0, "01/Jan/2026:00:00:00 +0000"),
        (0, 0, "01/Jan/1970:00:00:00 +0000"),
        (-1, 999_999_999, "31/Dec/1969:23:59:59 +0000"),
        (-1, 0, "31/Dec/1969:23:59:59 +0000"),
        (-50_000_000_000, 0, "25/Jul/385:07:06:40 +0000"),
    ];
    for (seconds, nanos, expected) in starts {
        let line = log.line(&started_at(seconds, nanos), 1);
        assert_eq!(clf_time_of(&line), expected, "{seconds}s {nanos}ns");
    }
}

#[test]
fn offsets_and_fractions_as_go_writes_them() {
    let (mut log, _) = memory("  format: json\n  fields:\n    names:\n      StartUTC: drop\n");
    let cases = [
        (Offset::MAX, 123_000_000, "1970-01-02T01:59:59.123+25:59"),
        (Offset::MIN, 1, "1969-12-30T22:00:01.000000001-25:59"),
        (
            Offset::from_seconds(-1830).expect("an offset"),
            100,
            "1969-12-31T23:29:30.0000001-00:30",
        ),
        (Offset::UTC, 999_999_999, "1970-01-01T00:00:00.999999999Z"),
    ];
    for (offset, nanos, expected) in cases {
        log.zone = TimeZone::fixed(offset);
        let line = log.line(&started_at(0, nanos), 1);
        assert!(line.contains(&format!(r#""StartLocal":"{expected}""#)), "{line}");
    }
    let (mut log, _) = memory("  fields:\n    names:\n      StartUTC: drop\n");
    log.zone = TimeZone::fixed(Offset::MIN);
    assert_eq!(
        clf_time_of(&log.line(&started_at(0, 0), 1)),
        "30/Dec/1969:22:00:01 -2559"
    );
}

#[test]
fn a_line_longer_than_the_kept_room_is_written_whole() {
    let yaml = "  format: json\n  fields:\n    headers:\n      defaultMode: keep\n";
    let mut long = Exchange::example();
    let value = "x".repeat(40_000);
    let mut headers = HeaderMap::new();
    headers.insert(USER_AGENT, HeaderValue::from_str(&value).expect("a header value"));
    long.request_headers = Some(headers);
    let lines = lines_of(yaml, &[long, Exchange::example(), Exchange::example()]);
    assert_eq!(lines.len(), 3);
    assert!(lines[0].contains(&value));
    assert_eq!(
        format!("{}\n", lines[2]),
        EXAMPLE_JSON.replace("\"RequestCount\":1", "\"RequestCount\":3")
    );
}

#[test]
fn status_filters_keep_codes_and_ranges() {
    let yaml = "  filters:\n    statusCodes: [\"200\", \"400-499\"]\n";
    let statuses = [200, 302, 404, 499, 500].map(with_status);
    let lines = lines_of(yaml, &statuses);
    let logged: Vec<&str> = lines.iter().map(|l| l.split(' ').nth(8).expect("a status")).collect();
    assert_eq!(logged, ["200", "404", "499"]);
}

#[test]
fn retry_and_duration_filters_keep_retried_or_slow_requests() {
    let mut retried = Exchange::example();
    retried.progress.retries = 2;
    let mut slow = Exchange::example();
    slow.duration = Duration::from_millis(20);
    let exchanges = [Exchange::example(), retried, slow];
    assert_eq!(lines_of("  filters:\n    retryAttempts: true\n", &exchanges).len(), 1);
    let slow_only = lines_of("  filters:\n    minDuration: 10ms\n", &exchanges);
    assert_eq!(slow_only.len(), 1);
    assert!(slow_only[0].ends_with(" 20ms"), "{slow_only:?}");
    let either = "  filters:\n    retryAttempts: true\n    minDuration: 10ms\n    statusCodes: [\"500\"]\n";
    assert_eq!(lines_of(either, &exchanges).len(), 2);
}

#[test]
fn empty_filters_log_every_request() {
    let exchanges = [with_status(200), with_status(503)];
    assert_eq!(lines_of("  filters: {}\n", &exchanges).len(), 2);
}

#[test]
fn request_count_counts_the_requests_filters_leave_out() {
    let lines = lines_of(
        "  filters:\n    statusCodes: [\"404\"]\n",
        &[with_status(200), with_status(404)],
    );
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains(" 404 42 \"-\" \"-\" 2 "), "{lines:?}");
}

#[test]
fn internal_services_are_skipped_unless_add_internals() {
    let mut api = Exchange::example();
    api.progress.router = Some("api@internal".into());
    api.progress.service = Some("api@internal".into());
    let mut dashboard = Exchange::example();
    dashboard.progress.router = Some("dashboard@file".into());
    dashboard.progress.service = Some("api@internal".into());
    let exchanges = [api, dashboard, Exchange::example()];
    let lines = lines_of("", &exchanges);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains(" 1 \"whoami@file\" "), "{lines:?}");
    assert_eq!(lines_of("  addInternals: true\n", &exchanges).len(), 3);
}

#[test]
fn client_and_host_parts() {
    let mut ex = Exchange::example();
    ex.client = "[2001:db8::1]:4430".parse().expect("an address");
    ex.host = Some("example.com:8443".into());
    ex.tls = true;
    ex.uri = Uri::from_static("https://bob:secret@example.com:8443/a?b=c");
    let json = json_of("", &ex);
    assert_eq!(json["ClientAddr"], "[2001:db8::1]:4430");
    assert_eq!(json["ClientHost"], "2001:db8::1");
    assert_eq!(json["ClientPort"], "4430");
    assert_eq!(json["ClientUsername"], "bob");
    assert_eq!(json["RequestHost"], "example.com");
    assert_eq!(json["RequestPort"], "8443");
    assert_eq!(json["RequestPath"], "/a?b=c");
    assert_eq!(json["RequestScheme"], "https");
    ex.progress.username = Some("alice".into());
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9, 10.0.0.2"));
    ex.request_headers = Some(headers);
    let json = json_of("", &ex);
    assert_eq!(json["ClientUsername"], "alice");
    assert_eq!(json["ClientHost"], "203.0.113.9, 10.0.0.2");
}

#[test]
fn a_response_from_switchyard_itself_has_zero_origin_fields() {
    let mut ex = with_status(404);
    ex.progress = switchyard_middleware::Progress::default();
    let json = json_of("", &ex);
    assert_eq!(
        (json["OriginStatus"].as_u64(), json["OriginContentSize"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(json["Overhead"], json["Duration"]);
    assert!(json.get("RouterName").is_none() && json.get("ServiceURL").is_none());
    let (log, _) = memory("");
    assert!(log.line(&ex, 1).ends_with(" 404 42 \"-\" \"-\" 1 \"-\" \"-\" 3ms\n"));
}

#[test]
fn go_host_port_splitting() {
    use super::record::split_host_port;
    assert_eq!(split_host_port("example.com:80"), ("example.com", "80"));
    assert_eq!(split_host_port("example.com"), ("example.com", "-"));
    assert_eq!(split_host_port("[::1]:443"), ("::1", "443"));
    assert_eq!(split_host_port("[::1]"), ("[::1]", "-"));
    assert_eq!(split_host_port("::1"), ("::1", "-"));
    assert_eq!(split_host_port("host:"), ("host", ""));
}

#[test]
fn invalid_options_name_their_key() {
    assert_eq!(invalid_key("  format: xml\n"), "accessLog.format");
    let codes = "  filters:\n    statusCodes: [\"200\", \"4xx\"]\n";
    assert_eq!(invalid_key(codes), "accessLog.filters.statusCodes[1]");
    let reversed = "  filters:\n    statusCodes: [\"499-400\"]\n";
    assert_eq!(invalid_key(reversed), "accessLog.filters.statusCodes[0]");
    assert_eq!(
        invalid_key("  filters:\n    minDuration: -1s\n"),
        "accessLog.filters.minDuration"
    );
    assert_eq!(
        invalid_key("  fields:\n    defaultMode: hide\n"),
        "accessLog.fields.defaultMode"
    );
    let field = "  fields:\n    names:\n      ClientHost: hidden\n";
    assert_eq!(invalid_key(field), "accessLog.fields.names.ClientHost");
    let header_default = "  fields:\n    headers:\n      defaultMode: Keep\n";
    assert_eq!(invalid_key(header_default), "accessLog.fields.headers.defaultMode");
    let header = "  fields:\n    headers:\n      names:\n        User-Agent: show\n";
    assert_eq!(invalid_key(header), "accessLog.fields.headers.names.User-Agent");
}

#[test]
fn an_unknown_format_says_which_are_known() {
    let message = AccessLog::new(&config("  format: xml\n"))
        .map(|_| ())
        .expect_err("an unknown format");
    assert_eq!(
        message.to_string(),
        "accessLog.format: unknown format `xml`; expected `common`, `genericCLF` or `json`"
    );
}

#[test]
fn an_access_log_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync + std::fmt::Debug>() {}
    shareable::<AccessLog>();
}

/// `yaml`'s access log, writing to `path`.
fn file_config(path: &Path, yaml: &str) -> switchyard_config::AccessLog {
    config(&format!("  filePath: {:?}\n{yaml}", path.display()))
}

/// An access log writing to `access.log` in a new temporary directory.
struct OnDisk {
    dir: tempfile::TempDir,
    log: AccessLog,
}

impl OnDisk {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = AccessLog::new(&file_config(&dir.path().join("access.log"), "")).expect("an access log");
        Self { dir, log }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("a readable log file")
}

fn on_path(path: &'static str) -> Exchange {
    let mut ex = Exchange::example();
    ex.uri = Uri::from_static(path);
    ex
}

#[test]
fn the_file_is_appended_to() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("access.log");
    std::fs::write(&path, "earlier\n").expect("a file");
    let log = AccessLog::new(&file_config(&path, "")).expect("an access log");
    log.log(&Exchange::example());
    log.flush();
    assert_eq!(read(&path), format!("earlier\n{EXAMPLE_COMMON}"));
}

#[test]
fn a_missing_directory_is_a_file_error() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("missing").join("access.log");
    match AccessLog::new(&file_config(&path, "")) {
        Err(ObserveError::File { key, path: failed, .. }) => {
            assert_eq!((key, failed), ("accessLog.filePath", path));
        }
        other => panic!("expected a File error, got {other:?}"),
    }
}

#[test]
fn reopen_moves_to_a_new_file_after_a_rename() {
    let disk = OnDisk::new();
    disk.log.log(&on_path("/first"));
    let rotated = disk.dir.path().join("access.log.1");
    disk.log.flush();
    std::fs::rename(disk.path(), &rotated).expect("a rename");
    disk.log.reopen();
    disk.log.log(&on_path("/second"));
    disk.log.flush();
    let (old, new) = (read(&rotated), read(&disk.path()));
    assert!(old.contains("GET /first ") && !old.contains("/second"), "{old}");
    assert!(new.contains("GET /second ") && !new.contains("/first"), "{new}");
}

#[test]
fn sigusr1_reopens_the_file() {
    let disk = OnDisk::new();
    disk.log.log(&on_path("/before"));
    disk.log.flush();
    let rotated = disk.dir.path().join("access.log.1");
    std::fs::rename(disk.path(), &rotated).expect("a rename");
    let pid = std::process::id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-USR1", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !disk.path().exists() {
        assert!(Instant::now() < deadline, "SIGUSR1 did not reopen the file");
        std::thread::sleep(Duration::from_millis(10));
    }
    disk.log.log(&on_path("/after"));
    disk.log.flush();
    assert!(read(&rotated).contains("GET /before ") && !read(&rotated).contains("/after"));
    assert!(read(&disk.path()).contains("GET /after ") && !read(&disk.path()).contains("/before"));
}

/// A writer whose first write waits until the test lets it go.
struct Gate {
    entered: mpsc::Sender<()>,
    release: Option<mpsc::Receiver<()>>,
    out: Memory,
}

impl Gate {
    /// The gate, what tells that the writer is stuck in it, what releases it, and what it wrote.
    fn new() -> (Self, mpsc::Receiver<()>, mpsc::Sender<()>, Memory) {
        let (entered, stuck) = mpsc::channel();
        let (release, released) = mpsc::channel();
        let out = Memory::default();
        let gate = Self {
            entered,
            release: Some(released),
            out: out.clone(),
        };
        (gate, stuck, release, out)
    }
}

impl Write for Gate {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(release) = self.release.take() {
            let _ = self.entered.send(());
            let _ = release.recv();
        }
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_full_channel_drops_lines_without_blocking() {
    let (gate, writer_stuck, release, out) = Gate::new();
    let log = AccessLog::with_target(&config("  bufferingSize: 2\n"), Target::Sink(Box::new(gate))).expect("a log");
    log.log(&Exchange::example());
    writer_stuck
        .recv_timeout(Duration::from_secs(10))
        .expect("the writer took the first line");
    let started = Instant::now();
    for _ in 0..7 {
        log.log(&Exchange::example());
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "log() waited for the writer"
    );
    assert_eq!(log.queue.dropped(), 5);
    release.send(()).expect("the writer waits");
    log.flush();
    assert_eq!(out.text().lines().count(), 3);
}

#[test]
fn buffering_size_sets_the_channel_room() {
    assert_eq!(capacity(0), DEFAULT_CAPACITY);
    assert_eq!(capacity(10), 10);
    assert_eq!(capacity(u64::MAX), MAX_CAPACITY);
}

#[test]
fn only_json_lines_that_write_the_host_make_requests_keep_it() {
    let needs_host = |yaml: &str| memory(yaml).0.needs_host();
    assert!(!needs_host(""), "a common line writes no host");
    assert!(needs_host("  format: json\n"));
    let dropped = "  format: json\n  fields:\n    names:\n      RequestAddr: drop\n      RequestHost: drop\n      RequestPort: drop\n";
    assert!(!needs_host(dropped));
    let redacted = "  format: json\n  fields:\n    defaultMode: drop\n    names:\n      RequestHost: redact\n";
    assert!(needs_host(redacted));
}
