//! A route the analysis calls unreachable must never win a request: every shadowing claim is checked
//! against the real route table over a universe of requests chosen to sit on the edges of the rules
//! (trailing dots, wildcards one label deep, prefixes one byte apart, no host, no path).
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use proptest::prelude::*;
use switchyard_rules::{RequestView, Route, RouteTable, Rule};

fn matcher() -> impl Strategy<Value = String> {
    let hosts: &[&str] = &["a.com", "a.com.", "*.a.com", "x.a.com", "b.com", "*"];
    let paths: &[&str] = &["/", "/a", "/ab", "/a/", "/a/b"];
    let regexps: &[&str] = &[
        "PathRegexp(`^/a`)",
        "PathRegexp(`^/a/[a-z]+$`)",
        "PathTemplate(`/a/{x}`)",
    ];
    prop_oneof![
        4 => prop::sample::select(hosts).prop_map(|h| format!("Host(`{h}`)")),
        3 => prop::sample::select(paths).prop_map(|p| format!("Path(`{p}`)")),
        3 => prop::sample::select(paths).prop_map(|p| format!("PathPrefix(`{p}`)")),
        2 => prop::sample::select(&["GET", "POST"][..]).prop_map(|m| format!("Method(`{m}`)")),
        1 => prop::sample::select(regexps).prop_map(str::to_owned),
        1 => Just(r"HostRegexp(`^x\.a\.com\.?$`)".to_owned()),
        1 => Just("Header(`X-A`, `1`)".to_owned()),
        1 => Just("Query(`q`)".to_owned()),
        1 => Just("ClientIP(`10.0.0.0/8`)".to_owned()),
    ]
}

fn rule() -> impl Strategy<Value = String> {
    matcher().prop_recursive(3, 8, 3, |inner| {
        prop_oneof![
            3 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} && {b}")),
            2 => (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} || {b})")),
            1 => inner.clone().prop_map(|a| format!("!{a}")),
            1 => inner.prop_map(|a| format!("!({a})")),
        ]
    })
}

/// Every request of the universe, as (method, URI, `X-A` header, client).
fn universe() -> Vec<(&'static str, String, Option<&'static str>, IpAddr)> {
    let hosts = [
        "a.com",
        "A.COM:80",
        "a.com.",
        "a.com..",
        "x.a.com",
        "x.a.com.",
        "y.x.a.com",
        "b.com",
        "b.com.",
        "c.org",
    ];
    let paths = ["/", "/a", "/a/", "/ab", "/a/b", "/a/b/c", "/b", "/A", "/%61/b"];
    let mut out = Vec::new();
    for method in ["GET", "POST", "PUT"] {
        for header in [None, Some("1")] {
            for client in ["10.1.2.3", "192.0.2.1"] {
                let client: IpAddr = client.parse().unwrap();
                for query in ["", "?q"] {
                    for host in hosts {
                        for path in paths {
                            out.push((method, format!("http://{host}{path}{query}"), header, client));
                        }
                    }
                    // No host at all.
                    out.push((method, format!("/a{query}"), header, client));
                }
                // No path: a CONNECT request's target is an authority.
                out.push(("CONNECT", "a.com:443".to_owned(), header, client));
            }
        }
    }
    out
}

/// The name of the route that wins each request of the universe.
fn winners(table: &RouteTable<()>) -> Vec<Option<String>> {
    universe()
        .into_iter()
        .map(|(method, uri, header, client)| {
            let mut builder = http::Request::builder().method(method).uri(uri);
            if let Some(value) = header {
                builder = builder.header("x-a", value);
            }
            let (parts, ()) = builder.body(()).unwrap().into_parts();
            let view = RequestView::new(&parts, Some(client)).ok()?;
            table.route(&view).map(|m| m.route().name().to_owned())
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn an_unreachable_route_wins_no_request(
        rules in prop::collection::vec((rule(), 1i64..4), 2..10),
    ) {
        let table = RouteTable::new(rules.iter().enumerate().map(|(i, (rule, priority))| {
            Route::new(format!("r{i}"), Rule::parse(rule).unwrap(), ()).with_priority(*priority)
        }));
        let claims: Vec<_> = table.shadowed().into_iter().filter(|s| s.is_certain()).collect();
        if !claims.is_empty() {
            let winners = winners(&table);
            for claim in claims {
                let name = table.routes()[claim.route()].name();
                prop_assert!(
                    !winners.iter().any(|w| w.as_deref() == Some(name)),
                    "{name} ({}) was called unreachable but wins a request",
                    table.routes()[claim.route()].rule()
                );
            }
        }
    }
}

/// The property above would hold vacuously if nothing were ever found: the analysis does find the
/// shadowing it promises to, over the same vocabulary.
#[test]
fn shadowing_is_found() {
    let table = RouteTable::new([
        Route::new("host", Rule::parse("Host(`*.a.com`)").unwrap(), ()).with_priority(9),
        Route::new("path", Rule::parse("PathPrefix(`/a`) && Method(`GET`)").unwrap(), ()).with_priority(8),
        Route::new("x", Rule::parse("Host(`x.a.com`) && Query(`q`)").unwrap(), ()).with_priority(3),
        Route::new(
            "get",
            Rule::parse("PathPrefix(`/a/b`) && Method(`GET`) && !Path(`/a/b`)").unwrap(),
            (),
        )
        .with_priority(3),
        Route::new(
            "either",
            Rule::parse("Path(`/ab`) && Method(`GET`) || Host(`x.a.com`)").unwrap(),
            (),
        )
        .with_priority(2),
        Route::new("live", Rule::parse("PathPrefix(`/a`)").unwrap(), ()).with_priority(1),
    ]);
    let mut found: Vec<&str> = table
        .shadowed()
        .iter()
        .map(|s| table.routes()[s.route()].name())
        .collect();
    found.sort_unstable();
    assert_eq!(found, ["either", "get", "x"]);
    let winners = winners(&table);
    for name in ["host", "path", "live"] {
        assert!(
            winners.iter().any(|w| w.as_deref() == Some(name)),
            "{name} wins some request"
        );
    }
}
