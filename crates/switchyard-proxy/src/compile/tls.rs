//! Compiling TLS on entrypoints: certificates and options (keeping certificates of the previous
//! snapshot that no longer load), and per entrypoint which options each server name gets. Routers on
//! one entrypoint that name different options for one host fall back to the default options (reported
//! as a warning), as in Traefik.

use std::collections::{HashMap, HashSet};

use switchyard_config::{Problem, Published, Router};
use switchyard_rules::Matcher;
use switchyard_tls::{DEFAULT_OPTIONS, HostMap, ServerTls, TlsError};

use super::EntryPointDefaults;
use super::findings::Findings;
use crate::snapshot::EntryPointInfo;
use crate::tls::{SniOptions, TlsState};

/// A TLS router on one entrypoint: its name, the options it asks for, and the hosts of its rule.
struct TlsRouter<'a> {
    name: &'a str,
    options: &'a str,
    hosts: Vec<String>,
}

/// Builds the TLS side of a snapshot.
pub(crate) fn build(
    published: &Published,
    entry_points: &[EntryPointInfo],
    defaults: &[EntryPointDefaults],
    previous: Option<&TlsState>,
    #[cfg(feature = "acme")] acme: Option<&switchyard_acme::CertResolvers>,
    findings: &mut Findings<'_>,
) -> TlsState {
    #[cfg(feature = "acme")]
    let issued = acme.map(|a| std::sync::Arc::clone(a.issued()));
    #[cfg(not(feature = "acme"))]
    let issued = None;
    let (server, problems) =
        ServerTls::rebuild_with_issued(&published.runtime.config.tls, previous.map(|p| &p.server), issued);
    report_tls_problems(problems, findings);
    #[cfg(not(feature = "acme"))]
    report_cert_resolvers(published, findings);
    #[cfg(feature = "acme")]
    let refused = super::acme::order_certificates(published, entry_points, defaults, acme, findings);
    let mut state = TlsState {
        server,
        sni: Vec::with_capacity(entry_points.len()),
        routers: HashMap::new(),
    };
    let mut hosts = RouterHosts::default();
    for (ep, info) in entry_points.iter().enumerate() {
        let ep_default = defaults.get(ep).and_then(|d| d.tls.as_deref());
        let on_entry_point = tls_routers(published, info, ep_default, &mut hosts, findings);
        let (map, conflicted) = choose_by_server_name(&state.server, &on_entry_point);
        for router in &on_entry_point {
            #[cfg(feature = "acme")]
            if refused.contains(router.name) {
                continue;
            }
            if let Some(id) = resolve(&state.server, router, &conflicted, &info.name, findings) {
                state.routers.insert((router.name.to_owned(), ep), id);
            }
        }
        state.sni.push(map);
    }
    state
}

/// Reports what the TLS section could not build, each problem under its key path.
fn report_tls_problems(problems: Vec<switchyard_tls::TlsFinding>, findings: &mut Findings<'_>) {
    for problem in problems {
        // The key path already names the option; its error would name it again.
        let message = match problem.error {
            TlsError::Option { reason, .. } => reason,
            other => other.to_string(),
        };
        findings.general(problem.key_path, Problem::Invalid(message));
    }
}

/// ACME is not in this build: routers asking for a certificate resolver are told so.
#[cfg(not(feature = "acme"))]
fn report_cert_resolvers(published: &Published, findings: &mut Findings<'_>) {
    let problem = || {
        Problem::Unsupported(
            "certificate resolvers (ACME) need the `acme` feature: the router is served with the certificates of tls.certificates and the default store".into(),
        )
    };
    for (name, router) in &published.runtime.config.http.routers {
        if router.tls.as_ref().is_some_and(|t| !t.cert_resolver.is_empty()) {
            findings.router(name, "tls.certResolver", problem(), false);
        }
    }
    for (name, router) in &published.runtime.config.tcp.routers {
        if router.tls.as_ref().is_some_and(|t| !t.cert_resolver.is_empty()) {
            findings.tcp_router(name, "tls.certResolver", problem(), false);
        }
    }
}

/// Each router's hosts, read from its rule once however many entrypoints it is on, and the routers
/// already warned that their options cannot be chosen by server name.
#[derive(Default)]
struct RouterHosts<'a> {
    hosts: HashMap<&'a str, Vec<String>>,
    warned: HashSet<&'a str>,
}

/// The routers served over TLS on an entrypoint, with their options and hosts.
fn tls_routers<'a>(
    published: &'a Published,
    info: &EntryPointInfo,
    ep_default: Option<&'a str>,
    known: &mut RouterHosts<'a>,
    findings: &mut Findings<'_>,
) -> Vec<TlsRouter<'a>> {
    let mut routers = Vec::new();
    for (name, router) in &published.runtime.config.http.routers {
        if !router.entry_points.iter().any(|e| e == &info.name) {
            continue;
        }
        let Some(options) = options_name(router, ep_default) else {
            continue;
        };
        let hosts = known
            .hosts
            .entry(name.as_str())
            .or_insert_with(|| published.runtime.rules.get(name).map(hosts).unwrap_or_default())
            .clone();
        if hosts.is_empty() && options != DEFAULT_OPTIONS && known.warned.insert(name.as_str()) {
            let problem = Problem::Invalid(format!(
                "no Host in the rule: TLS options `{options}` cannot be chosen by server name; the default options apply"
            ));
            findings.router(name, "tls.options", problem, false);
        }
        routers.push(TlsRouter { name, options, hosts });
    }
    routers
}

/// The options each server name gets on an entrypoint, and the routers whose hosts are wanted with
/// different options by another router (they get the default options).
fn choose_by_server_name<'a>(server: &ServerTls, routers: &[TlsRouter<'a>]) -> (HostMap<SniOptions>, HashSet<&'a str>) {
    let mut wanted: HashMap<&str, Vec<&TlsRouter<'a>>> = HashMap::new();
    for router in routers {
        for host in &router.hosts {
            wanted.entry(host.as_str()).or_default().push(router);
        }
    }
    let mut map = HostMap::default();
    let mut conflicted = HashSet::new();
    for (host, asks) in wanted {
        let first = asks[0].options;
        let choice = if asks.iter().all(|r| r.options == first) {
            server.id(first).map_or(SniOptions::Refuse, SniOptions::Use)
        } else {
            conflicted.extend(asks.iter().map(|r| r.name));
            SniOptions::Use(0)
        };
        map.insert(host, choice);
    }
    (map, conflicted)
}

/// The options id a TLS router serves with on an entrypoint; `None` (reported, the router off) when its
/// options are invalid.
fn resolve(
    server: &ServerTls,
    router: &TlsRouter<'_>,
    conflicted: &HashSet<&str>,
    entry_point: &str,
    findings: &mut Findings<'_>,
) -> Option<u32> {
    if conflicted.contains(router.name) {
        let problem = Problem::Conflict(format!(
            "other routers on entrypoint `{entry_point}` name other TLS options for the same host; the default options apply"
        ));
        findings.router(router.name, "tls.options", problem, false);
        return Some(0);
    }
    if router.hosts.is_empty() {
        return Some(0);
    }
    let id = server.id(router.options);
    if id.is_none() {
        let options = router.options;
        let problem = Problem::Invalid(format!(
            "TLS options `{options}` are invalid (see tls.options.{options}); the router is off and handshakes for its hosts are refused"
        ));
        findings.router(router.name, "tls.options", problem, true);
    }
    id
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
pub(super) fn hosts(rule: &switchyard_rules::Rule) -> Vec<String> {
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
