//! Route matching and compiling at 1 to 10,000 routes, on a realistic mix of rules.
//!
//! Run with `cargo bench -p switchyard-benches --bench rules`.
#![allow(missing_docs, clippy::unwrap_used)]

use divan::{Bencher, black_box};
use switchyard_rules::{RequestView, Route, RouteTable, Rule};

fn main() {
    divan::main();
}

/// The i-th rule of a mix seen in real gateways: mostly host + path prefix, some header
/// conditions, some anchored and unanchored regexps, some host-less path routes.
fn rule_text(i: usize) -> String {
    match i % 20 {
        0..=13 => format!("Host(`svc{i}.example.com`) && PathPrefix(`/api/v{}`)", i % 3),
        14 | 15 => format!("Host(`svc{i}.example.com`) && PathPrefix(`/`) && Header(`X-Tenant`, `t{i}`)"),
        16 => format!(r"HostRegexp(`^[a-z0-9-]+\.tenant{i}\.example\.com$`)"),
        17 => format!(r"Host(`svc{i}.example.com`) && PathRegexp(`^/items/[0-9]+$`)"),
        18 => format!("PathPrefix(`/static{i}/`) && Method(`GET`)"),
        _ => format!("(Host(`svc{i}.example.com`) || Host(`www.svc{i}.example.com`)) && !Path(`/admin`)"),
    }
}

fn rules(n: usize) -> Vec<Rule> {
    (0..n).map(|i| Rule::parse(&rule_text(i)).unwrap()).collect()
}

fn table(n: usize) -> RouteTable<usize> {
    RouteTable::new(
        rules(n)
            .into_iter()
            .enumerate()
            .map(|(i, rule)| Route::new(format!("r{i}"), rule, i)),
    )
}

/// A request for the route in the middle of the table (a host + path-prefix route).
fn hit_request(n: usize) -> http::request::Parts {
    let i = (n / 2) / 20 * 20;
    let uri = format!("http://svc{i}.example.com/api/v{}/users/42?page=2", i % 3);
    http::Request::get(uri)
        .header("x-tenant", "t0")
        .body(())
        .unwrap()
        .into_parts()
        .0
}

fn miss_request() -> http::request::Parts {
    http::Request::get("http://unknown.example.org/nothing/here")
        .body(())
        .unwrap()
        .into_parts()
        .0
}

const SIZES: [usize; 4] = [1, 100, 1_000, 10_000];

/// Measures building the request view and routing it, through the index or the linear scan.
fn bench_routing(bencher: Bencher, table: &RouteTable<usize>, parts: &http::request::Parts, by_scan: bool) {
    bencher.bench_local(|| {
        let view = RequestView::new(black_box(parts), None).unwrap();
        let found = if by_scan {
            table.route_by_scan(&view)
        } else {
            table.route(&view)
        };
        found.map(|m| *m.value())
    });
}

#[divan::bench(args = SIZES)]
fn route_hit(bencher: Bencher, n: usize) {
    let table = table(n);
    let parts = hit_request(n);
    assert!(table.route(&RequestView::new(&parts, None).unwrap()).is_some());
    bench_routing(bencher, &table, &parts, false);
}

#[divan::bench(args = SIZES)]
fn route_miss(bencher: Bencher, n: usize) {
    let table = table(n);
    let parts = miss_request();
    bench_routing(bencher, &table, &parts, false);
}

/// The linear scan Traefik performs, for comparison.
#[divan::bench(args = [1, 100, 1_000])]
fn scan_hit(bencher: Bencher, n: usize) {
    let table = table(n);
    let parts = hit_request(n);
    bench_routing(bencher, &table, &parts, true);
}

#[divan::bench(args = [100, 10_000])]
fn compile(bencher: Bencher, n: usize) {
    let rules = rules(n);
    bencher.with_inputs(|| rules.clone()).bench_local_values(|rules| {
        RouteTable::new(
            rules
                .into_iter()
                .enumerate()
                .map(|(i, r)| Route::new(format!("r{i}"), r, i)),
        )
    });
}

#[divan::bench(args = [100, 10_000])]
fn parse_and_compile(bencher: Bencher, n: usize) {
    let texts: Vec<String> = (0..n).map(rule_text).collect();
    bencher.bench_local(|| {
        RouteTable::new(
            texts
                .iter()
                .enumerate()
                .map(|(i, t)| Route::new(format!("r{i}"), Rule::parse(t).unwrap(), i)),
        )
    });
}

/// Routes that constrain neither host nor path, only an unanchored regexp on the path: screened by
/// one `RegexSet` pass instead of evaluating each.
fn regex_only_table(n: usize) -> RouteTable<usize> {
    RouteTable::new((0..n).map(|i| {
        let rule = Rule::parse(&format!(r"PathRegexp(`\.ext{i}$`) && Method(`GET`)")).unwrap();
        Route::new(format!("r{i}"), rule, i)
    }))
}

/// A request for the route in the middle of a regexp-only table.
fn regex_only_request(n: usize) -> http::request::Parts {
    let uri = format!("http://any.example/file.ext{}", n / 2);
    http::Request::get(uri).body(()).unwrap().into_parts().0
}

#[divan::bench(args = [10, 100, 1_000])]
fn regex_only_screened(bencher: Bencher, n: usize) {
    let table = regex_only_table(n);
    let parts = regex_only_request(n);
    assert_eq!(
        table
            .route(&RequestView::new(&parts, None).unwrap())
            .map(|m| *m.value()),
        Some(n / 2)
    );
    bench_routing(bencher, &table, &parts, false);
}

#[divan::bench(args = [10, 100, 1_000])]
fn regex_only_scan(bencher: Bencher, n: usize) {
    let table = regex_only_table(n);
    let parts = regex_only_request(n);
    bench_routing(bencher, &table, &parts, true);
}
