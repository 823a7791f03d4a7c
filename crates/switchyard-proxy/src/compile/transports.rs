//! Compiling servers transports: the connection settings a service's pools use, and the TLS client
//! configuration of HTTPS servers and probes, built once per definition and kept while it does not
//! change.

use std::collections::HashMap;

use switchyard_config::{LoadBalancer as LoadBalancerConfig, Problem, Published, ServersTransport};

use super::findings::Findings;
use crate::upstream::{ClientTls, TlsFailure, TransportSettings};

/// The transports of the gateway: the static defaults, and the TLS client configurations built so far.
#[derive(Debug)]
pub(crate) struct Transports {
    /// The static `serversTransport`'s connection settings, for services that name no transport.
    default_settings: TransportSettings,
    /// The static `serversTransport`, whose TLS options serve services that name no transport.
    default_definition: ServersTransport,
    /// TLS client configurations by transport name (`""` for the default), with their definitions.
    client_tls: HashMap<String, CompiledTls>,
}

/// A transport's TLS client configuration, or why it has none.
#[derive(Debug, Clone)]
struct CompiledTls {
    definition: ServersTransport,
    built: Result<ClientTls, TlsFailure>,
}

/// One compilation's view of the transports: what it built, to keep for the next one.
#[derive(Debug, Default)]
pub(crate) struct TransportRound {
    client_tls: HashMap<String, CompiledTls>,
}

impl Transports {
    pub(crate) fn new(default_settings: TransportSettings, default_definition: ServersTransport) -> Self {
        Self {
            default_settings,
            default_definition,
            client_tls: HashMap::new(),
        }
    }

    /// The connection settings of the transport `name` (the static default when empty or unknown).
    pub(crate) fn settings(&self, published: &Published, name: &str) -> TransportSettings {
        match published.runtime.config.http.servers_transports.get(name) {
            Some(transport) if !name.is_empty() => TransportSettings::from_config(transport),
            _ => self.default_settings.clone(),
        }
    }

    /// The TLS client configuration of the transport `name`, built once per compilation and kept
    /// across compilations while its definition does not change; a transport that cannot be built is
    /// reported once, under its own key path.
    pub(crate) fn client_tls(
        &self,
        published: &Published,
        name: &str,
        round: &mut TransportRound,
        findings: &mut Findings<'_>,
    ) -> Result<ClientTls, TlsFailure> {
        if let Some(compiled) = round.client_tls.get(name) {
            return compiled.built.clone();
        }
        let definition = match published.runtime.config.http.servers_transports.get(name) {
            Some(transport) if !name.is_empty() => transport,
            _ => &self.default_definition,
        };
        let compiled = match self.client_tls.get(name).filter(|c| c.definition == *definition) {
            Some(previous) => previous.clone(),
            None => CompiledTls {
                definition: definition.clone(),
                built: ClientTls::from_config(definition),
            },
        };
        if let Err(failure) = &compiled.built {
            if !matches!(failure.problem, Problem::Unsupported(_)) {
                findings.transport(name, failure);
            }
        }
        round.client_tls.insert(name.to_owned(), compiled.clone());
        compiled.built
    }

    /// Checks the transports no HTTPS server uses yet too, so that a mistake shows before it matters,
    /// and keeps this round's configurations for the next compilation.
    pub(crate) fn finish(&mut self, published: &Published, mut round: TransportRound, findings: &mut Findings<'_>) {
        if cfg!(feature = "tls") {
            for name in published.runtime.config.http.servers_transports.keys() {
                let _unused = self.client_tls(published, name, &mut round, findings);
            }
        }
        self.client_tls = round.client_tls;
    }
}

/// Where a load balancer needs TLS, as the key path to blame when it cannot have it: its first HTTPS
/// server, or its health check's `scheme: https`.
pub(crate) fn needs_tls(definition: &LoadBalancerConfig) -> Option<String> {
    let https = |url: &str| {
        url.get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    };
    if let Some(index) = definition.servers.iter().position(|s| https(&s.url)) {
        return Some(format!("loadBalancer.servers[{index}].url"));
    }
    definition
        .health_check
        .as_ref()
        .filter(|check| check.scheme.eq_ignore_ascii_case("https"))
        .map(|_| "loadBalancer.healthCheck.scheme".to_owned())
}

/// How a service is told that its transport cannot carry HTTPS: without the `tls` feature, at the HTTPS
/// server; otherwise at its `serversTransport`, naming the transport's fault.
pub(crate) fn transport_problem(transport: &str, field: String, failure: TlsFailure) -> (String, Problem) {
    if let Problem::Unsupported(_) = failure.problem {
        return (field, failure.problem);
    }
    let which = if transport.is_empty() {
        "the default serversTransport (static configuration)".to_owned()
    } else {
        format!("serversTransport `{transport}`")
    };
    let option = if failure.option.is_empty() {
        String::new()
    } else {
        format!("{}: ", failure.option)
    };
    let problem = Problem::Invalid(format!("{which} has invalid TLS settings: {option}{}", failure.problem));
    ("loadBalancer.serversTransport".to_owned(), problem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_config::ServerHealthCheck;

    #[test]
    fn tls_is_needed_by_https_servers_and_https_probes() {
        let mut lb = LoadBalancerConfig::with_urls(["http://a:1", "HTTPS://b:2"]);
        assert_eq!(needs_tls(&lb).as_deref(), Some("loadBalancer.servers[1].url"));
        lb = LoadBalancerConfig::with_urls(["http://a:1"]);
        assert_eq!(needs_tls(&lb), None);
        lb.health_check = Some(ServerHealthCheck {
            scheme: "https".into(),
            ..ServerHealthCheck::default()
        });
        assert_eq!(needs_tls(&lb).as_deref(), Some("loadBalancer.healthCheck.scheme"));
    }

    #[test]
    fn transport_problems_name_the_transport_and_option() {
        let failure = |option: &str| TlsFailure {
            option: option.into(),
            problem: Problem::Invalid("`X` is not a cipher suite".into()),
        };
        let (field, problem) = transport_problem(
            "t@file",
            "loadBalancer.servers[0].url".into(),
            failure("cipherSuites[0]"),
        );
        assert_eq!(field, "loadBalancer.serversTransport");
        assert_eq!(
            problem.to_string(),
            "serversTransport `t@file` has invalid TLS settings: cipherSuites[0]: `X` is not a cipher suite"
        );
        let (_, problem) = transport_problem("", String::new(), failure(""));
        assert!(
            problem
                .to_string()
                .starts_with("the default serversTransport (static configuration)")
        );
        let unsupported = TlsFailure {
            option: String::new(),
            problem: Problem::Unsupported("no tls".into()),
        };
        let (field, _) = transport_problem("t", "loadBalancer.servers[0].url".into(), unsupported);
        assert_eq!(field, "loadBalancer.servers[0].url");
    }

    #[test]
    fn transports_unnamed_or_unknown_use_the_static_defaults() {
        let defaults = TransportSettings::from_config(&ServersTransport::default());
        let transports = Transports::new(defaults.clone(), ServersTransport::default());
        let published = Published::default();
        assert_eq!(transports.settings(&published, ""), defaults);
        assert_eq!(transports.settings(&published, "missing@file"), defaults);
    }
}
