//! Writing a line: Traefik's `common` and `genericCLF` layouts and its JSON objects, byte for byte.

use std::fmt::{self, Write as _};

use http::header::{HeaderMap, HeaderName, REFERER, USER_AGENT};

use super::options::{Mode, Modes};
use super::record::{Field, Moment, Record, Value};

/// What a redacted field or header reads.
const REDACTED: &str = "REDACTED";

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A record seen through the configured modes: what a line may show of it.
#[derive(Debug)]
pub(super) struct View<'r, 'a> {
    pub(super) record: &'r Record<'a>,
    pub(super) modes: &'r Modes,
}

impl<'a> View<'_, 'a> {
    /// `field` as configured: left out when dropped or absent, `REDACTED` when redacted.
    fn field(&self, field: Field) -> Option<Value<'a>> {
        match self.modes.field(field) {
            Mode::Drop => None,
            Mode::Keep => self.record.value(field),
            Mode::Redact => self.record.value(field).map(|_| Value::Str(REDACTED)),
        }
    }

    /// The header `name` of `headers` as configured.
    fn header(&self, headers: &'a HeaderMap, name: &'a HeaderName) -> Option<Value<'a>> {
        if !headers.contains_key(name) {
            return None;
        }
        match self.modes.header(name) {
            Mode::Drop => None,
            Mode::Keep => Some(Value::Header(headers, name)),
            Mode::Redact => Some(Value::Str(REDACTED)),
        }
    }

    fn request_header(&self, name: &'static HeaderName) -> Option<Value<'a>> {
        let headers = self.record.exchange().request_headers.as_ref()?;
        self.header(headers, name)
    }
}

/// Appends the `common` line (`extended`) or the `genericCLF` one to `out`.
pub(super) fn clf(view: &View<'_, '_>, extended: bool, out: &mut String) {
    item(out, view.field(Field::ClientHost), "-", false);
    out.push_str(" - ");
    item(out, view.field(Field::ClientUsername), "-", false);
    out.push_str(" [");
    clf_start(view, out);
    out.push_str("] \"");
    item(out, view.field(Field::RequestMethod), "-", false);
    out.push(' ');
    item(out, view.field(Field::RequestPath), "-", false);
    out.push(' ');
    item(out, view.field(Field::RequestProtocol), "-", false);
    out.push_str("\" ");
    item(out, view.field(Field::DownstreamStatus), "-", true);
    out.push(' ');
    item(out, view.field(Field::DownstreamContentSize), "-", true);
    out.push(' ');
    item(out, view.request_header(&REFERER), "\"-\"", true);
    out.push(' ');
    item(out, view.request_header(&USER_AGENT), "\"-\"", true);
    if extended {
        clf_tail(view, out);
    }
    out.push('\n');
}

/// The `common` line's last fields: the request count, router, server URL and duration.
fn clf_tail(view: &View<'_, '_>, out: &mut String) {
    out.push(' ');
    item(out, view.field(Field::RequestCount), "-", true);
    out.push(' ');
    item(out, view.field(Field::RouterName), "\"-\"", true);
    out.push(' ');
    item(out, view.field(Field::ServiceUrl), "\"-\"", true);
    let millis = match view.field(Field::Duration) {
        Some(Value::Num(nanos)) => nanos / 1_000_000,
        _ => 0,
    };
    out.push(' ');
    let _ = decimal(out, millis);
    out.push_str("ms");
}

/// The start in CLF time (`02/Jan/2006:15:04:05 -0700`): `StartUTC`, else `StartLocal`, else `-`.
fn clf_start(view: &View<'_, '_>, out: &mut String) {
    let start = view.field(Field::StartUtc).or_else(|| view.field(Field::StartLocal));
    let _ = match start {
        Some(Value::Moment(m)) => clf_time(out, m),
        Some(other) => other.write_text(out),
        None => out.write_str("-"),
    };
}

/// One CLF item as Traefik's `toLog`: numbers bare, empty or absent text as `default`, text quoted
/// (inner quotes escaped) when `quote`.
fn item(out: &mut String, value: Option<Value<'_>>, default: &str, quote: bool) {
    let mark = out.len();
    let _ = match value {
        None => Ok(()),
        Some(v @ Value::Num(_)) => v.write_text(out),
        Some(v) if quote => {
            out.push('"');
            let written = v.write_text(&mut Quoted(out));
            out.push('"');
            written
        }
        Some(v) => v.write_text(out),
    };
    let empty = if quote && !matches!(value, Some(Value::Num(_))) {
        mark + 2
    } else {
        mark
    };
    if out.len() <= empty {
        out.truncate(mark);
        out.push_str(default);
    }
}

/// Appends the JSON line, as logrus' JSON formatter writes Traefik's fields: keys sorted bytewise,
/// `level` `info`, an empty `msg` and `time` (the end, local time, RFC 3339).
pub(super) fn json(view: &View<'_, '_>, out: &mut String) {
    let mut object = Object { out, first: true };
    object.out.push('{');
    for field in &Field::ALL[..=Field::TraceId as usize] {
        object.field(view, *field);
    }
    let ex = view.record.exchange();
    object.headers(view, ex.response_headers.as_ref(), "downstream_");
    object.field(view, Field::EntryPointName);
    object.raw("level", "\"info\"");
    object.raw("msg", "\"\"");
    object.headers(view, ex.request_headers.as_ref(), "request_");
    object.field(view, Field::OtelSpanId);
    object.key("time");
    let _ = rfc3339_quoted(object.out, view.record.end(), false);
    object.field(view, Field::OtelTraceId);
    object.out.push_str("}\n");
}

/// A JSON object being written.
struct Object<'o> {
    out: &'o mut String,
    first: bool,
}

impl Object<'_> {
    fn key(&mut self, key: &str) {
        if !std::mem::take(&mut self.first) {
            self.out.push(',');
        }
        self.out.push('"');
        let _ = JsonText(self.out).write_str(key);
        self.out.push_str("\":");
    }

    fn raw(&mut self, key: &str, json: &str) {
        self.key(key);
        self.out.push_str(json);
    }

    fn field(&mut self, view: &View<'_, '_>, field: Field) {
        if let Some(value) = view.field(field) {
            self.value(field.name(), value);
        }
    }

    fn value(&mut self, key: &str, value: Value<'_>) {
        self.key(key);
        let _ = match value {
            Value::Num(n) => write!(self.out, "{n}"),
            Value::Moment(m) => rfc3339_quoted(self.out, m, true),
            text => {
                self.out.push('"');
                let written = text.write_text(&mut JsonText(self.out));
                self.out.push('"');
                written
            }
        };
    }

    /// The headers of `headers` the modes let through, as `<prefix><Canonical-Name>`, sorted.
    fn headers(&mut self, view: &View<'_, '_>, headers: Option<&HeaderMap>, prefix: &str) {
        let Some(headers) = headers else { return };
        let mut entries: Vec<(String, Value<'_>)> = headers
            .keys()
            .filter_map(|name| Some((canonical(prefix, name), view.header(headers, name)?)))
            .collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (key, value) in entries {
            self.value(&key, value);
        }
    }
}

/// `prefix` and Go's canonical form of a header name (`user-agent` → `User-Agent`).
fn canonical(prefix: &str, name: &HeaderName) -> String {
    let mut key = String::with_capacity(prefix.len() + name.as_str().len());
    key.push_str(prefix);
    let mut upper = true;
    for c in name.as_str().chars() {
        key.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    key
}

/// Text escaped for a CLF quoted item: `"` as `\"`.
struct Quoted<'o>(&'o mut String);

impl fmt::Write for Quoted<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for (i, part) in s.split('"').enumerate() {
            if i > 0 {
                self.0.push_str("\\\"");
            }
            self.0.push_str(part);
        }
        Ok(())
    }
}

/// Text escaped for a JSON string as Go's `encoding/json` does, HTML characters included.
struct JsonText<'o>(&'o mut String);

impl fmt::Write for JsonText<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                '\u{8}' => self.0.push_str("\\b"),
                '\u{c}' => self.0.push_str("\\f"),
                '\0'..='\u{1f}' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                    write!(self.0, "\\u{:04x}", u32::from(c))?;
                }
                c => self.0.push(c),
            }
        }
        Ok(())
    }
}

/// Go's `02/Jan/2006:15:04:05 -0700`.
fn clf_time(out: &mut dyn fmt::Write, m: Moment) -> fmt::Result {
    let t = m.offset.to_datetime(m.at);
    let month = MONTHS[usize::try_from(t.month() - 1).unwrap_or(0)];
    two_digits(out, t.day())?;
    out.write_char('/')?;
    out.write_str(month)?;
    out.write_char('/')?;
    decimal(out, u64::try_from(t.year()).unwrap_or(0))?;
    for part in [t.hour(), t.minute(), t.second()] {
        out.write_char(':')?;
        two_digits(out, part)?;
    }
    out.write_char(' ')?;
    offset(out, m, false)
}

/// `value` in two digits (`07`), without the formatting machinery: lines are written per request.
fn two_digits(out: &mut dyn fmt::Write, value: i8) -> fmt::Result {
    let value = value.unsigned_abs();
    out.write_char(char::from(b'0' + value / 10 % 10))?;
    out.write_char(char::from(b'0' + value % 10))
}

/// `value` in decimal, without the formatting machinery.
pub(super) fn decimal(out: &mut dyn fmt::Write, mut value: u64) -> fmt::Result {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + u8::try_from(value % 10).unwrap_or(0);
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.write_str(std::str::from_utf8(&digits[start..]).unwrap_or("0"))
}

fn rfc3339_quoted(out: &mut String, m: Moment, nanos: bool) -> fmt::Result {
    out.push('"');
    rfc3339(out, m, nanos)?;
    out.push('"');
    Ok(())
}

/// Go's RFC 3339 (`2006-01-02T15:04:05Z07:00`); with `nanos`, its `RFC3339Nano` (the fraction's
/// trailing zeros cut, none when whole), as Go writes a `time.Time` in JSON.
pub(super) fn rfc3339(out: &mut dyn fmt::Write, m: Moment, nanos: bool) -> fmt::Result {
    let t = m.offset.to_datetime(m.at);
    write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )?;
    let mut fraction = t.subsec_nanosecond();
    if nanos && fraction > 0 {
        let mut digits = 9;
        while fraction % 10 == 0 {
            fraction /= 10;
            digits -= 1;
        }
        write!(out, ".{fraction:0digits$}")?;
    }
    offset(out, m, true)
}

/// `Z07:00` (`Z` for UTC) in RFC 3339, `-0700` in CLF.
fn offset(out: &mut dyn fmt::Write, m: Moment, rfc3339: bool) -> fmt::Result {
    let seconds = m.offset.seconds();
    if rfc3339 && seconds == 0 {
        return out.write_char('Z');
    }
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    let colon = if rfc3339 { ":" } else { "" };
    write!(out, "{sign}{:02}{colon}{:02}", minutes / 60, minutes % 60)
}
