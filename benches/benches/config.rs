//! The control plane's cost on a reload: reading a dynamic configuration file, and merging and checking
//! it (qualifying names, resolving references, parsing every rule). Traefik's reload cost grows with the
//! configuration too; these figures say what a switchyard reload costs at each size.
//!
//! Run with `cargo bench -p switchyard-benches --bench config`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use switchyard_config::{DynamicConfig, Format, ProviderConfig, RuntimeConfig, ValidationOptions, load_str};

fn main() {
    divan::main();
}

const SIZES: &[usize] = &[100, 1_000, 10_000];

/// A YAML file with `n` routers (host + prefix rules, a middleware on every tenth), `n` services and a
/// few middlewares: the shape of a large file-provider configuration.
fn yaml(n: usize) -> String {
    let mut out = String::from("http:\n  routers:\n");
    for i in 0..n {
        let _ = writeln!(
            out,
            "    r{i}:\n      rule: Host(`app{}.example.com`) && PathPrefix(`/api/v{}`)\n      service: s{i}",
            i % 500,
            i / 500
        );
        if i % 10 == 0 {
            out.push_str("      middlewares: [strip, auth]\n");
        }
    }
    out.push_str("  services:\n");
    for i in 0..n {
        let _ = writeln!(
            out,
            "    s{i}:\n      loadBalancer:\n        servers:\n          - url: http://10.{}.{}.1:8080",
            i / 250 % 250,
            i % 250
        );
    }
    out.push_str("  middlewares:\n    strip:\n      stripPrefix:\n        prefixes: [/api]\n");
    out.push_str("    auth:\n      basicAuth:\n        users: ['user:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/']\n");
    out
}

#[divan::bench(args = SIZES)]
fn load_yaml(bencher: divan::Bencher, n: usize) {
    let text = yaml(n);
    bencher.bench(|| load_str::<DynamicConfig>(divan::black_box(&text), Format::Yaml, "bench.yml").map(|l| l.value));
}

#[divan::bench(args = SIZES)]
fn merge_and_check(bencher: divan::Bencher, n: usize) {
    let config = load_str::<DynamicConfig>(&yaml(n), Format::Yaml, "bench.yml").map(|l| l.value);
    let Ok(config) = config else {
        panic!("the generated configuration loads");
    };
    let snapshots = BTreeMap::from([(Arc::from("file"), Arc::new(ProviderConfig::from(config)))]);
    let options = ValidationOptions::default();
    bencher.bench(|| {
        let runtime = RuntimeConfig::resolve(divan::black_box(&snapshots), &[], &options);
        assert_eq!(runtime.rules.len(), n);
        runtime
    });
}
