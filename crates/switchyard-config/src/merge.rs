//! Merging every provider's latest snapshot into one configuration with qualified names.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::names::qualify;
use crate::provider::ProviderConfig;
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
    pub(crate) fn origin_of(&self, key: &str) -> (String, Option<String>) {
        self.origins.get(key).cloned().unwrap_or_default()
    }
}

/// Merges the snapshots (by provider name). Routers without entrypoints get `default_entry_points`.
pub(crate) fn merge(snapshots: &BTreeMap<Arc<str>, Arc<ProviderConfig>>, default_entry_points: &[String]) -> Merged {
    let mut merged = Merged::default();
    let mut default_options_from = Vec::new();
    let mut default_store_from = Vec::new();
    for (provider, snapshot) in snapshots {
        let provider: &str = provider;
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
        section.add(
            "http.middlewares",
            &mut out.middlewares,
            &http.middlewares,
            |middleware| {
                middleware.qualify_references(provider);
            },
        );
        section.add(
            "http.serversTransports",
            &mut out.servers_transports,
            &http.servers_transports,
            |_| {},
        );
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
        merged
            .config
            .tls
            .certificates
            .extend(tls.certificates.iter().map(|certificate| {
                let mut certificate = certificate.clone();
                for store in &mut certificate.stores {
                    if store != DEFAULT_TLS_NAME {
                        *store = qualify(store, provider);
                    }
                }
                certificate
            }));
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
