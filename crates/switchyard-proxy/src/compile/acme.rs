//! The resolvers' options without effect, reported with the configuration's general problems, and
//! which certificates routers need from ACME resolvers: a router's `tls.certResolver` (or its
//! entrypoint's `http.tls.certResolver`) orders its `tls.domains`, else the hosts of its `Host` rule
//! as one certificate. A router naming an unknown resolver is refused; the others serve on. A TCP
//! router that terminates TLS orders the same way, from its `tls.domains` or its `HostSNI` names;
//! naming an unknown resolver, it is reported and serves with the certificates it has.

use std::collections::{BTreeMap, HashSet};

use switchyard_acme::{CertResolvers, Domain};
use switchyard_config::{Problem, Published, TlsDomain};

use super::EntryPointDefaults;
use super::findings::Findings;
use super::tls::hosts;
use crate::snapshot::EntryPointInfo;

/// Tells the resolvers what every router needs; returns the routers refused (unknown resolver).
pub(super) fn order_certificates<'a>(
    published: &'a Published,
    entry_points: &[EntryPointInfo],
    defaults: &[EntryPointDefaults],
    acme: Option<&CertResolvers>,
    findings: &mut Findings<'_>,
) -> HashSet<&'a str> {
    for unsupported in acme.map(CertResolvers::unsupported).unwrap_or_default() {
        let problem = Problem::Unsupported(unsupported.reason.to_owned());
        findings.general(unsupported.key_path.clone(), problem);
    }
    let mut wanted: BTreeMap<String, Vec<Domain>> = BTreeMap::new();
    let mut refused = HashSet::new();
    for (name, router) in &published.runtime.config.http.routers {
        let Some((resolver, domains)) = asked(router, entry_points, defaults) else {
            continue;
        };
        if !acme.is_some_and(|a| a.contains(&resolver)) {
            let problem = Problem::Invalid(format!(
                "no certificate resolver `{resolver}` in the static certificatesResolvers; the router is off"
            ));
            findings.router(name, "tls.certResolver", problem, true);
            refused.insert(name.as_str());
            continue;
        }
        let domains = match domains {
            Some(domains) => domains,
            None => {
                let hosts = published.runtime.rules.get(name).map(hosts).unwrap_or_default();
                match hosts.split_first() {
                    Some((main, sans)) => vec![Domain::new(main, sans)],
                    None => {
                        let problem =
                            Problem::Invalid("no tls.domains and no Host in the rule: no certificate to order".into());
                        findings.router(name, "tls.certResolver", problem, false);
                        continue;
                    }
                }
            }
        };
        for refused_wildcard in want(&mut wanted, acme, &resolver, domains) {
            findings.router(name, "tls.domains", refused_wildcard, false);
        }
    }
    for (name, router) in &published.runtime.config.tcp.routers {
        let Some(tls) = router.tls.as_ref().filter(|t| !t.cert_resolver.is_empty()) else {
            continue;
        };
        let resolver = &tls.cert_resolver;
        if tls.passthrough {
            let problem = Problem::Invalid(
                "a passthrough router does not terminate TLS: its backend presents its own certificate".into(),
            );
            findings.tcp_router(name, "tls.certResolver", problem, false);
            continue;
        }
        if !acme.is_some_and(|a| a.contains(resolver)) {
            let problem = Problem::Invalid(format!(
                "no certificate resolver `{resolver}` in the static certificatesResolvers; the router serves with the certificates it has"
            ));
            findings.tcp_router(name, "tls.certResolver", problem, false);
            continue;
        }
        let domains: Vec<Domain> = if tls.domains.is_empty() {
            let rule = switchyard_rules::TcpRule::parse(&router.rule).ok();
            let names = rule.as_ref().map(|r| r.sni_domains()).unwrap_or_default();
            match names.split_first() {
                Some((main, sans)) => vec![Domain::new(main, sans)],
                None => {
                    let problem = Problem::Invalid(
                        "no tls.domains and no HostSNI name in the rule: no certificate to order".into(),
                    );
                    findings.tcp_router(name, "tls.certResolver", problem, false);
                    continue;
                }
            }
        } else {
            tls.domains.iter().map(to_domain).collect()
        };
        for refused_wildcard in want(&mut wanted, acme, resolver, domains) {
            findings.tcp_router(name, "tls.domains", refused_wildcard, false);
        }
    }
    if let Some(acme) = acme {
        acme.want(wanted);
    }
    refused
}

/// Adds `domains` to what `resolver` orders; returns the problems of the wildcards it cannot order.
fn want(
    wanted: &mut BTreeMap<String, Vec<Domain>>,
    acme: Option<&CertResolvers>,
    resolver: &str,
    domains: Vec<Domain>,
) -> Vec<Problem> {
    let wildcards = acme.is_some_and(|a| a.supports_wildcards(resolver));
    let mut refused = Vec::new();
    for domain in domains {
        if domain.has_wildcard() && !wildcards {
            refused.push(Problem::Invalid(format!(
                "`{domain}` has a wildcard, which only a dnsChallenge resolver can order; `{resolver}` does not order it"
            )));
            continue;
        }
        let list = wanted.entry(resolver.to_owned()).or_default();
        if !list.contains(&domain) {
            list.push(domain);
        }
    }
    refused
}

/// The resolver a router orders with and its `tls.domains` (`None`: from the rule).
fn asked(
    router: &switchyard_config::Router,
    entry_points: &[EntryPointInfo],
    defaults: &[EntryPointDefaults],
) -> Option<(String, Option<Vec<Domain>>)> {
    let own = router
        .tls
        .as_ref()
        .map(|t| (t.cert_resolver.clone(), t.domains.clone()));
    let from_entry_point = || {
        entry_points
            .iter()
            .zip(defaults)
            .filter(|(info, _)| router.entry_points.iter().any(|e| e == &info.name))
            .find_map(|(_, d)| d.acme.clone())
    };
    let (resolver, domains) = match own {
        Some(own) => own,
        None => from_entry_point()?,
    };
    if resolver.is_empty() {
        return None;
    }
    let domains = (!domains.is_empty()).then(|| domains.iter().map(to_domain).collect());
    Some((resolver, domains))
}

fn to_domain(domain: &TlsDomain) -> Domain {
    Domain::new(&domain.main, &domain.sans)
}
