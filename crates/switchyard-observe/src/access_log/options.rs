//! `accessLog`'s options, checked once: the format, the filters and the field and header modes.

use std::ops::RangeInclusive;
use std::time::Duration;

use http::header::HeaderName;
use switchyard_config::{AccessLogFields, AccessLogFilters, AccessLogHeaders};

use super::record::Field;
use crate::{Exchange, ObserveError};

/// A line's layout (`accessLog.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// Traefik's extended CLF (`common`, the default).
    Common,
    /// Plain CLF (`genericCLF`).
    GenericClf,
    /// One JSON object per line (`json`).
    Json,
}

impl Format {
    /// `accessLog.format`; empty is the default, `common`.
    pub(super) fn parse(format: &str) -> Result<Self, ObserveError> {
        match format {
            "" | "common" => Ok(Self::Common),
            "genericCLF" => Ok(Self::GenericClf),
            "json" => Ok(Self::Json),
            other => Err(invalid(
                "accessLog.format".into(),
                format!("unknown format `{other}`; expected `common`, `genericCLF` or `json`"),
            )),
        }
    }
}

/// What becomes of a field or header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Written as it is.
    Keep,
    /// Left out.
    Drop,
    /// Written as `REDACTED`.
    Redact,
}

impl Mode {
    /// The mode `value` names at `key`; empty is `default`.
    fn parse(value: &str, key: impl FnOnce() -> String, default: Self) -> Result<Self, ObserveError> {
        match value {
            "" => Ok(default),
            "keep" => Ok(Self::Keep),
            "drop" => Ok(Self::Drop),
            "redact" => Ok(Self::Redact),
            other => Err(invalid(
                key(),
                format!("unknown mode `{other}`; expected `keep`, `drop` or `redact`"),
            )),
        }
    }
}

/// `accessLog.filters`: which requests are logged.
#[derive(Debug, Clone, Default)]
pub(super) struct Filter {
    statuses: Vec<RangeInclusive<u16>>,
    retried: bool,
    slower_than: Option<Duration>,
}

impl Filter {
    /// The filters, checked; `None` when they let every request through (none configured).
    pub(super) fn parse(filters: Option<&AccessLogFilters>) -> Result<Option<Self>, ObserveError> {
        let Some(filters) = filters else { return Ok(None) };
        let statuses = filters
            .status_codes
            .iter()
            .enumerate()
            .map(|(i, block)| status_range(block, i))
            .collect::<Result<Vec<_>, _>>()?;
        if filters.min_duration.is_negative() {
            let reason = "must not be negative".to_owned();
            return Err(invalid("accessLog.filters.minDuration".into(), reason));
        }
        let filter = Self {
            statuses,
            retried: filters.retry_attempts,
            slower_than: filters.min_duration.to_std().filter(|d| !d.is_zero()),
        };
        let empty = filter.statuses.is_empty() && !filter.retried && filter.slower_than.is_none();
        Ok((!empty).then_some(filter))
    }

    /// Whether `ex` is logged: its status is in a range, it was retried, or it was slow (any one).
    pub(super) fn keeps(&self, ex: &Exchange) -> bool {
        let status = ex.status.as_u16();
        self.statuses.iter().any(|range| range.contains(&status))
            || (self.retried && ex.progress.retries > 0)
            || self.slower_than.is_some_and(|min| ex.duration > min)
    }
}

/// `"404"` or `"400-499"`, the `index`th of `accessLog.filters.statusCodes`.
fn status_range(block: &str, index: usize) -> Result<RangeInclusive<u16>, ObserveError> {
    let fail = |reason: &str| {
        invalid(
            format!("accessLog.filters.statusCodes[{index}]"),
            format!("`{block}`: {reason}"),
        )
    };
    let (low, high) = block.split_once('-').unwrap_or((block, block));
    let code = |text: &str| {
        text.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=999).contains(c))
            .ok_or_else(|| fail("expected a status code (100-999) or a range of them (`400-499`)"))
    };
    let (low, high) = (code(low)?, code(high)?);
    if low > high {
        return Err(fail("the range's low end is above its high end"));
    }
    Ok(low..=high)
}

/// `accessLog.fields`: each field's mode, and the headers'.
#[derive(Debug, Clone)]
pub(super) struct Modes {
    fields: [Mode; Field::ALL.len()],
    header_default: Mode,
    headers: Vec<(HeaderName, Mode)>,
}

impl Modes {
    /// The modes, checked. Fields are kept and headers dropped unless configured otherwise.
    pub(super) fn parse(fields: Option<&AccessLogFields>) -> Result<Self, ObserveError> {
        let Some(fields) = fields else {
            return Ok(Self::from_defaults(Mode::Keep, Mode::Drop));
        };
        let default = Mode::parse(
            &fields.default_mode,
            || "accessLog.fields.defaultMode".into(),
            Mode::Keep,
        )?;
        let headers = fields.headers.as_ref();
        let header_default = match headers {
            Some(h) => Mode::parse(
                &h.default_mode,
                || "accessLog.fields.headers.defaultMode".into(),
                Mode::Drop,
            )?,
            None => Mode::Drop,
        };
        let mut modes = Self::from_defaults(default, header_default);
        modes.name_fields(fields, default)?;
        if let Some(headers) = headers {
            modes.name_headers(headers)?;
        }
        Ok(modes)
    }

    fn from_defaults(field: Mode, header: Mode) -> Self {
        Self {
            fields: [field; Field::ALL.len()],
            header_default: header,
            headers: Vec::new(),
        }
    }

    fn name_fields(&mut self, fields: &AccessLogFields, default: Mode) -> Result<(), ObserveError> {
        for (name, value) in &fields.names {
            let key = || format!("accessLog.fields.names.{name}");
            let mode = Mode::parse(value, key, default)?;
            match Field::named(name) {
                Some(field) => self.fields[field as usize] = mode,
                None => tracing::warn!("{}: switchyard writes no such access-log field", key()),
            }
        }
        Ok(())
    }

    fn name_headers(&mut self, headers: &AccessLogHeaders) -> Result<(), ObserveError> {
        for (name, value) in &headers.names {
            let key = || format!("accessLog.fields.headers.names.{name}");
            let mode = Mode::parse(value, key, self.header_default)?;
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(key(), format!("`{name}` is not a header name")))?;
            self.headers.push((header, mode));
        }
        Ok(())
    }

    /// The mode of `field`.
    pub(super) fn field(&self, field: Field) -> Mode {
        self.fields[field as usize]
    }

    /// The mode of the header `name`.
    pub(super) fn header(&self, name: &HeaderName) -> Mode {
        self.headers
            .iter()
            .find_map(|(n, mode)| (n == name).then_some(*mode))
            .unwrap_or(self.header_default)
    }

    /// Whether any header can be written, so that the exchange must keep them.
    pub(super) fn logs_headers(&self) -> bool {
        self.header_default != Mode::Drop || self.headers.iter().any(|(_, mode)| *mode != Mode::Drop)
    }
}

fn invalid(key: String, reason: String) -> ObserveError {
    ObserveError::Invalid { key, reason }
}
