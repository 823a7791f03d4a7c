//! The series a request adds to at every level, found with one lookup of its labels.
//!
//! The families find a series by its label set, hashed with SipHash; finding each level's series,
//! there or in a table per level, would hash and compare the request's names once per level, after
//! cloning them into a key. Here the labels of a request are borrowed from the exchange (nothing is
//! cloned, nor allocated unless `headerLabels` are configured), hashed once with a fast hash, and lead
//! to the series of its entrypoint, router and service together, which the families give the first
//! time those labels are seen.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, PoisonError, RwLock};

use hashbrown::HashTable;
use http::HeaderValue;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

use super::families::{Sample, TlsDetails};
use super::labels::Code;
use crate::Exchange;

/// What tells the series of one request apart, at every level, borrowed from the exchange.
#[derive(Debug, Clone, Copy)]
pub(super) struct Labels<'a> {
    pub(super) code: Code,
    pub(super) method: &'static str,
    pub(super) protocol: &'static str,
    pub(super) tls: Option<TlsDetails>,
    pub(super) entry_point: &'a str,
    pub(super) router: Option<&'a str>,
    pub(super) service: Option<&'a str>,
    /// The `headerLabels` values, in the configuration's order (empty without `headerLabels`).
    pub(super) headers: &'a [Option<HeaderValue>],
}

// Equal labels hash the same, as the table needs; different ones may too, and are told apart by
// `same`. So that a request hashes little, the names are hashed in full, but the short labels of small
// fixed sets (methods, protocols, TLS versions and ciphers) only by a sketch of them, one byte that
// differs between any two of Traefik's methods, protocols or TLS versions.
impl Hash for Labels<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (version, cipher) = self.tls.map_or((0, 0), |tls| (sketch(tls.version), sketch(tls.cipher)));
        let short = [sketch(self.method), sketch(self.protocol), version, cipher];
        state.write_u64(u64::from(self.code.0) << 32 | u64::from(u32::from_le_bytes(short)));
        // The names' lengths (0 for none) first, so that their bytes do not run into each other.
        let names = [Some(self.entry_point), self.router, self.service];
        let length = |name: Option<&str>| name.map_or(0, |n| n.len().wrapping_add(1));
        state.write_usize(names.iter().fold(0, |lengths, name| lengths << 21 ^ length(*name)));
        for name in names.into_iter().flatten() {
            state.write(name.as_bytes());
        }
        if !self.headers.is_empty() {
            self.headers.hash(state);
        }
    }
}

/// One byte of a short label for its hash, from its first and last bytes and its length.
fn sketch(label: &str) -> u8 {
    let bytes = label.as_bytes();
    let first = bytes.first().copied().unwrap_or_default();
    let last = bytes.last().copied().unwrap_or_default();
    let length = u8::try_from(label.len() % 256).unwrap_or_default();
    first.wrapping_add(last).wrapping_add(length.wrapping_mul(2))
}

impl Labels<'_> {
    /// Whether `self` and `other` are the same labels.
    #[inline]
    fn same(&self, other: &Labels<'_>) -> bool {
        self.code == other.code
            && same_str(self.method, other.method)
            && same_str(self.protocol, other.protocol)
            && self.tls == other.tls
            && same_str(self.entry_point, other.entry_point)
            && same_name(self.router, other.router)
            && same_name(self.service, other.service)
            && self.headers == other.headers
    }
}

/// Whether two strings are equal, without comparing their bytes when they are the same string (the
/// names of an exchange share the configuration's allocation).
fn same_str(a: &str, b: &str) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}

/// Whether two optional names are both absent, or the same.
fn same_name(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same_str(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// [`Labels`], owned by the table.
#[derive(Debug)]
struct OwnedLabels {
    code: Code,
    method: &'static str,
    protocol: &'static str,
    tls: Option<TlsDetails>,
    entry_point: Arc<str>,
    router: Option<Arc<str>>,
    service: Option<Arc<str>>,
    headers: Box<[Option<HeaderValue>]>,
}

impl OwnedLabels {
    /// `labels`, owned; the names are the exchange's (`Arc`s shared, not copied).
    fn new(labels: &Labels<'_>, names: Names) -> Self {
        Self {
            code: labels.code,
            method: labels.method,
            protocol: labels.protocol,
            tls: labels.tls,
            entry_point: names.entry_point,
            router: names.router,
            service: names.service,
            headers: labels.headers.into(),
        }
    }

    /// The labels, borrowed, as a request gives them.
    fn borrowed(&self) -> Labels<'_> {
        Labels {
            code: self.code,
            method: self.method,
            protocol: self.protocol,
            tls: self.tls,
            entry_point: &self.entry_point,
            router: self.router.as_deref(),
            service: self.service.as_deref(),
            headers: &self.headers,
        }
    }
}

/// The names of [`Labels`], owned (what the table keeps of a new label set).
#[derive(Debug)]
pub(super) struct Names {
    entry_point: Arc<str>,
    router: Option<Arc<str>>,
    service: Option<Arc<str>>,
}

impl Names {
    /// The names of `exchange`'s entrypoint, router and service (their `Arc`s shared).
    pub(super) fn of(exchange: &Exchange) -> Self {
        let progress = &exchange.progress;
        Self {
            entry_point: Arc::clone(&exchange.entry_point),
            router: progress.router.clone(),
            service: progress.service.clone(),
        }
    }
}

/// The metrics of one label set at one level (they share their values with the families' entries).
#[derive(Debug, Clone)]
pub(super) struct Series {
    pub(super) requests: Counter,
    pub(super) duration: Histogram,
    pub(super) request_bytes: Counter,
    pub(super) response_bytes: Counter,
    /// `requests_tls_total`'s, for a request over TLS.
    pub(super) tls: Option<Counter>,
}

impl Series {
    /// Adds one request's `sample`.
    fn add(&self, sample: &Sample) {
        self.duration.observe(sample.seconds);
        self.request_bytes.inc_by(sample.request_bytes);
        self.response_bytes.inc_by(sample.response_bytes);
        self.requests.inc();
        if let Some(tls) = &self.tls {
            tls.inc();
        }
    }
}

/// The series of one label set at each level that measures it (none where a level is off, or has
/// nothing to measure: no router matched, no service).
#[derive(Debug, Default)]
pub(super) struct Levels {
    pub(super) entry_point: Option<Series>,
    pub(super) router: Option<Series>,
    pub(super) service: Option<Series>,
}

impl Levels {
    /// Adds one request's `sample` at every level.
    fn add(&self, sample: &Sample) {
        for series in [&self.entry_point, &self.router, &self.service].into_iter().flatten() {
            series.add(sample);
        }
    }
}

/// A label set seen, its hash and its series.
#[derive(Debug)]
struct Entry {
    hash: u64,
    labels: OwnedLabels,
    levels: Levels,
}

/// The series of every label set seen, by its labels.
#[derive(Debug, Default)]
pub(super) struct SeriesTable {
    hasher: foldhash::fast::RandomState,
    table: RwLock<HashTable<Entry>>,
}

impl SeriesTable {
    /// Adds `sample` to the series of `labels`; the first time they are seen, `make` finds those
    /// series in the families, and `names` gives the names to keep.
    pub(super) fn add(
        &self,
        labels: &Labels<'_>,
        sample: &Sample,
        names: impl FnOnce() -> Names,
        make: impl FnOnce() -> Levels,
    ) {
        let hash = std::hash::BuildHasher::hash_one(&self.hasher, labels);
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = table.find(hash, |e| e.hash == hash && e.labels.borrowed().same(labels)) {
            entry.levels.add(sample);
            return;
        }
        drop(table);
        let levels = make();
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        let entry = table.find(hash, |e| e.hash == hash && e.labels.borrowed().same(labels));
        match entry {
            Some(entry) => entry.levels.add(sample),
            None => {
                levels.add(sample);
                let labels = OwnedLabels::new(labels, names());
                table.insert_unique(hash, Entry { hash, labels, levels }, |e| e.hash);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    fn labels<'a>(names: [&'a str; 3], method: &'static str, headers: &'a [Option<HeaderValue>]) -> Labels<'a> {
        Labels {
            code: Code(200),
            method,
            protocol: "http",
            tls: None,
            entry_point: names[0],
            router: Some(names[1]),
            service: Some(names[2]),
            headers,
        }
    }

    #[test]
    fn equal_labels_are_the_same_and_hash_the_same_wherever_their_names_are() {
        let hasher = foldhash::fast::RandomState::default();
        let owned = ["web".to_owned(), "all@file".to_owned(), "backend@file".to_owned()];
        let a = labels(["web", "all@file", "backend@file"], "GET", &[]);
        let b = labels([&owned[0], &owned[1], &owned[2]], "GET", &[]);
        assert!(a.same(&b) && b.same(&a));
        assert_eq!(hasher.hash_one(a), hasher.hash_one(b));
        let value = [Some(HeaderValue::from_static("x"))];
        let with_header = labels([&owned[0], &owned[1], &owned[2]], "GET", &value);
        assert!(!a.same(&with_header));
    }

    #[test]
    fn labels_that_differ_anywhere_are_not_the_same() {
        let a = labels(["web", "all@file", "backend@file"], "GET", &[]);
        let tweaks: [fn(&mut Labels<'static>); 8] = [
            |l| l.code = Code(404),
            |l| l.method = "PUT",
            |l| l.protocol = "grpc",
            |l| {
                l.tls = Some(TlsDetails {
                    version: "1.3",
                    cipher: "TLS_AES_128_GCM_SHA256",
                });
            },
            |l| l.entry_point = "websecure",
            |l| l.router = None,
            |l| l.service = Some("backend@kubernetes"),
            |l| l.headers = &[None],
        ];
        for tweak in tweaks {
            let mut b = a;
            tweak(&mut b);
            assert!(!a.same(&b) && !b.same(&a), "{b:?}");
        }
    }

    #[test]
    fn sketches_tell_apart_methods_protocols_and_tls_versions() {
        let methods = [
            "HEAD",
            "GET",
            "POST",
            "PUT",
            "DELETE",
            "CONNECT",
            "OPTIONS",
            "TRACE",
            "PATCH",
            "PRI",
            "EXTENSION_METHOD",
        ];
        let protocols = ["http", "websocket", "sse", "grpc-web", "grpc"];
        let versions = ["1.0", "1.1", "1.2", "1.3"];
        for set in [&methods[..], &protocols, &versions] {
            let mut sketches: Vec<u8> = set.iter().map(|label| sketch(label)).collect();
            sketches.sort_unstable();
            sketches.dedup();
            assert_eq!(sketches.len(), set.len(), "{set:?}");
        }
        assert_eq!(sketch(""), 0);
        assert_eq!(sketch("GET"), b'G' + b'T' + 6);
    }
}
