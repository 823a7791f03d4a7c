//! Which route wins when several match: priority, provider rank, name, then input order.
#![allow(clippy::unwrap_used)]

use switchyard_rules::{RequestView, Route, RouteTable, Rule};

fn winner(table: &RouteTable<&'static str>, uri: &str) -> Option<&'static str> {
    let (parts, _) = http::Request::get(uri).body(()).unwrap().into_parts();
    let view = RequestView::new(&parts, None).unwrap();
    let indexed = table.route(&view).map(|m| *m.value());
    assert_eq!(
        indexed,
        table.route_by_scan(&view).map(|m| *m.value()),
        "index and scan disagree on {uri}"
    );
    indexed
}

fn route(name: &str, rule: &str, value: &'static str) -> Route<&'static str> {
    Route::new(name, Rule::parse(rule).unwrap(), value)
}

#[test]
fn longer_rule_wins_by_default() {
    let table = RouteTable::new([
        route("short", "PathPrefix(`/`)", "short"),
        route("long", "PathPrefix(`/api`)", "long"),
        route("host", "Host(`example.com`) && PathPrefix(`/`)", "host"),
    ]);
    assert_eq!(winner(&table, "http://example.com/api"), Some("host"));
    assert_eq!(winner(&table, "http://other.com/api"), Some("long"));
    assert_eq!(winner(&table, "http://other.com/"), Some("short"));
}

#[test]
fn explicit_priority_overrides_length() {
    let table = RouteTable::new([
        route("catch-all", "PathPrefix(`/`)", "catch-all").with_priority(1000),
        route("api", "Host(`example.com`) && PathPrefix(`/api`)", "api"),
    ]);
    assert_eq!(winner(&table, "http://example.com/api"), Some("catch-all"));
    let table = RouteTable::new([
        route("low", "PathPrefix(`/api`)", "low").with_priority(-5),
        route("zero", "PathPrefix(`/`)", "zero").with_priority(0),
    ]);
    assert_eq!(winner(&table, "http://example.com/api"), Some("zero"));
}

#[test]
fn ties_break_by_provider_rank_then_name_then_input_order() {
    let table = RouteTable::new([
        route("b", "Path(`/x`)", "b@rank1").with_provider_rank(1),
        route("z", "Path(`/x`)", "z@rank0").with_provider_rank(0),
        route("a", "Path(`/x`)", "a@rank1").with_provider_rank(1),
    ]);
    assert_eq!(winner(&table, "http://h/x"), Some("z@rank0"));
    let names: Vec<_> = table.routes().iter().map(|r| r.name()).collect();
    assert_eq!(names, ["z", "a", "b"]);

    let table = RouteTable::new([
        route("b", "Path(`/x`)", "b"),
        route("a", "Path(`/y`) || Path(`/x`)", "a").with_priority(10),
        route("a", "Path(`/x`)", "a-second").with_priority(10),
    ]);
    assert_eq!(winner(&table, "http://h/x"), Some("a"));
}

#[test]
fn order_does_not_depend_on_input_order() {
    let mut routes = vec![
        route("api@file", "Host(`h`) && PathPrefix(`/api`)", "api@file"),
        route("api@k8s", "Host(`h`) && PathPrefix(`/api`)", "api@k8s").with_provider_rank(1),
        route("web", "Host(`h`)", "web"),
        route("all", "PathPrefix(`/`)", "all"),
    ];
    let expected = winner(&RouteTable::new(routes.clone()), "http://h/api/x");
    assert_eq!(expected, Some("api@file"));
    for _ in 0..routes.len() {
        routes.rotate_left(1);
        assert_eq!(winner(&RouteTable::new(routes.clone()), "http://h/api/x"), expected);
    }
}

#[test]
fn unindexed_routes_are_counted() {
    let table = RouteTable::new([
        route("a", "Host(`a`)", "a"),
        route("b", "Method(`GET`)", "b"),
        route("c", "!Host(`a`)", "c"),
        route("d", "PathRegexp(`\\.php$`)", "d"),
        route("e", "PathRegexp(`^/php`)", "e"),
    ]);
    assert_eq!(table.unindexed_len(), 2);
    assert_eq!(table.regex_screened_len(), 1);
    assert_eq!(winner(&table, "http://a/x.php"), Some("d"));
    assert_eq!(winner(&table, "http://b/php"), Some("e"));
}

#[test]
fn empty_table_matches_nothing() {
    let table: RouteTable<&'static str> = RouteTable::new([]);
    assert!(table.is_empty());
    assert_eq!(winner(&table, "http://a/"), None);
}
