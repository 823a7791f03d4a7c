//! Merging every provider's latest snapshot into one configuration with qualified names.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::names::qualify;
use crate::provider::Snapshot;
use crate::report::{ConfigError, Problem};
use crate::{DynamicConfig, Router};

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
    pub fn origin_of(&self, key: &str) -> (String, Option<String>) {
        self.origins.get(key).cloned().unwrap_or_default()
    }
}

/// Merges the snapshots (by provider name). Routers without entrypoints get `default_entry_points`.
pub(crate) fn merge(snapshots: &BTreeMap<Arc<str>, Arc<Snapshot>>, default_entry_points: &[String]) -> Merged {
    let mut merged = Merged::default();
    let mut default_options_from = Vec::new();
    let mut default_store_from = Vec::new();
    for (provider, snapshot) in snapshots {
        let provider: &str = provider;
        let origin = |section: &str, name: &str| {
            (
                provider.to_owned(),
                snapshot.origins.get(&format!("{section}.{name}")).cloned(),
            )
        };
        let http = &snapshot.config.http;
        let out = &mut merged.config.http;
        for (name, router) in &http.routers {
            let key = qualify(name, provider);
            merged
                .origins
                .insert(format!("http.routers.{key}"), origin("http.routers", name));
            out.routers
                .insert(key, qualified_router(router, provider, default_entry_points));
        }
        for (name, service) in &http.services {
            let key = qualify(name, provider);
            let mut service = service.clone();
            service.qualify_references(provider);
            merged
                .origins
                .insert(format!("http.services.{key}"), origin("http.services", name));
            out.services.insert(key, service);
        }
        for (name, middleware) in &http.middlewares {
            let key = qualify(name, provider);
            let mut middleware = middleware.clone();
            middleware.qualify_references(provider);
            merged
                .origins
                .insert(format!("http.middlewares.{key}"), origin("http.middlewares", name));
            out.middlewares.insert(key, middleware);
        }
        for (name, transport) in &http.servers_transports {
            let key = qualify(name, provider);
            merged.origins.insert(
                format!("http.serversTransports.{key}"),
                origin("http.serversTransports", name),
            );
            out.servers_transports.insert(key, transport.clone());
        }
        for (section, present) in [("tcp", &snapshot.config.tcp), ("udp", &snapshot.config.udp)] {
            if present.is_some() {
                merged.errors.push(ConfigError {
                    provider: provider.to_owned(),
                    origin: None,
                    key_path: section.to_owned(),
                    problem: Problem::Unsupported(format!(
                        "{} routing is not supported yet; this section is ignored",
                        section.to_uppercase()
                    )),
                });
            }
        }
        let tls = &snapshot.config.tls;
        merged.config.tls.certificates.extend(tls.certificates.iter().cloned());
        merge_shared_default(
            &mut merged.config.tls.options,
            &tls.options,
            provider,
            &mut default_options_from,
        );
        merge_shared_default(
            &mut merged.config.tls.stores,
            &tls.stores,
            provider,
            &mut default_store_from,
        );
    }
    if let Some(error) = default_conflict("options", &default_options_from) {
        merged.config.tls.options.remove(DEFAULT_TLS_NAME);
        merged.errors.push(error);
    }
    if let Some(error) = default_conflict("stores", &default_store_from) {
        merged.config.tls.stores.remove(DEFAULT_TLS_NAME);
        merged.errors.push(error);
    }
    merged
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

fn qualified_router(router: &Router, provider: &str, default_entry_points: &[String]) -> Router {
    let mut router = router.clone();
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
    router
}
