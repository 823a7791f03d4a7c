//! The fields of one access-log line, under Traefik's names, read from an [`Exchange`].

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use http::header::{HeaderMap, HeaderName};
use http::{HeaderValue, Version};
use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};

use super::text::{self, Escape};
use crate::Exchange;

/// A field of Traefik's access log. The order is the JSON line's (Go sorts a map's keys bytewise);
/// the headers, `level`, `msg` and `time` go between `TraceId` and the last fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    ClientAddr,
    ClientHost,
    ClientPort,
    ClientUsername,
    DownstreamContentSize,
    DownstreamStatus,
    Duration,
    OriginContentSize,
    OriginDuration,
    OriginStatus,
    Overhead,
    RequestAddr,
    RequestContentSize,
    RequestCount,
    RequestHost,
    RequestMethod,
    RequestPath,
    RequestPort,
    RequestProtocol,
    RequestScheme,
    RetryAttempts,
    RouterName,
    ServiceAddr,
    ServiceName,
    ServiceUrl,
    SpanId,
    StartLocal,
    StartUtc,
    TlsCipher,
    TlsVersion,
    TraceId,
    EntryPointName,
    OtelSpanId,
    OtelTraceId,
}

impl Field {
    /// Every field, in the JSON line's order.
    pub(super) const ALL: [Self; 34] = [
        Self::ClientAddr,
        Self::ClientHost,
        Self::ClientPort,
        Self::ClientUsername,
        Self::DownstreamContentSize,
        Self::DownstreamStatus,
        Self::Duration,
        Self::OriginContentSize,
        Self::OriginDuration,
        Self::OriginStatus,
        Self::Overhead,
        Self::RequestAddr,
        Self::RequestContentSize,
        Self::RequestCount,
        Self::RequestHost,
        Self::RequestMethod,
        Self::RequestPath,
        Self::RequestPort,
        Self::RequestProtocol,
        Self::RequestScheme,
        Self::RetryAttempts,
        Self::RouterName,
        Self::ServiceAddr,
        Self::ServiceName,
        Self::ServiceUrl,
        Self::SpanId,
        Self::StartLocal,
        Self::StartUtc,
        Self::TlsCipher,
        Self::TlsVersion,
        Self::TraceId,
        Self::EntryPointName,
        Self::OtelSpanId,
        Self::OtelTraceId,
    ];

    /// The field's key in a JSON line and in `accessLog.fields.names` (there, case-insensitively).
    pub(super) const fn name(self) -> &'static str {
        match self {
            Self::ClientAddr => "ClientAddr",
            Self::ClientHost => "ClientHost",
            Self::ClientPort => "ClientPort",
            Self::ClientUsername => "ClientUsername",
            Self::DownstreamContentSize => "DownstreamContentSize",
            Self::DownstreamStatus => "DownstreamStatus",
            Self::Duration => "Duration",
            Self::OriginContentSize => "OriginContentSize",
            Self::OriginDuration => "OriginDuration",
            Self::OriginStatus => "OriginStatus",
            Self::Overhead => "Overhead",
            Self::RequestAddr => "RequestAddr",
            Self::RequestContentSize => "RequestContentSize",
            Self::RequestCount => "RequestCount",
            Self::RequestHost => "RequestHost",
            Self::RequestMethod => "RequestMethod",
            Self::RequestPath => "RequestPath",
            Self::RequestPort => "RequestPort",
            Self::RequestProtocol => "RequestProtocol",
            Self::RequestScheme => "RequestScheme",
            Self::RetryAttempts => "RetryAttempts",
            Self::RouterName => "RouterName",
            Self::ServiceAddr => "ServiceAddr",
            Self::ServiceName => "ServiceName",
            Self::ServiceUrl => "ServiceURL",
            Self::SpanId => "SpanId",
            Self::StartLocal => "StartLocal",
            Self::StartUtc => "StartUTC",
            Self::TlsCipher => "TLSCipher",
            Self::TlsVersion => "TLSVersion",
            Self::TraceId => "TraceId",
            Self::EntryPointName => "entryPointName",
            Self::OtelSpanId => "span_id",
            Self::OtelTraceId => "trace_id",
        }
    }

    /// The field named `name`, ignoring case as Traefik does.
    pub(super) fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(name))
    }
}

/// One field's value, borrowed from the exchange where it can be.
#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'a> {
    /// Text.
    Str(&'a str),
    /// A number (JSON writes it bare).
    Num(u64),
    /// An IP address, as text.
    Ip(IpAddr),
    /// A port, as text (Traefik's ports are strings).
    Port(u16),
    /// A socket address, as text (`[::1]:80` for IPv6).
    Addr(SocketAddr),
    /// A point in time at an offset.
    Moment(Moment),
    /// A header's values, joined by commas.
    Header(&'a HeaderMap, &'a HeaderName),
}

/// A point in time and the offset it is shown at.
#[derive(Debug, Clone, Copy)]
pub(super) struct Moment {
    pub(super) at: Timestamp,
    pub(super) offset: Offset,
}

impl Moment {
    /// `time` at the offset `zone` has then.
    pub(super) fn new(time: SystemTime, zone: &TimeZone) -> Self {
        let at = Timestamp::try_from(time).unwrap_or(Timestamp::UNIX_EPOCH);
        Self {
            at,
            offset: zone.to_offset(at),
        }
    }
}

/// What a request's line says, before the configured modes pick and redact its fields. The fields
/// that take some parsing (the host's parts, the user, the server's address) are worked out only
/// when a line writes them.
#[derive(Debug)]
pub(super) struct Record<'a> {
    ex: &'a Exchange,
    count: u64,
    zone: &'a TimeZone,
}

impl<'a> Record<'a> {
    /// The record of `ex`, the `count`th request logged, with local times in `zone`.
    pub(super) fn new(ex: &'a Exchange, count: u64, zone: &'a TimeZone) -> Self {
        Self { ex, count, zone }
    }

    /// The exchange the record is of.
    pub(super) fn exchange(&self) -> &'a Exchange {
        self.ex
    }

    /// When the response ended, in local time: a JSON line's `time`.
    pub(super) fn end(&self) -> Moment {
        Moment::new(self.ex.start + self.ex.duration, self.zone)
    }

    /// `field`'s value; `None` when the request has none (no router matched, not traced…).
    ///
    /// Inlined (with the functions it calls) where it is called: a CLF line names each of its fields,
    /// which then costs no match at run time.
    #[inline(always)]
    pub(super) fn value(&self, field: Field) -> Option<Value<'a>> {
        match field {
            Field::ClientAddr | Field::ClientHost | Field::ClientPort | Field::ClientUsername => {
                Some(self.client(field))
            }
            Field::DownstreamContentSize
            | Field::DownstreamStatus
            | Field::Duration
            | Field::OriginContentSize
            | Field::OriginDuration
            | Field::OriginStatus
            | Field::Overhead
            | Field::RetryAttempts
            | Field::RequestContentSize
            | Field::RequestCount => Some(Value::Num(self.number(field))),
            Field::RouterName | Field::ServiceAddr | Field::ServiceName | Field::ServiceUrl => {
                self.routing(field).map(Value::Str)
            }
            _ => self.request(field),
        }
    }

    /// A client field (`ClientAddr`, `ClientHost`, `ClientPort`, `ClientUsername`).
    #[inline(always)]
    fn client(&self, field: Field) -> Value<'a> {
        let client = self.ex.client;
        match field {
            Field::ClientAddr => Value::Addr(client),
            Field::ClientHost => self.forwarded_for().map_or(Value::Ip(client.ip()), Value::Str),
            Field::ClientPort => Value::Port(client.port()),
            _ => Value::Str(username(self.ex)),
        }
    }

    /// The request's `X-Forwarded-For`, when the exchange kept the headers and it is not empty.
    fn forwarded_for(&self) -> Option<&'a str> {
        let headers = self.ex.request_headers.as_ref()?;
        headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
    }

    /// The host and port of the request's `Host`, when it has one.
    fn host(&self) -> Option<(&'a str, &'a str)> {
        self.ex.host.as_deref().filter(|h| !h.is_empty()).map(split_host_port)
    }

    /// A field that is a number (sizes, statuses, durations, counts).
    #[inline(always)]
    fn number(&self, field: Field) -> u64 {
        let ex = self.ex;
        let origin = ex.progress.origin_duration.unwrap_or_default();
        match field {
            Field::DownstreamContentSize => ex.response_size,
            Field::DownstreamStatus => ex.status.as_u16().into(),
            Field::Duration => nanos(ex.duration),
            Field::OriginContentSize if ex.progress.origin_status.is_some() => ex.response_size,
            Field::OriginDuration => nanos(origin),
            Field::OriginStatus => ex.progress.origin_status.map_or(0, |s| s.as_u16().into()),
            Field::Overhead => nanos(ex.duration.saturating_sub(origin)),
            Field::RetryAttempts => ex.progress.retries.into(),
            Field::RequestContentSize => ex.request_size,
            Field::RequestCount => self.count,
            _ => 0,
        }
    }

    /// A routing field (`RouterName`, `ServiceAddr`, `ServiceName`, `ServiceURL`).
    #[inline(always)]
    fn routing(&self, field: Field) -> Option<&'a str> {
        let progress = &self.ex.progress;
        match field {
            Field::RouterName => progress.router.as_deref(),
            Field::ServiceAddr => progress.server.as_deref().map(url_host),
            Field::ServiceName => progress.service.as_deref(),
            _ => progress.server.as_deref(),
        }
    }

    /// A field of the request itself (its host, method, path, protocol, TLS, trace, start…).
    #[inline(always)]
    fn request(&self, field: Field) -> Option<Value<'a>> {
        let ex = self.ex;
        let trace = ex.trace.as_ref();
        let text = match field {
            Field::RequestAddr => ex.host.as_deref().filter(|h| !h.is_empty())?,
            Field::RequestHost => self.host()?.0,
            Field::RequestPort => self.host()?.1,
            Field::RequestMethod => ex.method.as_str(),
            Field::RequestPath => ex.uri.path_and_query().map_or("", |p| p.as_str()),
            Field::RequestProtocol => protocol(ex.version),
            Field::RequestScheme => {
                if ex.tls {
                    "https"
                } else {
                    "http"
                }
            }
            Field::TlsCipher => ex.tls_cipher?,
            Field::TlsVersion => ex.tls_version?,
            Field::SpanId | Field::OtelSpanId => trace?.span_id.as_str(),
            Field::TraceId | Field::OtelTraceId => trace?.trace_id.as_str(),
            Field::StartUtc => return Some(Value::Moment(Moment::new(ex.start, &TimeZone::UTC))),
            Field::StartLocal => return Some(Value::Moment(Moment::new(ex.start, self.zone))),
            _ => &ex.entry_point,
        };
        Some(Value::Str(text))
    }
}

impl Value<'_> {
    /// Appends the value as text (a moment in RFC 3339 with nanoseconds), its text escaped by
    /// `escape` (numbers, addresses and moments need none).
    #[inline]
    pub(super) fn write(&self, out: &mut String, escape: Escape) {
        match *self {
            Self::Str(s) => escape.push(out, s),
            Self::Num(n) => text::push_decimal(out, n),
            Self::Ip(ip) => text::push_ip(out, ip),
            Self::Port(port) => text::push_decimal(out, port),
            Self::Addr(addr) => text::push_addr(out, addr),
            Self::Moment(m) => super::line::rfc3339(out, m, true),
            Self::Header(map, name) => write_joined(out, map.get_all(name).iter(), escape),
        }
    }
}

/// A header's values joined by commas, as Go's `strings.Join(h.Values(k), ",")`, escaped by `escape`.
fn write_joined<'v>(out: &mut String, values: impl Iterator<Item = &'v HeaderValue>, escape: Escape) {
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        escape.push(out, &String::from_utf8_lossy(value.as_bytes()));
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Go's `Request.Proto`.
fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// The user an authentication middleware let in, else the URL's user, else `-` (as Traefik).
fn username(ex: &Exchange) -> &str {
    if let Some(user) = ex.progress.username.as_deref().filter(|u| !u.is_empty()) {
        return user;
    }
    let userinfo = ex
        .uri
        .authority()
        .and_then(|a| a.as_str().rsplit_once('@'))
        .map(|(u, _)| u);
    let name = userinfo.map(|u| u.split_once(':').map_or(u, |(name, _)| name));
    name.filter(|n| !n.is_empty()).unwrap_or("-")
}

/// The host (with its port) of a server URL: Go's `URL.Host`.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority.rsplit_once('@').map_or(authority, |(_, host)| host)
}

/// Go's `net.SplitHostPort`, falling back to the whole value and `-` as Traefik does.
pub(super) fn split_host_port(value: &str) -> (&str, &str) {
    let split = if let Some(bracketed) = value.strip_prefix('[') {
        bracketed
            .split_once(']')
            .and_then(|(host, rest)| Some((host, rest.strip_prefix(':')?)))
    } else {
        value.split_once(':').filter(|(_, port)| !port.contains(':'))
    };
    match split {
        Some((host, port)) if !host.contains('[') && !port.contains([']', '[']) => (host, port),
        _ => (value, "-"),
    }
}
