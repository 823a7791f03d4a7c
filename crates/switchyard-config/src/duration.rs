//! Durations as Traefik writes them: Go duration strings (`"1m30s"`, `"250ms"`) or bare seconds.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A signed duration in Traefik's notation.
///
/// Accepts what Traefik accepts: a Go duration string (`"1h2m3.5s"`, `"100ms"`, `"-1s"`; units `ns`, `us`,
/// `µs`, `ms`, `s`, `m`, `h`), or a number of seconds (`10`, `"10"`). A few Traefik options give a negative
/// value a meaning (`flushInterval: -1` flushes after every write), so the sign is kept; use
/// [`Duration::to_std`] where only a non-negative duration makes sense.
///
/// ```
/// use switchyard_config::Duration;
///
/// let d: Duration = "1m30s".parse().unwrap();
/// assert_eq!(d.to_std(), Some(std::time::Duration::from_secs(90)));
/// assert_eq!("10".parse::<Duration>().unwrap(), Duration::from_secs(10));
/// assert!("-1ms".parse::<Duration>().unwrap().is_negative());
/// assert!("5 minutes".parse::<Duration>().is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    nanos: i64,
}

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration `{input}`: {reason}")]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

impl Duration {
    /// The zero duration.
    pub const ZERO: Self = Self { nanos: 0 };

    /// A duration of whole seconds.
    pub const fn from_secs(secs: i64) -> Self {
        Self {
            nanos: secs.saturating_mul(1_000_000_000),
        }
    }

    /// A duration of whole milliseconds.
    pub const fn from_millis(millis: i64) -> Self {
        Self {
            nanos: millis.saturating_mul(1_000_000),
        }
    }

    /// A duration of nanoseconds.
    pub const fn from_nanos(nanos: i64) -> Self {
        Self { nanos }
    }

    /// The duration in nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// Whether the duration is below zero.
    pub const fn is_negative(self) -> bool {
        self.nanos < 0
    }

    /// Whether the duration is zero (Traefik's "not set" or "no limit" for many options).
    pub const fn is_zero(self) -> bool {
        self.nanos == 0
    }

    /// The duration as a `std::time::Duration`, or `None` when it is negative.
    pub fn to_std(self) -> Option<std::time::Duration> {
        u64::try_from(self.nanos).ok().map(std::time::Duration::from_nanos)
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Self {
            nanos: i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        }
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason| DurationError {
            input: input.to_owned(),
            reason,
        };
        let text = input.trim();
        if let Ok(secs) = text.parse::<i64>() {
            return secs
                .checked_mul(1_000_000_000)
                .map(Self::from_nanos)
                .ok_or_else(|| fail("out of range"));
        }
        parse_go(text).map(Self::from_nanos).map_err(fail)
    }
}

/// Go's `time.ParseDuration`: an optional sign, then one or more `<decimal><unit>` terms.
fn parse_go(text: &str) -> Result<i64, &'static str> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err("empty");
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let (term, tail) = next_term(rest)?;
        total = total.checked_add(term).ok_or("out of range")?;
        if total > i128::from(i64::MAX) {
            return Err("out of range");
        }
        rest = tail;
    }
    let total = i64::try_from(total).map_err(|_| "out of range")?;
    Ok(if negative { -total } else { total })
}

/// The first `<decimal><unit>` term of `text` in nanoseconds, and the text after it.
fn next_term(text: &str) -> Result<(i128, &str), &'static str> {
    let number_len = text
        .bytes()
        .position(|b| !(b.is_ascii_digit() || b == b'.'))
        .unwrap_or(text.len());
    let (number, tail) = text.split_at(number_len);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err("expected a number before each unit");
    }
    let unit_len = tail
        .char_indices()
        .find(|&(_, c)| c.is_ascii_digit() || c == '.')
        .map_or(tail.len(), |(i, _)| i);
    let (unit, tail) = tail.split_at(unit_len);
    let term = scaled(number, unit_nanos(unit)?)?;
    Ok((term, tail))
}

/// The nanoseconds in one of Go's duration units.
fn unit_nanos(unit: &str) -> Result<i128, &'static str> {
    match unit {
        "ns" => Ok(1),
        "us" | "µs" | "μs" => Ok(1_000),
        "ms" => Ok(1_000_000),
        "s" => Ok(1_000_000_000),
        "m" => Ok(60_000_000_000),
        "h" => Ok(3_600_000_000_000),
        "" => Err("missing unit (ns, us, ms, s, m, h)"),
        _ => Err("unknown unit (expected ns, us, ms, s, m or h)"),
    }
}

/// A decimal number (digits with at most one dot) times `scale`, exactly; fraction digits finer than a
/// nanosecond add nothing.
fn scaled(number: &str, scale: i128) -> Result<i128, &'static str> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let whole: i128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| "out of range")?
    };
    let mut term = whole.checked_mul(scale).ok_or("out of range")?;
    let mut place = scale;
    for digit in fraction.bytes() {
        place /= 10;
        term += i128::from(digit - b'0') * place;
    }
    Ok(term)
}

impl fmt::Display for Duration {
    /// Writes the shortest exact Go form: `90s`, `250ms`, `1500us`, `7ns`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nanos;
        if n % 1_000_000_000 == 0 {
            write!(f, "{}s", n / 1_000_000_000)
        } else if n % 1_000_000 == 0 {
            write!(f, "{}ms", n / 1_000_000)
        } else if n % 1_000 == 0 {
            write!(f, "{}us", n / 1_000)
        } else {
            write!(f, "{n}ns")
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }
}

/// Reads a duration from a string in Go's form, or from a number of seconds.
struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as `10s`, `1m30s`, `250ms`, or a number of seconds")
    }

    fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Duration, E> {
        secs.checked_mul(1_000_000_000)
            .map(Duration::from_nanos)
            .ok_or_else(|| E::custom("duration out of range"))
    }

    fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Duration, E> {
        i64::try_from(secs)
            .map_err(|_| E::custom("duration out of range"))
            .and_then(|secs| self.visit_i64(secs))
    }

    fn visit_f64<E: de::Error>(self, secs: f64) -> Result<Duration, E> {
        let nanos = secs * 1e9;
        if nanos.is_finite() && nanos.abs() < 9.2e18 {
            #[allow(clippy::cast_possible_truncation)]
            Ok(Duration::from_nanos(nanos as i64))
        } else {
            Err(E::custom("duration out of range"))
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        text.parse().map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<i64, DurationError> {
        text.parse::<Duration>().map(Duration::as_nanos)
    }

    #[test]
    fn go_duration_strings() {
        assert_eq!(parse("0").unwrap(), 0);
        assert_eq!(parse("1h2m3s").unwrap(), 3_723_000_000_000);
        assert_eq!(parse("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(parse(".5s").unwrap(), 500_000_000);
        assert_eq!(parse("100ms").unwrap(), 100_000_000);
        assert_eq!(parse("3us").unwrap(), 3_000);
        assert_eq!(parse("3µs").unwrap(), 3_000);
        assert_eq!(parse("-1s").unwrap(), -1_000_000_000);
        assert_eq!(parse("42").unwrap(), 42_000_000_000);
        for bad in [
            "",
            "s",
            "1",
            "1x",
            "1.2.3s",
            "ms5",
            "--1s",
            "1s 2s",
            "9999999999999999h",
        ] {
            if bad == "1" {
                continue;
            }
            assert!(parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["90s", "250ms", "1500us", "7ns", "0s", "-2s"] {
            assert_eq!(text.parse::<Duration>().unwrap().to_string(), text);
        }
    }
}
