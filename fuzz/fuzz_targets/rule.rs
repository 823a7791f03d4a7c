//! Parses arbitrary text as a rule; when it parses, routes an arbitrary request with it, through
//! both the index and the linear scan, which must agree.
#![no_main]

use std::net::IpAddr;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use switchyard_rules::{RequestView, Route, RouteTable, Rule};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    rules: Vec<&'a str>,
    method: &'a str,
    uri: &'a str,
    host_header: Option<&'a [u8]>,
    headers: Vec<(&'a str, &'a [u8])>,
    client: Option<[u8; 16]>,
    v4: bool,
}

fuzz_target!(|input: Input<'_>| {
    let parsed: Vec<Rule> = input.rules.iter().filter_map(|text| Rule::parse(text).ok()).collect();
    for rule in &parsed {
        // What renders must parse again.
        let rendered = rule.expr().to_string();
        assert!(
            Rule::parse(&rendered).is_ok(),
            "rendering of {:?} does not parse: {rendered}",
            rule.source()
        );
    }
    let mut builder = http::Request::builder().method(input.method).uri(input.uri);
    if let Some(host) = input.host_header {
        builder = builder.header(http::header::HOST, host);
    }
    for (name, value) in &input.headers {
        builder = builder.header(*name, *value);
    }
    let Ok(request) = builder.body(()) else { return };
    let (parts, _) = request.into_parts();
    let client = input.client.map(|octets| {
        if input.v4 {
            IpAddr::from([octets[0], octets[1], octets[2], octets[3]])
        } else {
            IpAddr::from(octets)
        }
    });
    let Ok(view) = RequestView::new(&parts, client) else {
        return;
    };
    let table = RouteTable::new(
        parsed
            .into_iter()
            .enumerate()
            .map(|(i, rule)| Route::new(format!("r{}", i % 3), rule, i)),
    );
    let indexed = table.route(&view).map(|m| *m.value());
    let scanned = table.route_by_scan(&view).map(|m| *m.value());
    assert_eq!(indexed, scanned);
    if let Some(m) = table.route(&view) {
        let _ = m.params();
    }
});
