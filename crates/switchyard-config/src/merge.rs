//! Merging every provider's latest snapshot into one configuration with qualified names.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::names::qualify;
use crate::provider::ProviderConfig;
use crate::report::{ConfigError, Problem};
use crate::{CertificateAndStores, DynamicConfig, Router, TlsConfig};

/// The name of the TLS options and store that every provider shares rather than qualifies.
pub const DEFAULT_TLS_NAME: &str = "default";

/// The merged configuration, with where each element came from.
#[derive(Debug, Default)]
pub(crate) struct Merged {
    pub config: DynamicConfig,
    /// Qualified key path (`http.routers.api@file`) → (provider, file or other origin within it).
    pub origins: BTreeMap<String, (String, Option<String>)>,
    /// Problems of the merge itself (the default TLS options defined twice, unsupported sections).
    pub errors: Vec<ConfigError>,
}

impl Merged {
    pub(crate) fn origin_of(&self, key: &str) -> (String, Option<String>) {
        self.origins.get(key).cloned().unwrap_or_default()
    }
}

/// Merges the snapshots (by provider name). Routers without entrypoints get `default_entry_points`.
pub(crate) fn merge(snapshots: &BTreeMap<Arc<str>, Arc<ProviderConfig>>, default_entry_points: &[String]) -> Merged {
    let mut merged = Merged::default();
    let mut shared = SharedDefaults::default();
    for (provider, snapshot) in snapshots {
        let provider: &str = provider;
        merge_http(&mut merged, provider, snapshot, default_entry_points);
        merge_tcp(&mut merged, provider, snapshot, default_entry_points);
        merge_udp(&mut merged, provider, snapshot);
        shared.merge_tls(&mut merged.config.tls, &snapshot.config.tls, provider);
    }
    shared.drop_conflicts(&mut merged.config.tls, &mut merged.errors);
    merged
}

/// Adds a provider's `http` elements under qualified names, with the names they refer to qualified.
fn merge_http(merged: &mut Merged, provider: &str, snapshot: &ProviderConfig, default_entry_points: &[String]) {
    let http = &snapshot.config.http;
    let out = &mut merged.config.http;
    let mut section = Section {
        provider,
        origins: &snapshot.origins,
        merged_origins: &mut merged.origins,
    };
    section.add("http.routers", &mut out.routers, &http.routers, |router| {
        qualify_router(router, provider, default_entry_points);
    });
    section.add("http.services", &mut out.services, &http.services, |service| {
        service.qualify_references(provider);
    });
    section.add("http.middlewares", &mut out.middlewares, &http.middlewares, |m| {
        m.qualify_references(provider);
    });
    section.add(
        "http.serversTransports",
        &mut out.servers_transports,
        &http.servers_transports,
        |_| {},
    );
}

/// Adds a provider's `tcp` elements under qualified names, with the names they refer to qualified.
fn merge_tcp(merged: &mut Merged, provider: &str, snapshot: &ProviderConfig, default_entry_points: &[String]) {
    let tcp = &snapshot.config.tcp;
    let out = &mut merged.config.tcp;
    let mut section = Section {
        provider,
        origins: &snapshot.origins,
        merged_origins: &mut merged.origins,
    };
    section.add("tcp.routers", &mut out.routers, &tcp.routers, |router| {
        router.qualify_references(provider, default_entry_points);
    });
    section.add("tcp.services", &mut out.services, &tcp.services, |service| {
        service.qualify_references(provider);
    });
    section.add("tcp.middlewares", &mut out.middlewares, &tcp.middlewares, |_| {});
    section.add(
        "tcp.serversTransports",
        &mut out.servers_transports,
        &tcp.servers_transports,
        |_| {},
    );
}

/// Adds a provider's `udp` elements under qualified names, with the names they refer to qualified.
/// Routers without entrypoints keep none: they serve every UDP entrypoint.
fn merge_udp(merged: &mut Merged, provider: &str, snapshot: &ProviderConfig) {
    let udp = &snapshot.config.udp;
    let out = &mut merged.config.udp;
    let mut section = Section {
        provider,
        origins: &snapshot.origins,
        merged_origins: &mut merged.origins,
    };
    section.add("udp.routers", &mut out.routers, &udp.routers, |router| {
        router.qualify_references(provider);
    });
    section.add("udp.services", &mut out.services, &udp.services, |service| {
        service.qualify_references(provider);
    });
}

/// Who defined the `default` TLS options and store, which every provider shares: when several
/// providers define one, none is used.
#[derive(Default)]
struct SharedDefaults {
    options_from: Vec<String>,
    store_from: Vec<String>,
}

impl SharedDefaults {
    /// Adds a provider's certificates, TLS options and stores.
    fn merge_tls(&mut self, into: &mut TlsConfig, from: &TlsConfig, provider: &str) {
        let certificates = from.certificates.iter().map(|c| qualify_certificate(c, provider));
        into.certificates.extend(certificates);
        merge_shared_default(&mut into.options, &from.options, provider, &mut self.options_from);
        merge_shared_default(&mut into.stores, &from.stores, provider, &mut self.store_from);
    }

    /// Drops, and reports, each default that several providers defined.
    fn drop_conflicts(&self, tls: &mut TlsConfig, errors: &mut Vec<ConfigError>) {
        drop_conflicting_default(&mut tls.options, "options", &self.options_from, errors);
        drop_conflicting_default(&mut tls.stores, "stores", &self.store_from, errors);
    }
}

/// A provider's certificate, with the stores it names qualified (except `default`, which is shared).
fn qualify_certificate(certificate: &CertificateAndStores, provider: &str) -> CertificateAndStores {
    let mut certificate = certificate.clone();
    for store in &mut certificate.stores {
        if store != DEFAULT_TLS_NAME {
            *store = qualify(store, provider);
        }
    }
    certificate
}

/// Drops the `default` TLS options or store when several providers define it, and reports why.
fn drop_conflicting_default<T>(
    into: &mut BTreeMap<String, T>,
    what: &str,
    providers: &[String],
    errors: &mut Vec<ConfigError>,
) {
    if let Some(error) = default_conflict(what, providers) {
        into.remove(DEFAULT_TLS_NAME);
        errors.push(error);
    }
}

/// Adds a provider's TLS options or stores: names are qualified, except `default`, which every provider
/// shares; who defined `default` is recorded to detect conflicts.
fn merge_shared_default<T: Clone>(
    into: &mut BTreeMap<String, T>,
    from: &BTreeMap<String, T>,
    provider: &str,
    default_from: &mut Vec<String>,
) {
    for (name, value) in from {
        let key = if name == DEFAULT_TLS_NAME {
            default_from.push(provider.to_owned());
            name.clone()
        } else {
            qualify(name, provider)
        };
        into.insert(key, value.clone());
    }
}

/// The error for a `default` TLS options set or store defined by several providers: then none is used,
/// as in Traefik.
fn default_conflict(what: &str, providers: &[String]) -> Option<ConfigError> {
    (providers.len() > 1).then(|| ConfigError {
        provider: providers.join(", "),
        origin: None,
        key_path: format!("tls.{what}.{DEFAULT_TLS_NAME}"),
        problem: Problem::Conflict(format!(
            "the default TLS {what} are defined by several providers ({}); none of them is used",
            providers.join(", ")
        )),
    })
}

/// One provider's elements of one section, added to the merged configuration.
struct Section<'a> {
    provider: &'a str,
    /// The provider's own record of where its elements came from, by local key path.
    origins: &'a BTreeMap<String, String>,
    merged_origins: &'a mut BTreeMap<String, (String, Option<String>)>,
}

impl Section<'_> {
    /// Adds the elements of `from` to `into` under qualified names, after `qualify_references` made the
    /// names they refer to qualified too, and records where each came from.
    fn add<T: Clone>(
        &mut self,
        section: &str,
        into: &mut BTreeMap<String, T>,
        from: &BTreeMap<String, T>,
        qualify_references: impl Fn(&mut T),
    ) {
        for (name, element) in from {
            let key = qualify(name, self.provider);
            let origin = self.origins.get(&format!("{section}.{name}")).cloned();
            self.merged_origins
                .insert(format!("{section}.{key}"), (self.provider.to_owned(), origin));
            let mut element = element.clone();
            qualify_references(&mut element);
            into.insert(key, element);
        }
    }
}

/// Qualifies a router's references and gives it the default entrypoints when it names none.
fn qualify_router(router: &mut Router, provider: &str, default_entry_points: &[String]) {
    if !router.service.is_empty() {
        router.service = qualify(&router.service, provider);
    }
    for middleware in &mut router.middlewares {
        *middleware = qualify(middleware, provider);
    }
    if let Some(tls) = &mut router.tls {
        if !tls.options.is_empty() && tls.options != DEFAULT_TLS_NAME {
            tls.options = qualify(&tls.options, provider);
        }
    }
    if router.entry_points.is_empty() {
        router.entry_points = default_entry_points.to_vec();
    }
}
