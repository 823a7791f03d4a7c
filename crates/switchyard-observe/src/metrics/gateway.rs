//! The gateway's own series, which the proxy reports as things happen rather than per request:
//! configuration reloads, open connections, server health and certificate expiry.

use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Metrics;

/// `traefik_open_connections` labels: `entrypoint` and `protocol`.
type ConnectionLabels = [(&'static str, String); 2];

/// `traefik_tls_certs_not_after` labels: `cn`, `serial` and `sans`.
type CertificateLabels = [(&'static str, String); 3];

/// The series that are not about one request.
#[derive(Debug)]
pub(super) struct Gateway {
    reloads: Counter,
    last_reload_success: Gauge,
    connections: Family<ConnectionLabels, Gauge>,
    certificates: Family<CertificateLabels, Gauge>,
}

impl Gateway {
    /// Registers the series; like the request families', help texts and counter names leave the
    /// final period and `_total` to the encoder.
    pub(super) fn register(registry: &mut Registry) -> Self {
        let this = Self {
            reloads: Counter::default(),
            last_reload_success: Gauge::default(),
            connections: Family::default(),
            certificates: Family::default(),
        };
        registry.register("config_reloads", "Dynamic configurations applied", this.reloads.clone());
        let last = "When the last dynamic configuration was applied, in Unix seconds";
        registry.register("config_last_reload_success", last, this.last_reload_success.clone());
        let connections = "Connections open now, by entrypoint and protocol";
        registry.register("open_connections", connections, this.connections.clone());
        let certificates = "When each served certificate expires, in Unix seconds";
        registry.register("tls_certs_not_after", certificates, this.certificates.clone());
        this
    }

    pub(super) fn config_reloaded_at(&self, success: bool, now: SystemTime) {
        if !success {
            return;
        }
        self.reloads.inc();
        let seconds = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.last_reload_success.set(i64::try_from(seconds).unwrap_or(i64::MAX));
    }
}

/// `switchyard_ratelimit_redis_errors_total{middleware}` (a switchyard series, so not `traefik_`): the
/// requests each `rateLimit.redis` middleware of the process could not have Redis decide, read at each
/// scrape from [`switchyard_middleware::redis_errors_by_middleware`]. Nothing while there is none.
#[derive(Debug)]
pub(super) struct RedisErrors;

impl Collector for RedisErrors {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counts = switchyard_middleware::redis_errors_by_middleware();
        if counts.is_empty() {
            return Ok(());
        }
        let help = "Requests a rateLimit.redis middleware could not have decided by Redis (answered 500, or \
                    forwarded with allowOnError)";
        let mut family = encoder.encode_descriptor(
            "ratelimit_redis_errors",
            help,
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (middleware, count) in counts {
            let labels = [("middleware", &*middleware)];
            ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// An open connection as `traefik_open_connections` counts it: counted when
/// [`Metrics::open_connection`] made it, no longer when it is dropped.
///
/// Keep it alongside the connection's task; it does not borrow the [`Metrics`].
#[derive(Debug)]
#[must_use = "the connection stops being counted when this is dropped"]
pub struct OpenConnection {
    gauge: Gauge,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

impl Metrics {
    /// Reports that a dynamic configuration was applied (`success`) or rejected.
    ///
    /// An applied one counts in `traefik_config_reloads_total` and sets
    /// `traefik_config_last_reload_success` to now, in Unix seconds. A rejected one changes nothing:
    /// Traefik v3 has no failure series (v2's `traefik_config_reloads_failure_total` and
    /// `traefik_config_last_reload_failure` are gone).
    ///
    /// ```
    /// use switchyard_observe::Metrics;
    ///
    /// let metrics = Metrics::new(&Default::default()).unwrap();
    /// metrics.config_reloaded(true);
    /// metrics.config_reloaded(false);
    /// assert!(metrics.encode().contains("traefik_config_reloads_total 1\n"));
    /// ```
    pub fn config_reloaded(&self, success: bool) {
        self.gateway.config_reloaded_at(success, SystemTime::now());
    }

    /// Counts a connection accepted on `entry_point` in `traefik_open_connections`, until the
    /// returned guard is dropped. Traefik's `protocol` values are `TCP` and `UDP`.
    ///
    /// ```
    /// use switchyard_observe::Metrics;
    ///
    /// let metrics = Metrics::new(&Default::default()).unwrap();
    /// let connection = metrics.open_connection("web", "TCP");
    /// assert!(metrics.encode().contains(r#"traefik_open_connections{entrypoint="web",protocol="TCP"} 1"#));
    /// drop(connection);
    /// assert!(metrics.encode().contains(r#"traefik_open_connections{entrypoint="web",protocol="TCP"} 0"#));
    /// ```
    pub fn open_connection(&self, entry_point: &str, protocol: &str) -> OpenConnection {
        let labels = [
            ("entrypoint", entry_point.to_owned()),
            ("protocol", protocol.to_owned()),
        ];
        let gauge = self.gateway.connections.get_or_create_owned(&labels);
        gauge.inc();
        OpenConnection { gauge }
    }

    /// Sets `traefik_service_server_up{service,url}` to 1 (`up`) or 0, as a health check found the
    /// server. Nothing when `addServicesLabels` is off, as in Traefik.
    ///
    /// ```
    /// use switchyard_observe::Metrics;
    ///
    /// let metrics = Metrics::new(&Default::default()).unwrap();
    /// metrics.server_up("whoami@file", "http://10.0.0.1:80", false);
    /// let line = r#"traefik_service_server_up{service="whoami@file",url="http://10.0.0.1:80"} 0"#;
    /// assert!(metrics.encode().contains(line));
    /// ```
    pub fn server_up(&self, service: &str, url: &str, up: bool) {
        if let Some(services) = &self.services {
            services.server_up(service, url, up);
        }
    }

    /// Sets `traefik_tls_certs_not_after{cn,serial,sans}` for a served certificate: its common name,
    /// its serial number in decimal, its DNS names (sorted and joined with `,`, as Traefik does) and
    /// when it expires, in Unix seconds.
    ///
    /// ```
    /// use switchyard_observe::Metrics;
    ///
    /// let metrics = Metrics::new(&Default::default()).unwrap();
    /// let sans = ["www.example.com".to_owned(), "example.com".to_owned()];
    /// metrics.certificate_expiry("example.com", "42", &sans, 1_800_000_000);
    /// let line = r#"traefik_tls_certs_not_after{cn="example.com",serial="42",sans="example.com,www.example.com"} 1800000000"#;
    /// assert!(metrics.encode().contains(line));
    /// ```
    pub fn certificate_expiry(&self, cn: &str, serial: &str, sans: &[String], not_after_unix: i64) {
        let mut sorted: Vec<&str> = sans.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        let labels = [
            ("cn", cn.to_owned()),
            ("serial", serial.to_owned()),
            ("sans", sorted.join(",")),
        ];
        self.gateway.certificates.get_or_create(&labels).set(not_after_unix);
    }

    /// Forgets every certificate's `traefik_tls_certs_not_after`, so that a reload can report the
    /// certificates it serves now and no longer those it dropped.
    ///
    /// ```
    /// use switchyard_observe::Metrics;
    ///
    /// let metrics = Metrics::new(&Default::default()).unwrap();
    /// metrics.certificate_expiry("old.example.com", "1", &[], 1_700_000_000);
    /// metrics.clear_certificates();
    /// assert!(!metrics.encode().contains("old.example.com"));
    /// ```
    pub fn clear_certificates(&self) {
        self.gateway.certificates.clear();
    }
}
