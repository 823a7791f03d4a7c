//! Writing a line: Traefik's `common` and `genericCLF` layouts and its JSON objects, byte for byte.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{HeaderMap, HeaderName, REFERER, USER_AGENT};
use jiff::tz::TimeZone;

use super::options::{Mode, Modes};
use super::record::{Field, Moment, Record, Value};
use super::text::{Escape, push_decimal, push_padded, push_signed_padded, push_two_digits};

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
    /// `field` as configured: left out when dropped or absent, `REDACTED` when redacted. (Inlined,
    /// as [`Record::value`] is.)
    #[inline(always)]
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
    push_decimal(out, millis);
    out.push_str("ms");
}

/// The start in CLF time (`02/Jan/2006:15:04:05 -0700`): `StartUTC`, else `StartLocal`, else `-`.
fn clf_start(view: &View<'_, '_>, out: &mut String) {
    if view.modes.field(Field::StartUtc) == Mode::Keep {
        return clf_utc(out, view.record.exchange().start);
    }
    let start = view.field(Field::StartUtc).or_else(|| view.field(Field::StartLocal));
    match start {
        Some(Value::Moment(m)) => clf_time(out, m),
        Some(other) => other.write(out, Escape::None),
        None => out.push('-'),
    }
}

/// The CLF time in UTC of one second.
#[derive(Debug)]
struct UtcSecond {
    /// The second's start (included) and end (excluded); empty before the first line.
    from: SystemTime,
    to: SystemTime,
    text: String,
}

thread_local! {
    /// The CLF time of the second the last line of the thread started in.
    static CLF_UTC: RefCell<UtcSecond> = const {
        RefCell::new(UtcSecond { from: UNIX_EPOCH, to: UNIX_EPOCH, text: String::new() })
    };
}

/// `start` in CLF time in UTC; the date is worked out once a second (per thread), not per request.
fn clf_utc(out: &mut String, start: SystemTime) {
    let cached = CLF_UTC.try_with(|cache| {
        let Ok(mut cache) = cache.try_borrow_mut() else {
            return false;
        };
        if !(cache.from..cache.to).contains(&start) && !cache.cover(start) {
            return false;
        }
        out.push_str(&cache.text);
        true
    });
    if cached != Ok(true) {
        clf_time(out, Moment::new(start, &TimeZone::UTC));
    }
}

impl UtcSecond {
    /// Holds the second of `start` from now on; false for a time before 1970 (never held).
    fn cover(&mut self, start: SystemTime) -> bool {
        let Ok(since_epoch) = start.duration_since(UNIX_EPOCH) else {
            return false;
        };
        let from = UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs());
        let Some(to) = from.checked_add(Duration::from_secs(1)) else {
            return false;
        };
        (self.from, self.to) = (from, to);
        self.text.clear();
        clf_time(&mut self.text, Moment::new(start, &TimeZone::UTC));
        true
    }
}

/// One CLF item as Traefik's `toLog`: numbers bare, empty or absent text as `default`, text quoted
/// (inner quotes escaped) when `quote`. (Inlined in each item of the line, where `value`'s kind is
/// known.)
#[inline(always)]
fn item(out: &mut String, value: Option<Value<'_>>, default: &str, quote: bool) {
    match value {
        None => out.push_str(default),
        Some(Value::Num(n)) => push_decimal(out, n),
        Some(Value::Str("")) => out.push_str(default),
        Some(Value::Str(text)) if quote => {
            out.push('"');
            Escape::Clf.push(out, text);
            out.push('"');
        }
        Some(Value::Str(text)) => out.push_str(text),
        Some(other) => other_item(out, other, default, quote),
    }
}

/// An item that is neither a number nor plain text (an address, a moment, a header's values).
fn other_item(out: &mut String, value: Value<'_>, default: &str, quote: bool) {
    let mark = out.len();
    if quote {
        out.push('"');
        value.write(out, Escape::Clf);
        out.push('"');
    } else {
        value.write(out, Escape::None);
    }
    if out.len() <= mark + if quote { 2 } else { 0 } {
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
    rfc3339_quoted(object.out, view.record.end(), false);
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
        Escape::Json.push(self.out, key);
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
        match value {
            Value::Num(n) => push_decimal(self.out, n),
            Value::Moment(m) => rfc3339_quoted(self.out, m, true),
            text => {
                self.out.push('"');
                text.write(self.out, Escape::Json);
                self.out.push('"');
            }
        }
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

/// Go's `02/Jan/2006:15:04:05 -0700`.
fn clf_time(out: &mut String, m: Moment) {
    let t = m.offset.to_datetime(m.at);
    let month = MONTHS[usize::try_from(t.month() - 1).unwrap_or(0)];
    push_two_digits(out, t.day().unsigned_abs());
    out.push('/');
    out.push_str(month);
    out.push('/');
    push_decimal(out, u64::try_from(t.year()).unwrap_or(0));
    for part in [t.hour(), t.minute(), t.second()] {
        out.push(':');
        push_two_digits(out, part.unsigned_abs());
    }
    out.push(' ');
    offset(out, m, false);
}

fn rfc3339_quoted(out: &mut String, m: Moment, nanos: bool) {
    out.push('"');
    rfc3339(out, m, nanos);
    out.push('"');
}

/// Go's RFC 3339 (`2006-01-02T15:04:05Z07:00`); with `nanos`, its `RFC3339Nano` (the fraction's
/// trailing zeros cut, none when whole), as Go writes a `time.Time` in JSON.
pub(super) fn rfc3339(out: &mut String, m: Moment, nanos: bool) {
    let t = m.offset.to_datetime(m.at);
    push_signed_padded(out, t.year().into(), 4);
    for (separator, part) in [
        ('-', t.month()),
        ('-', t.day()),
        ('T', t.hour()),
        (':', t.minute()),
        (':', t.second()),
    ] {
        out.push(separator);
        push_two_digits(out, part.unsigned_abs());
    }
    let fraction = t.subsec_nanosecond();
    if nanos && fraction > 0 {
        push_fraction(out, fraction.unsigned_abs());
    }
    offset(out, m, true);
}

/// Appends `.` and the nanoseconds `fraction` (not 0) as a decimal fraction of a second, its
/// trailing zeros cut (`.5` for 500 000 000).
fn push_fraction(out: &mut String, mut fraction: u32) {
    let mut digits = 9;
    while fraction % 10 == 0 {
        fraction /= 10;
        digits -= 1;
    }
    out.push('.');
    push_padded(out, fraction.into(), digits);
}

/// `Z07:00` (`Z` for UTC) in RFC 3339, `-0700` in CLF. (An offset is under 26 hours: two digits.)
fn offset(out: &mut String, m: Moment, rfc3339: bool) {
    let seconds = m.offset.seconds();
    if rfc3339 && seconds == 0 {
        out.push('Z');
        return;
    }
    out.push(if seconds < 0 { '-' } else { '+' });
    let minutes = seconds.unsigned_abs() / 60;
    push_two_digits(out, u8::try_from(minutes / 60).unwrap_or(99));
    if rfc3339 {
        out.push(':');
    }
    push_two_digits(out, u8::try_from(minutes % 60).unwrap_or(99));
}
