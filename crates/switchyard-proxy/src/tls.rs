//! TLS on entrypoints: which set of TLS options each server name gets, the handshake, and what a TLS
//! connection tells the requests on it.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::ServerConfig;
use switchyard_config::{Problem, Published, Router};
use switchyard_rules::Matcher;
use switchyard_tls::{DEFAULT_OPTIONS, HostMap, ServerTls, TlsError};

use crate::compile::{EntryPointDefaults, Findings};
use crate::snapshot::EntryPointInfo;

/// What a server name's handshake uses on one entrypoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SniOptions {
    /// The options with this id.
    Use(u32),
    /// The routers for this name name invalid options: refuse the handshake rather than fall back to
    /// weaker defaults.
    Refuse,
}

/// The compiled TLS side of a snapshot.
#[derive(Debug)]
pub(crate) struct TlsState {
    pub(crate) server: ServerTls,
    /// Per entrypoint: options by server name (from the `Host` rules of its TLS routers).
    sni: Vec<HostMap<SniOptions>>,
    /// The options id of each TLS router, per entrypoint index.
    routers: HashMap<(String, usize), u32>,
}

impl TlsState {
    /// Builds certificates and options (keeping certificates of `previous` that no longer load), and decides per entrypoint which options each server name
    /// gets. Routers on one entrypoint that name different options for one host fall back to the
    /// default options (reported as a warning), as in Traefik.
    pub(crate) fn build(
        published: &Published,
        entry_points: &[EntryPointInfo],
        defaults: &[EntryPointDefaults],
        previous: Option<&TlsState>,
        findings: &mut Findings<'_>,
    ) -> Self {
        let http = &published.runtime.config.http;
        let (server, problems) = ServerTls::rebuild(&published.runtime.config.tls, previous.map(|p| &p.server));
        for problem in problems {
            // The key path already names the option; its error would name it again.
            let message = match problem.error {
                TlsError::Option { reason, .. } => reason,
                other => other.to_string(),
            };
            findings.general(problem.key_path, Problem::Invalid(message));
        }
        for (name, router) in &http.routers {
            if router.tls.as_ref().is_some_and(|t| !t.cert_resolver.is_empty()) {
                let problem = Problem::Unsupported(
                    "certificate resolvers (ACME) are not supported: the router is served with the certificates of tls.certificates and the default store".into(),
                );
                findings.router(name, "tls.certResolver", problem, false);
            }
        }
        let mut sni = Vec::with_capacity(entry_points.len());
        let mut routers = HashMap::new();
        // Each router's hosts, read from its rule once however many entrypoints it is on.
        let mut router_hosts: HashMap<&str, Vec<String>> = HashMap::new();
        // Routers already warned that their options cannot be chosen by server name.
        let mut warned = std::collections::HashSet::new();
        for (ep, info) in entry_points.iter().enumerate() {
            let ep_default = defaults.get(ep).and_then(|d| d.tls.as_deref());
            // Host → (options name, routers asking for it).
            let mut wanted: HashMap<String, Vec<(&str, String)>> = HashMap::new();
            let mut on_entry_point = Vec::new();
            for (name, router) in &http.routers {
                if !router.entry_points.iter().any(|e| e == &info.name) {
                    continue;
                }
                let Some(options) = options_name(router, ep_default) else {
                    continue;
                };
                let hosts = router_hosts
                    .entry(name.as_str())
                    .or_insert_with(|| published.runtime.rules.get(name).map(hosts).unwrap_or_default())
                    .clone();
                if hosts.is_empty() && options != DEFAULT_OPTIONS && warned.insert(name.as_str()) {
                    let problem = Problem::Invalid(format!(
                        "no Host in the rule: TLS options `{options}` cannot be chosen by server name; the default options apply"
                    ));
                    findings.router(name, "tls.options", problem, false);
                }
                for host in &hosts {
                    wanted
                        .entry(host.clone())
                        .or_default()
                        .push((name.as_str(), options.to_owned()));
                }
                on_entry_point.push((name.as_str(), options.to_owned(), hosts));
            }
            let mut map = HostMap::default();
            let mut conflicted = std::collections::HashSet::new();
            for (host, asks) in &wanted {
                let first = &asks[0].1;
                let choice = if asks.iter().all(|(_, o)| o == first) {
                    match server.id(first) {
                        Some(id) => SniOptions::Use(id),
                        None => SniOptions::Refuse,
                    }
                } else {
                    conflicted.extend(asks.iter().map(|(r, _)| *r));
                    SniOptions::Use(0)
                };
                map.insert(host, choice);
            }
            for (name, options, hosts) in on_entry_point {
                let resolved = if conflicted.contains(name) {
                    let problem = Problem::Conflict(format!(
                        "other routers on entrypoint `{}` name other TLS options for the same host; the default options apply",
                        info.name
                    ));
                    findings.router(name, "tls.options", problem, false);
                    Some(0)
                } else if hosts.is_empty() {
                    Some(0)
                } else {
                    server.id(&options)
                };
                match resolved {
                    Some(id) => {
                        routers.insert((name.to_owned(), ep), id);
                    }
                    None => {
                        let problem = Problem::Invalid(format!(
                            "TLS options `{options}` are invalid (see tls.options.{options}); the router is off and handshakes for its hosts are refused"
                        ));
                        findings.router(name, "tls.options", problem, true);
                    }
                }
            }
            sni.push(map);
        }
        Self { server, sni, routers }
    }

    /// The options id of a TLS router on an entrypoint; `None` when it cannot serve there.
    pub(crate) fn router_options(&self, router: &str, entry_point: usize) -> Option<u32> {
        self.routers.get(&(router.to_owned(), entry_point)).copied()
    }

    /// The configuration a handshake for `server_name` uses on an entrypoint, with its options id.
    /// Without SNI, a certificate covering the local address (`local_ip`) by IP SAN answers, as in
    /// Traefik.
    pub(crate) fn for_server_name(
        &self,
        entry_point: usize,
        server_name: Option<&str>,
        local_ip: Option<std::net::IpAddr>,
    ) -> Option<(u32, Arc<ServerConfig>)> {
        let choice = server_name
            .and_then(|name| self.sni.get(entry_point)?.get(name).copied())
            .unwrap_or(SniOptions::Use(0));
        let SniOptions::Use(id) = choice else { return None };
        let config = self.server.config(id);
        let by_address = match (server_name, local_ip) {
            (None, Some(ip)) => self.server.store().find(&ip.to_string()),
            _ => None,
        };
        Some(match by_address {
            Some(key) => (id, switchyard_tls::with_certificate(config, Arc::clone(key))),
            None => (id, Arc::clone(config)),
        })
    }
}

/// The options a router asks for, when it is served over TLS: its own `tls.options`, else the
/// entrypoint's `http.tls.options`, else `default`.
fn options_name<'a>(router: &'a Router, entry_point: Option<&'a str>) -> Option<&'a str> {
    let own = router.tls.as_ref().map(|t| t.options.as_str());
    let name = match (own, entry_point) {
        (Some(own), _) if !own.is_empty() => own,
        (Some(_), _) => DEFAULT_OPTIONS,
        (None, Some(ep)) if !ep.is_empty() => ep,
        (None, Some(_)) => DEFAULT_OPTIONS,
        (None, None) => return None,
    };
    Some(name)
}

/// The host names a rule's `Host` matchers name (`*` alone names none).
fn hosts(rule: &switchyard_rules::Rule) -> Vec<String> {
    let mut hosts = Vec::new();
    rule.expr().find_matcher(&mut |m| {
        if let Matcher::Host(host) = m {
            if host != "*" && !hosts.contains(host) {
                hosts.push(host.clone());
            }
        }
        None::<()>
    });
    hosts
}
