//! The gateway's observability: the observer its static configuration asks for, whose layer goes first
//! on every entrypoint, and the services and counts it feeds (`prometheus@internal`, reloads).

use std::collections::HashMap;
use std::sync::Arc;

use switchyard_middleware::HttpService;
use switchyard_observe::Observer;

use crate::snapshot::SnapshotHandle;

/// The Prometheus exposition, as Traefik names it.
pub const PROMETHEUS_SERVICE: &str = "prometheus@internal";

/// The gateway's own services the observer brings: `prometheus@internal` when `metrics.prometheus`
/// is configured. The live snapshot's servers and certificates are read into the metrics at each
/// scrape, and before each `metrics.otlp` push.
pub(super) fn internal_services(
    observer: Option<&Arc<Observer>>,
    snapshots: &SnapshotHandle,
) -> HashMap<String, HttpService> {
    #[cfg(feature = "metrics")]
    if let Some((observer, metrics)) = observer.and_then(|o| Some((o, o.metrics()?))) {
        let live = snapshots.clone();
        observer.on_metrics_push(move |metrics| prometheus::refresh(metrics, &live));
        let service = prometheus::service(Arc::clone(metrics), snapshots.clone());
        return HashMap::from([(PROMETHEUS_SERVICE.to_owned(), service)]);
    }
    let _ = (observer, snapshots);
    HashMap::new()
}

/// A new configuration went live.
pub(super) fn reloaded(observer: Option<&Arc<Observer>>) {
    #[cfg(feature = "metrics")]
    if let Some(metrics) = observer.and_then(|o| o.metrics()) {
        metrics.config_reloaded(true);
    }
    let _ = observer;
}

#[cfg(feature = "metrics")]
mod prometheus {
    use std::convert::Infallible;
    use std::sync::Arc;

    use http::header::CONTENT_TYPE;
    use http::{HeaderValue, Request, Response};
    use switchyard_middleware::{HttpService, RequestBody, ResponseBody};
    use switchyard_observe::Metrics;

    use crate::snapshot::SnapshotHandle;

    /// `prometheus@internal`: the metrics in Prometheus' text format, with the servers' health and
    /// the certificates as the live snapshot sees them at scrape time.
    pub(super) fn service(metrics: Arc<Metrics>, snapshots: SnapshotHandle) -> HttpService {
        HttpService::new(tower::service_fn(move |_req: Request<RequestBody>| {
            refresh(&metrics, &snapshots);
            let mut response = Response::new(ResponseBody::from(bytes::Bytes::from(metrics.encode())));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(Metrics::content_type()));
            std::future::ready(Ok::<_, Infallible>(response))
        }))
    }

    /// The series read from the live snapshot: servers' health and, with TLS, certificates.
    pub(super) fn refresh(metrics: &Metrics, snapshots: &SnapshotHandle) {
        refresh_servers(metrics, snapshots);
        #[cfg(feature = "tls")]
        refresh_certificates(metrics, snapshots);
    }

    /// `traefik_tls_certs_not_after` for every certificate the live snapshot serves.
    #[cfg(feature = "tls")]
    fn refresh_certificates(metrics: &Metrics, snapshots: &SnapshotHandle) {
        let snapshot = snapshots.load();
        let Some(tls) = &snapshot.tls else { return };
        metrics.clear_certificates();
        for facts in tls.server.store().facts() {
            metrics.certificate_expiry(&facts.common_name, &facts.serial, &facts.sans, facts.not_after);
        }
    }

    /// `traefik_service_server_up` for every server of the live snapshot.
    fn refresh_servers(metrics: &Metrics, snapshots: &SnapshotHandle) {
        let snapshot = snapshots.load();
        for (service, balancer) in &snapshot.balancers {
            for server in balancer.servers() {
                metrics.server_up(service, &server.url, server.stats.is_up());
            }
        }
    }
}
