//! Traefik's custom resources (`traefik.io/v1alpha1`) to the dynamic configuration: a pure function of
//! what the watches hold, as the Ingress translation is.
//!
//! Names follow Traefik's CRD provider: a route is the router `<namespace>-<name>-<hash>` (the first ten
//! hexadecimal digits of the SHA-256 of its `match`), a Service reference the load balancer
//! `<namespace>-<service>-<port>`, a Middleware, TraefikService, ServersTransport, TLSOption or TLSStore
//! `<namespace>-<name>` (TLS options and stores named `default` keep that name), all under the provider
//! name `kubernetescrd`. The TCP and UDP kinds are named as Traefik names them too (see [`tcp`] and
//! [`udp`]).

mod ingress_route;
mod middleware;
pub(crate) mod read;
mod reference;
mod route_services;
mod secrets;
mod servers;
mod service;
mod spec;
mod tcp;
mod tls;
mod transport;
mod udp;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use switchyard_config::CertificateAndStores;

use super::{ClusterView, Key, Translation};
use crate::crd::{
    CrdSecret, IngressRoute, IngressRouteTCP, IngressRouteUDP, Middleware, MiddlewareTCP, ServersTransport,
    ServersTransportTCP, TLSOption, TLSStore, TraefikService,
};
use crate::error::{ObjectError, TranslateError};
use crate::options::CrdOptions;
pub(crate) use reference::PROVIDER;

/// What the CRD provider's watches hold at one moment.
#[derive(Debug, Clone, Default)]
pub(crate) struct CrdView {
    /// Services, EndpointSlices and Nodes (its Ingress fields stay empty).
    pub(crate) core: ClusterView,
    pub(crate) secrets: BTreeMap<Key, Arc<CrdSecret>>,
    pub(crate) ingress_routes: Vec<Arc<IngressRoute>>,
    pub(crate) middlewares: Vec<Arc<Middleware>>,
    pub(crate) traefik_services: Vec<Arc<TraefikService>>,
    pub(crate) servers_transports: Vec<Arc<ServersTransport>>,
    pub(crate) tls_options: Vec<Arc<TLSOption>>,
    pub(crate) tls_stores: Vec<Arc<TLSStore>>,
    pub(crate) ingress_route_tcps: Vec<Arc<IngressRouteTCP>>,
    pub(crate) ingress_route_udps: Vec<Arc<IngressRouteUDP>>,
    pub(crate) middleware_tcps: Vec<Arc<MiddlewareTCP>>,
    pub(crate) servers_transport_tcps: Vec<Arc<ServersTransportTCP>>,
}

/// One object being translated, for reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Object<'a> {
    pub(crate) kind: &'static str,
    pub(crate) namespace: &'a str,
    pub(crate) name: &'a str,
}

impl<'a> Object<'a> {
    pub(crate) fn of<K: kube::Resource>(kind: &'static str, object: &'a K) -> Self {
        let meta = object.meta();
        Self {
            kind,
            namespace: meta.namespace.as_deref().unwrap_or_default(),
            name: meta.name.as_deref().unwrap_or_default(),
        }
    }

    /// `Kind namespace/name`, as origins read.
    pub(crate) fn origin(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// The translation under way.
pub(crate) struct Crd<'a> {
    pub(crate) view: &'a CrdView,
    pub(crate) options: &'a CrdOptions,
    pub(crate) out: Translation,
    /// Certificates by Secret, each once.
    certificates: BTreeMap<Key, CertificateAndStores>,
}

/// Translates every custom resource the provider handles.
pub(crate) fn translate(view: &CrdView, options: &CrdOptions) -> Translation {
    let mut crd = Crd {
        view,
        options,
        out: Translation::default(),
        certificates: BTreeMap::new(),
    };
    crd.tls_stores();
    crd.tls_options();
    crd.middlewares();
    crd.traefik_services();
    crd.servers_transports();
    crd.ingress_routes();
    crd.middleware_tcps();
    crd.servers_transport_tcps();
    crd.ingress_route_tcps();
    crd.ingress_route_udps();
    let certificates = std::mem::take(&mut crd.certificates);
    crd.out.snapshot.config.tls.certificates = certificates.into_values().collect();
    crd.out
}

impl Crd<'_> {
    /// Reports a problem of an object.
    pub(crate) fn problem(&mut self, object: Object<'_>, reason: TranslateError) {
        let error = ObjectError::new(object.kind, object.namespace, object.name, reason);
        self.out.problems.push(error);
    }

    /// Reads part of an object's spec, reporting the keys it does not know.
    pub(crate) fn read<T: DeserializeOwned>(
        &mut self,
        object: Object<'_>,
        value: &serde_json::Value,
        at: &str,
    ) -> Result<T, TranslateError> {
        let read = read::read(value, at)?;
        for path in read.unknown {
            self.problem(object, TranslateError::UnknownKey { path });
        }
        Ok(read.value)
    }

    /// Reads a route object's spec, or `None` when its class is not the one handled.
    pub(crate) fn handled_spec<S: DeserializeOwned + spec::Classed>(
        &mut self,
        object: Object<'_>,
        value: &serde_json::Value,
        annotations: Option<&BTreeMap<String, String>>,
    ) -> Result<Option<S>, TranslateError> {
        let spec: S = self.read(object, value, "spec")?;
        let handled = handles_class(&self.options.ingress_class, spec.ingress_class_name(), annotations);
        Ok(handled.then_some(spec))
    }

    /// Records where an element of the configuration came from.
    pub(crate) fn origin(&mut self, key: String, object: Object<'_>, at: &str) {
        let origin = if at.is_empty() {
            object.origin()
        } else {
            format!("{} {at}", object.origin())
        };
        self.out.snapshot.origins.insert(key, origin);
    }

    /// The Secrets of an object's namespace.
    pub(crate) fn secrets<'s>(&'s self, object: &Object<'s>) -> secrets::Secrets<'s> {
        secrets::Secrets {
            view: self.view,
            namespace: object.namespace,
        }
    }

    /// Adds a certificate from a Secret once, for these stores.
    pub(crate) fn certificate(&mut self, object: Object<'_>, secret: &str, stores: Vec<String>, path: &str) {
        let key = (object.namespace.to_owned(), secret.to_owned());
        if self.certificates.contains_key(&key) {
            return;
        }
        match self.secrets(&object).certificate(secret, path) {
            Ok((cert_file, key_file)) => {
                let certificate = CertificateAndStores {
                    cert_file,
                    key_file,
                    stores,
                };
                self.certificates.insert(key, certificate);
            }
            Err(problem) => self.problem(object, problem),
        }
    }
}

/// Whether an object of this class is handled, as Traefik decides: the class in the spec, else in the
/// legacy annotation, must equal `ingressClass`, or be `traefik` or absent when none is configured.
pub(crate) fn handles_class(
    configured: &str,
    class: Option<&str>,
    annotations: Option<&BTreeMap<String, String>>,
) -> bool {
    let class = class
        .or_else(|| annotations?.get(super::LEGACY_CLASS_ANNOTATION).map(String::as_str))
        .unwrap_or_default();
    class == configured || (configured.is_empty() && class == super::DEFAULT_LEGACY_CLASS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_handled_as_traefik_does() {
        assert!(handles_class("", None, None));
        assert!(handles_class("", Some("traefik"), None));
        assert!(!handles_class("", Some("nginx"), None));
        assert!(handles_class("edge", Some("edge"), None));
        assert!(!handles_class("edge", None, None));
        let annotated = BTreeMap::from([("kubernetes.io/ingress.class".to_owned(), "edge".to_owned())]);
        assert!(handles_class("edge", None, Some(&annotated)));
        assert!(!handles_class("edge", Some("other"), Some(&annotated)));
    }
}
