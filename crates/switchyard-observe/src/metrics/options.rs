//! `metrics.prometheus` options checked and turned into what the registry uses.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::HeaderName;

use super::labels::HeaderLabel;
use crate::ObserveError;

/// Prometheus' default buckets, which Traefik's client falls back to when `buckets` is empty.
const PROMETHEUS_DEFAULT_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The labels of the `requests_total` series, which `headerLabels` cannot take.
const OWN_LABELS: [&str; 6] = ["code", "method", "protocol", "entrypoint", "router", "service"];

const BUCKETS_KEY: &str = "metrics.prometheus.buckets";

/// The histogram bounds of `metrics.prometheus.buckets`: increasing, none negative; a last `+Inf`
/// is dropped (every histogram has it) and an empty list is Prometheus' default.
pub(super) fn buckets(configured: &[f64]) -> Result<Arc<[f64]>, ObserveError> {
    if configured.is_empty() {
        return Ok(Arc::from(PROMETHEUS_DEFAULT_BUCKETS.as_slice()));
    }
    for (i, &bound) in configured.iter().enumerate() {
        check_bound(i, bound, i.checked_sub(1).map(|before| configured[before]))?;
    }
    let finite = configured.iter().copied().filter(|b| b.is_finite());
    Ok(finite.collect())
}

fn check_bound(i: usize, bound: f64, before: Option<f64>) -> Result<(), ObserveError> {
    if bound.is_nan() {
        return Err(invalid(BUCKETS_KEY.into(), format!("bucket {i} is not a number")));
    }
    if bound < 0.0 {
        let reason = format!("bucket {i} ({bound}) is negative; durations are not");
        return Err(invalid(BUCKETS_KEY.into(), reason));
    }
    match before {
        Some(before) if bound <= before => {
            let reason = format!("buckets must increase, and bucket {i} ({bound}) is not above {before}");
            Err(invalid(BUCKETS_KEY.into(), reason))
        }
        _ => Ok(()),
    }
}

/// The `metrics.prometheus.headerLabels`, checked: Prometheus label names that are not Traefik's own
/// labels, each with a valid header name.
pub(super) fn header_labels(configured: &BTreeMap<String, String>) -> Result<Arc<[HeaderLabel]>, ObserveError> {
    configured
        .iter()
        .map(|(label, header)| header_label(label, header))
        .collect()
}

fn header_label(label: &str, header: &str) -> Result<HeaderLabel, ObserveError> {
    let key = || format!("metrics.prometheus.headerLabels.{label}");
    if let Some(reason) = label_name_problem(label) {
        return Err(invalid(key(), reason));
    }
    let header = HeaderName::from_bytes(header.as_bytes())
        .map_err(|_| invalid(key(), format!("`{header}` is not a valid header name")))?;
    Ok(HeaderLabel {
        label: label.to_owned(),
        header,
    })
}

/// Why `label` cannot name a label, if it cannot.
fn label_name_problem(label: &str) -> Option<String> {
    let mut chars = label.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Some(format!(
            "`{label}` is not a Prometheus label name (a letter or `_`, then letters, digits or `_`)"
        ));
    }
    if label.starts_with("__") {
        return Some(format!(
            "`{label}`: names starting with `__` are reserved to Prometheus"
        ));
    }
    if OWN_LABELS.contains(&label) {
        return Some(format!("`{label}` is already a label of the requests_total series"));
    }
    None
}

fn invalid(key: String, reason: String) -> ObserveError {
    ObserveError::Invalid { key, reason }
}
