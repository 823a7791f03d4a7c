//! A Gateway's listeners: which entrypoints they map to, whether they can serve, which routes they
//! accept, and their status.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::{Value, json};

use super::conditions::Condition;
use super::spec::{AllowedRoutes, Listener};
use super::{GROUP, GatewayTranslation, ROUTE_KINDS};

/// Which namespaces' routes a listener accepts.
#[derive(Debug, Clone)]
pub(crate) enum From {
    Same,
    All,
    Selector(LabelSelector),
}

/// A listener as translation found it.
#[derive(Debug, Clone)]
pub(crate) struct ListenerState {
    pub(crate) name: String,
    pub(crate) port: i32,
    pub(crate) hostname: Option<String>,
    /// The entrypoints whose port is the listener's.
    pub(crate) entry_points: Vec<String>,
    pub(crate) https: bool,
    /// Accepted, references resolved and not conflicted: routes attached to it are served.
    pub(crate) ready: bool,
    pub(crate) from: From,
    /// The route kinds it allows.
    pub(crate) kinds: Vec<String>,
    pub(crate) supported_kinds: Vec<Value>,
    pub(crate) conditions: Vec<Condition>,
    pub(crate) attached: u32,
    /// `namespace/name` of the certificate Secrets it terminates TLS with.
    pub(crate) certificates: Vec<(String, String)>,
}

impl ListenerState {
    /// The listener's entry in `status.listeners`.
    pub(crate) fn status(&self, generation: i64, previous: &Value) -> Value {
        let previous = previous
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["name"] == self.name.as_str())
            .map(|l| l["conditions"].clone())
            .unwrap_or(Value::Null);
        json!({
            "name": self.name,
            "supportedKinds": self.supported_kinds,
            "attachedRoutes": self.attached,
            "conditions": super::conditions::render(&self.conditions, generation, &previous),
        })
    }

    /// Whether a route of `kind` in `namespace` (whose labels are `labels`) may attach, for a Gateway
    /// in `gateway_namespace`.
    pub(crate) fn admits(
        &self,
        kind: &str,
        namespace: &str,
        gateway_namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> bool {
        self.kinds.iter().any(|k| k == kind)
            && match &self.from {
                From::Same => namespace == gateway_namespace,
                From::All => true,
                From::Selector(selector) => selects(selector, labels),
            }
    }
}

/// Whether a label selector selects these labels.
fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let equal = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    equal && expressions
}

impl GatewayTranslation<'_> {
    /// The state of each listener of a Gateway in `namespace`.
    pub(crate) fn listeners(&mut self, namespace: &str, listeners: &[Listener]) -> Vec<ListenerState> {
        let mut states: Vec<ListenerState> = listeners.iter().map(|l| self.listener(namespace, l)).collect();
        mark_conflicts(listeners, &mut states);
        for state in &mut states {
            let programmed = state.ready;
            state.conditions.push(if programmed {
                Condition::holds("Programmed")
            } else {
                Condition::new("Programmed", false, "Invalid", "the listener is not valid")
            });
        }
        states
    }

    fn listener(&mut self, namespace: &str, listener: &Listener) -> ListenerState {
        let entry_points: Vec<String> = self
            .options
            .entry_points
            .iter()
            .filter(|(_, port)| i32::from(*port) == listener.port)
            .map(|(name, _)| name.clone())
            .collect();
        let https = listener.protocol == "HTTPS";
        let mut state = ListenerState {
            name: listener.name.clone(),
            port: listener.port,
            hostname: listener.hostname.clone().filter(|h| !h.is_empty()),
            entry_points,
            https,
            ready: false,
            from: From::Same,
            kinds: Vec::new(),
            supported_kinds: Vec::new(),
            conditions: Vec::new(),
            attached: 0,
            certificates: Vec::new(),
        };
        let accepted = self.accepted(listener, &state);
        let (kinds_ok, kinds) = kinds(listener.allowed_routes.as_ref());
        state.kinds = kinds
            .iter()
            .filter_map(|k| k["kind"].as_str().map(str::to_owned))
            .collect();
        state.supported_kinds = kinds;
        state.from = from(listener.allowed_routes.as_ref());
        let resolved = if !kinds_ok {
            Condition::new(
                "ResolvedRefs",
                false,
                "InvalidRouteKinds",
                "allowedRoutes.kinds names a kind other than HTTPRoute and GRPCRoute",
            )
        } else if https {
            self.certificates(namespace, listener, &mut state)
        } else {
            Condition::holds("ResolvedRefs")
        };
        state.ready = accepted.status && resolved.status;
        state.conditions.push(accepted);
        state.conditions.push(resolved);
        state
    }

    /// `Accepted`: a supported protocol on a port some entrypoint listens on.
    fn accepted(&self, listener: &Listener, state: &ListenerState) -> Condition {
        if !matches!(listener.protocol.as_str(), "HTTP" | "HTTPS") {
            let message = format!("protocol {} is not supported (HTTP, HTTPS)", listener.protocol);
            return Condition::new("Accepted", false, "UnsupportedProtocol", message);
        }
        if listener.protocol == "HTTPS" {
            let mode = listener
                .tls
                .as_ref()
                .and_then(|t| t.mode.as_deref())
                .unwrap_or("Terminate");
            if mode != "Terminate" {
                let message = format!("TLS mode {mode} is not supported on HTTPS listeners");
                return Condition::new("Accepted", false, "UnsupportedValue", message);
            }
        }
        if state.entry_points.is_empty() {
            let message = format!("no entrypoint listens on port {}", listener.port);
            return Condition::new("Accepted", false, "PortUnavailable", message);
        }
        Condition::holds("Accepted")
    }

    /// `ResolvedRefs` of an HTTPS listener: every certificate reference is a Secret this Gateway may
    /// read, holding a certificate and its key; the certificates are added.
    fn certificates(&mut self, namespace: &str, listener: &Listener, state: &mut ListenerState) -> Condition {
        let refs = listener
            .tls
            .as_ref()
            .map(|t| t.certificate_refs.as_slice())
            .unwrap_or_default();
        if refs.is_empty() {
            return Condition::new("ResolvedRefs", false, "InvalidCertificateRef", "no certificateRefs");
        }
        for reference in refs {
            let group = reference.group.as_deref().unwrap_or("");
            let kind = reference.kind.as_deref().unwrap_or("Secret");
            if !group.is_empty() || kind != "Secret" {
                let message = format!("certificateRef {group}/{kind} {} is not a Secret", reference.name);
                return Condition::new("ResolvedRefs", false, "InvalidCertificateRef", message);
            }
            let secret_namespace = reference.namespace.as_deref().unwrap_or(namespace);
            if secret_namespace != namespace
                && !self.grants.permits(
                    ("Gateway", namespace),
                    ("", "Secret", secret_namespace, &reference.name),
                )
            {
                let message = format!(
                    "no ReferenceGrant in {secret_namespace} lets Gateways of {namespace} use Secret {}",
                    reference.name
                );
                return Condition::new("ResolvedRefs", false, "RefNotPermitted", message);
            }
            let key = (secret_namespace.to_owned(), reference.name.clone());
            let secret = self.view.core.secrets.get(&key).map(AsRef::as_ref);
            match crate::translate::tls::certificate(&reference.name, secret) {
                Ok(certificate) => {
                    self.certificates.insert(key.clone(), certificate);
                    state.certificates.push(key);
                }
                Err(problem) => {
                    return Condition::new("ResolvedRefs", false, "InvalidCertificateRef", problem.to_string());
                }
            }
        }
        Condition::holds("ResolvedRefs")
    }
}

/// The kinds a listener allows (HTTPRoute and GRPCRoute when none are given) as `supportedKinds`,
/// and whether every kind given is supported.
fn kinds(allowed: Option<&AllowedRoutes>) -> (bool, Vec<Value>) {
    let listed = |kinds: &[&str]| -> Vec<Value> { kinds.iter().map(|k| json!({"group": GROUP, "kind": k})).collect() };
    let Some(kinds) = allowed.and_then(|a| a.kinds.as_ref()).filter(|k| !k.is_empty()) else {
        return (true, listed(&ROUTE_KINDS));
    };
    let supported = |k: &&super::spec::RouteGroupKind| {
        ROUTE_KINDS.contains(&k.kind.as_str()) && k.group.as_deref().unwrap_or(GROUP) == GROUP
    };
    let all = kinds.iter().all(|k| supported(&k));
    let mut names: Vec<&str> = kinds.iter().filter(supported).map(|k| k.kind.as_str()).collect();
    names.dedup();
    (all, listed(&names))
}

fn from(allowed: Option<&AllowedRoutes>) -> From {
    let namespaces = allowed.and_then(|a| a.namespaces.as_ref());
    match namespaces.and_then(|n| n.from.as_deref()) {
        Some("All") => From::All,
        Some("Selector") => From::Selector(namespaces.and_then(|n| n.selector.clone()).unwrap_or_default()),
        _ => From::Same,
    }
}

/// Listeners on one port with the same hostname conflict (`HostnameConflict`), as do HTTP and HTTPS
/// listeners on one port (`ProtocolConflict`): none of them is served.
fn mark_conflicts(listeners: &[Listener], states: &mut [ListenerState]) {
    for i in 0..listeners.len() {
        let reason = listeners.iter().enumerate().find_map(|(j, other)| {
            let mine = &listeners[i];
            if i == j || other.port != mine.port {
                return None;
            }
            if other.protocol != mine.protocol {
                Some("ProtocolConflict")
            } else if other.hostname.as_deref().unwrap_or("") == mine.hostname.as_deref().unwrap_or("") {
                Some("HostnameConflict")
            } else {
                None
            }
        });
        let state = &mut states[i];
        match reason {
            Some(reason) => {
                state.ready = false;
                let message = "another listener on this port conflicts with this one";
                state
                    .conditions
                    .push(Condition::new("Conflicted", true, reason, message));
            }
            None => state
                .conditions
                .push(Condition::new("Conflicted", false, "NoConflicts", "")),
        }
    }
}
