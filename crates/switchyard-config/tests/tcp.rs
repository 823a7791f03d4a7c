//! The `tcp` section: loading Traefik's keys, qualifying names across providers, and the report of
//! what is broken or not provided, each with its key path and file.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use switchyard_config::{
    DynamicConfig, Format, Problem, ProviderConfig, RuntimeConfig, Status, ValidationOptions, load_str,
};

fn load_yaml(text: &str) -> DynamicConfig {
    load_str::<DynamicConfig>(text, Format::Yaml, "tcp.yml")
        .expect("valid YAML")
        .value
}

fn resolve(providers: &[(&str, &str)]) -> RuntimeConfig {
    let snapshots: BTreeMap<Arc<str>, Arc<ProviderConfig>> = providers
        .iter()
        .map(|(name, yaml)| {
            let mut snapshot = ProviderConfig::from(load_yaml(yaml));
            for section in ["tcp.routers", "tcp.services", "tcp.middlewares"] {
                for key in ["r", "s", "m", "w"] {
                    snapshot.origins.insert(format!("{section}.{key}"), "tcp.yml".into());
                }
            }
            (Arc::from(*name), Arc::new(snapshot))
        })
        .collect();
    let options = ValidationOptions {
        entry_points: Some(BTreeSet::from(["web".to_owned(), "db".to_owned()])),
        ..ValidationOptions::default()
    };
    RuntimeConfig::resolve(&snapshots, &["web".to_owned()], &options)
}

#[test]
fn a_valid_section_goes_live_with_qualified_names() {
    let runtime = resolve(&[
        (
            "file",
            r#"
tcp:
  routers:
    r: {rule: "HostSNI(`db.example.com`)", service: s, middlewares: [m], tls: {passthrough: true}}
  services:
    s: {loadBalancer: {servers: [{address: "127.0.0.1:5432"}], serversTransport: t}}
    w: {weighted: {services: [{name: s, weight: 2}, {name: other@kube, weight: 1}]}}
  middlewares:
    m: {ipAllowList: {sourceRange: ["10.0.0.0/8", "127.0.0.1"]}}
  serversTransports:
    t: {dialTimeout: 2s}
"#,
        ),
        (
            "kube",
            "tcp:\n  services:\n    other: {loadBalancer: {servers: [{address: 'db:5432'}]}}\n",
        ),
    ]);
    let tcp = &runtime.config.tcp;
    let router = &tcp.routers["r@file"];
    assert_eq!(
        (router.service.as_str(), router.middlewares.as_slice()),
        ("s@file", &["m@file".to_owned()][..])
    );
    assert_eq!(router.entry_points, ["web"]);
    assert_eq!(
        tcp.services["s@file"].load_balancer.as_ref().unwrap().servers_transport,
        "t@file"
    );
    assert!(tcp.services.contains_key("w@file"));
    assert!(runtime.tcp_rules.contains_key("r@file"));
    let order = &runtime.tcp_service_order;
    let position = |name: &str| order.iter().position(|n| n == name).unwrap();
    assert!(position("s@file") < position("w@file") && position("other@kube") < position("w@file"));
    assert_eq!(
        runtime.report.errors().count(),
        0,
        "{:?}",
        runtime.report.errors().collect::<Vec<_>>()
    );
}

#[test]
fn broken_elements_are_reported_with_key_path_and_file_and_left_out() {
    let runtime = resolve(&[(
        "file",
        r#"
tcp:
  routers:
    r: {rule: "HostSNI(`db.example.com`)", service: s}
    w: {rule: "HostSNI(`*`) && Host(`x`)", service: s}
    m: {rule: "HostSNI(`*`)", service: w, middlewares: [m]}
  services:
    s: {loadBalancer: {servers: [{address: "no-port"}]}}
    w: {weighted: {services: [{name: w}]}}
  middlewares:
    m: {ipAllowList: {sourceRange: ["10.0.0.0/33"]}}
"#,
    )]);
    let report = &runtime.report.tcp;
    let first = |section: &std::collections::BTreeMap<String, switchyard_config::ElementReport>, name: &str| {
        let element = &section[name];
        assert_eq!(element.status, Status::Disabled, "{name}");
        element.errors[0].clone()
    };
    let r = first(&report.routers, "r@file");
    assert_eq!(r.key_path, "tcp.routers.r@file.rule");
    assert_eq!(r.origin.as_deref(), Some("tcp.yml"));
    assert!(r.to_string().contains("needs the router's `tls` section"), "{r}");
    let w = first(&report.routers, "w@file");
    assert!(w.to_string().contains("unknown TCP matcher `Host` at column 17"), "{w}");
    let s = first(&report.services, "s@file");
    assert_eq!(s.key_path, "tcp.services.s@file.loadBalancer.servers[0].address");
    let cycle = first(&report.services, "w@file");
    assert!(matches!(cycle.problem, Problem::Cycle(_)), "{cycle}");
    let m = first(&report.middlewares, "m@file");
    assert_eq!(m.key_path, "tcp.middlewares.m@file.ipAllowList.sourceRange[0]");
    assert_eq!(report.routers["m@file"].status, Status::Disabled);
    assert!(runtime.config.tcp.routers.is_empty());
    assert_eq!(runtime.disabled_tcp.routers.len(), 3);
}

#[test]
fn options_not_provided_are_reported_never_silently_ignored() {
    let runtime = resolve(&[(
        "file",
        r#"
tcp:
  routers:
    r:
      rule: "HostSNI(`a.example`)"
      service: s
      entryPoints: [db, nowhere]
      tls: {certResolver: le, domains: [{main: a.example}]}
  services:
    s:
      loadBalancer:
        servers: [{address: "127.0.0.1:1"}]
        healthCheck: {interval: 5s, timeout: 0s, send: PING, expect: PONG}
"#,
    )]);
    let router = &runtime.report.tcp.routers["r@file"];
    assert_eq!(router.status, Status::Warning);
    let paths: Vec<_> = router.errors.iter().map(|e| e.key_path.as_str()).collect();
    // `certResolver` and `domains` are the proxy's to check, where the static resolvers are known.
    assert_eq!(paths, ["tcp.routers.r@file.entryPoints"]);
    assert_eq!(runtime.config.tcp.routers["r@file"].entry_points, ["db"]);
    let service = &runtime.report.tcp.services["s@file"];
    assert_eq!(
        service.status,
        Status::Warning,
        "health checks run; a zero timeout takes the default"
    );
    assert_eq!(service.errors.len(), 1);
    assert_eq!(
        service.errors[0].key_path,
        "tcp.services.s@file.loadBalancer.healthCheck.timeout"
    );
    let check = runtime.config.tcp.services["s@file"]
        .load_balancer
        .as_ref()
        .unwrap()
        .health_check
        .clone()
        .unwrap();
    assert_eq!((check.send.as_str(), check.expect.as_str()), ("PING", "PONG"));
}

#[test]
fn unknown_tcp_keys_are_reported_by_the_loader() {
    let loaded = load_str::<DynamicConfig>(
        "tcp:\n  services:\n    s: {loadBalancer: {servers: [{address: 'a:1', weigth: 2}]}}\n",
        Format::Yaml,
        "tcp.yml",
    )
    .unwrap();
    assert_eq!(
        loaded.unknown_keys[0].key_path,
        "tcp.services.s.loadBalancer.servers.0.weigth"
    );
}
