//! How long the shadowing analysis takes over 10,000 routes. Run with
//! `cargo test -p switchyard-rules --release --test shadow_scale -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use switchyard_rules::{Route, RouteTable, Rule};

fn measure(label: &str, rules: Vec<String>) -> usize {
    let table = RouteTable::new(
        rules
            .iter()
            .enumerate()
            .map(|(i, rule)| Route::new(format!("r{i}"), Rule::parse(rule).unwrap(), ())),
    );
    let start = Instant::now();
    let shadowed = table.shadowed();
    println!(
        "{label}: {} routes, {} shadowed, analysed in {:?}",
        table.len(),
        shadowed.len(),
        start.elapsed()
    );
    shadowed.len()
}

#[test]
#[ignore = "a measurement: run it in release mode"]
fn ten_thousand_routes() {
    // 1,000 hosts with 10 routers each, every tenth router (a path under a shorter, so higher-priority, prefix) shadowed.
    let typical = (0..10_000)
        .map(|i| {
            let host = format!("svc{}.example.com", i / 10);
            match i % 10 {
                0 => format!("Host(`{host}`)"),
                9 => format!("Host(`{host}`) && Path(`/api/1/x`)"),
                n => format!("Host(`{host}`) && PathPrefix(`/api/{n}`)"),
            }
        })
        .collect();
    assert_eq!(measure("1,000 hosts x 10 paths", typical), 1_000);
    // The worst case for the index: no host and no path, so every route is a candidate for every
    // later one (bounded by the comparisons per term).
    let flat = (0..10_000)
        .map(|i| format!("Header(`X-Tenant`, `{i}`) && Method(`GET`)"))
        .collect();
    assert_eq!(measure("10,000 header-only routes", flat), 0);
    // One host, 10,000 paths.
    let one_host = (0..10_000)
        .map(|i| format!("Host(`example.com`) && PathPrefix(`/{}/{i}`)", i % 100))
        .collect();
    measure("1 host x 10,000 paths", one_host);
}
