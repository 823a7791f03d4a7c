//! The indexed route table must pick exactly the route a linear scan in match order picks.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use proptest::prelude::*;
use switchyard_rules::{RequestView, Route, RouteTable, Rule};

/// Matchers drawn from a small vocabulary so that generated rules and requests collide often.
fn matcher() -> impl Strategy<Value = String> {
    let hosts: &[&str] = &["a.com", "A.com.", "*.a.com", "*", "x.b.com", "b.com", "*.b.com."];
    let host_res: &[&str] = &[
        r"^[a-z]+\.a\.com$",
        r"a\.com",
        r"^B\.com$",
        r"(?i)^X\.B\.com$",
        r"^(x|y)\.a\.com\.?$",
    ];
    let paths: &[&str] = &["/", "/api", "/api/v1", "/apix", "/b", "/api/"];
    let path_res: &[&str] = &[r"^/api/v[12]", "/v1", "^/b$", "(?i)^/API", r"^/api/v1/\d+$", r"\.json$"];
    let templates: &[&str] = &["/api/{x}", "/b/{*rest}", "/api/v1/{id}"];
    prop_oneof![
        prop::sample::select(hosts).prop_map(|h| format!("Host(`{h}`)")),
        prop::sample::select(host_res).prop_map(|r| format!("HostRegexp(`{r}`)")),
        prop::sample::select(paths).prop_map(|p| format!("Path(`{p}`)")),
        prop::sample::select(paths).prop_map(|p| format!("PathPrefix(`{p}`)")),
        prop::sample::select(path_res).prop_map(|r| format!("PathRegexp(`{r}`)")),
        prop::sample::select(templates).prop_map(|t| format!("PathTemplate(`{t}`)")),
        prop::sample::select(&["GET", "post"][..]).prop_map(|m| format!("Method(`{m}`)")),
        Just("Header(`X-A`, `1`)".to_owned()),
        Just("HeaderRegexp(`X-A`, `^[12]$`)".to_owned()),
        Just("Query(`q`)".to_owned()),
        Just("Query(`q`, `1`)".to_owned()),
        Just("QueryRegexp(`q`, `^[0-9]$`)".to_owned()),
        Just("ClientIP(`10.0.0.0/8`)".to_owned()),
        Just("ClientIP(`::1`)".to_owned()),
    ]
}

fn rule() -> impl Strategy<Value = String> {
    matcher().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} && {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} || {b})")),
            inner.clone().prop_map(|a| format!("!{a}")),
            inner.prop_map(|a| format!("!({a})")),
        ]
    })
}

#[derive(Debug, Clone)]
struct Request {
    uri: String,
    method: &'static str,
    header: Option<&'static str>,
    client: IpAddr,
}

fn request() -> impl Strategy<Value = Request> {
    let hosts: &[&str] = &[
        "a.com",
        "A.COM:80",
        "a.com.",
        "x.a.com",
        "y.x.a.com",
        "b.com",
        "x.b.com",
        "X.B.COM.",
        "foo.org",
        "[::1]:80",
    ];
    let paths: &[&str] = &[
        "/",
        "/api",
        "/api/",
        "/api/v1",
        "/api/v1/42",
        "/apix",
        "/b",
        "/b/c/d",
        "/API/V1",
        "/%61pi/v1",
        "/x.json",
    ];
    let queries: &[&str] = &["", "?q", "?q=1", "?q=2&q=1", "?q=x"];
    (
        prop::sample::select(hosts),
        prop::sample::select(paths),
        prop::sample::select(queries),
        prop::sample::select(&["GET", "POST"][..]),
        prop::sample::select(&[None, Some("1"), Some("3")][..]),
        prop::sample::select(&["10.1.2.3", "::1", "192.168.0.1"][..]),
    )
        .prop_map(|(host, path, query, method, header, client)| Request {
            uri: format!("http://{host}{path}{query}"),
            method,
            header,
            client: client.parse().unwrap(),
        })
}

fn routes() -> impl Strategy<Value = Vec<(String, Option<i64>, u32, &'static str)>> {
    let route = (
        rule(),
        prop::option::of(prop::sample::select(&[1i64, 20, 40][..])),
        0u32..3,
        prop::sample::select(&["r1", "r2", "r3", "r4"][..]),
    );
    prop::collection::vec(route, 1..24)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn index_agrees_with_linear_scan(routes in routes(), requests in prop::collection::vec(request(), 1..16)) {
        let table = RouteTable::new(routes.iter().enumerate().map(|(i, (rule, priority, rank, name))| {
            let route = Route::new(*name, Rule::parse(rule).unwrap(), i).with_provider_rank(*rank);
            match priority {
                Some(p) => route.with_priority(*p),
                None => route,
            }
        }));
        for r in &requests {
            let mut builder = http::Request::builder().method(r.method).uri(&r.uri);
            if let Some(value) = r.header {
                builder = builder.header("x-a", value);
            }
            let (parts, _) = builder.body(()).unwrap().into_parts();
            let view = RequestView::new(&parts, Some(r.client)).unwrap();
            let indexed = table.route(&view).map(|m| *m.value());
            let scanned = table.route_by_scan(&view).map(|m| *m.value());
            prop_assert_eq!(indexed, scanned, "request {:?}", r);
        }
    }

    #[test]
    fn explanations_agree_with_routing(routes in routes(), requests in prop::collection::vec(request(), 1..8)) {
        let table = RouteTable::new(routes.iter().enumerate().map(|(i, (rule, priority, rank, name))| {
            let route = Route::new(*name, Rule::parse(rule).unwrap(), i).with_provider_rank(*rank);
            match priority {
                Some(p) => route.with_priority(*p),
                None => route,
            }
        }));
        for r in &requests {
            let mut builder = http::Request::builder().method(r.method).uri(&r.uri);
            if let Some(value) = r.header {
                builder = builder.header("x-a", value);
            }
            let (parts, _) = builder.body(()).unwrap().into_parts();
            let view = RequestView::new(&parts, Some(r.client)).unwrap();
            let explanation = table.explain(&view);
            // The winner is the route the table picks, and the first that matches.
            let winner = explanation.winner().map(|m| *m.value());
            prop_assert_eq!(winner, table.route(&view).map(|m| *m.value()));
            prop_assert_eq!(winner, explanation.matching().first().map(|m| *m.route().value()));
            // Exactly the matching routes are listed, and each part that matched holds on its own.
            let matching: Vec<usize> = explanation.matching().iter().map(|m| *m.route().value()).collect();
            let expected: Vec<usize> = table.routes().iter().filter(|rt| rt.rule().matches(&view)).map(|rt| *rt.value()).collect();
            prop_assert_eq!(matching, expected);
            for m in explanation.matching() {
                prop_assert!(!m.parts().is_empty());
                for part in m.parts() {
                    prop_assert!(part.matches(&view), "{} does not hold for {:?}", part, r);
                }
            }
        }
    }

    #[test]
    fn parser_never_panics(text in "\\PC{0,64}") {
        let _ = Rule::parse(&text);
    }

    #[test]
    fn rendering_round_trips(rule in rule()) {
        let parsed = Rule::parse(&rule).unwrap();
        let rendered = parsed.expr().to_string();
        let reparsed = Rule::parse(&rendered).unwrap();
        prop_assert_eq!(reparsed.expr().to_string(), rendered);
    }
}
