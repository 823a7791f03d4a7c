//! Edge cases of every matcher, pinned to what Traefik v3 does with the same rule and request.
//!
//! The expected outcomes restate the behaviour exercised by Traefik's muxer tests
//! (`pkg/muxer/http/matcher_test.go`, `mux_test.go`) and parser tests (`pkg/rules/parser_test.go`),
//! plus facts that follow directly from its matcher code (`pkg/muxer/http/matcher.go`, `mux.go`).
//! Where switchyard deviates on purpose (see the crate docs), the case says so and pins switchyard's
//! documented behaviour instead.
//!
//! Every case is checked twice: with `Rule::matches`, and through a one-route `RouteTable`, so the
//! index cannot disagree with the evaluator on these edge cases.

use std::net::IpAddr;

use http::request::Parts;
use http::{HeaderValue, Method, Version};
use switchyard_rules::{KNOWN_MATCHERS, RequestError, RequestView, Route, RouteTable, Rule};

/// A request to evaluate a rule against, described by the few fields the matchers read.
#[derive(Debug, Clone)]
struct Req {
    method: &'static str,
    uri: &'static str,
    version: Version,
    headers: Vec<(&'static str, &'static [u8])>,
    peer: Option<&'static str>,
}

/// A GET request for `uri`: absolute (`http://host/path`, host from the authority) or origin-form
/// (`/path`, no host unless [`Req::host`] adds one).
fn get(uri: &'static str) -> Req {
    Req {
        method: "GET",
        uri,
        version: Version::HTTP_11,
        headers: Vec::new(),
        peer: None,
    }
}

impl Req {
    /// Adds a `Host` header.
    fn host(self, host: &'static str) -> Self {
        self.header("host", host)
    }

    fn header(self, name: &'static str, value: &'static str) -> Self {
        self.header_bytes(name, value.as_bytes())
    }

    fn header_bytes(mut self, name: &'static str, value: &'static [u8]) -> Self {
        self.headers.push((name, value));
        self
    }

    fn method(mut self, method: &'static str) -> Self {
        self.method = method;
        self
    }

    fn http10(mut self) -> Self {
        self.version = Version::HTTP_10;
        self
    }

    /// Sets the address of the peer that sent the request.
    fn peer(mut self, ip: &'static str) -> Self {
        self.peer = Some(ip);
        self
    }

    fn parts(&self) -> Parts {
        let mut builder = http::Request::builder()
            .method(Method::from_bytes(self.method.as_bytes()).expect("valid method"))
            .uri(self.uri)
            .version(self.version);
        for (name, value) in &self.headers {
            builder = builder.header(*name, HeaderValue::from_bytes(value).expect("valid header value"));
        }
        builder.body(()).expect("valid request").into_parts().0
    }

    fn peer_ip(&self) -> Option<IpAddr> {
        self.peer.map(|ip| ip.parse().expect("valid peer address"))
    }
}

/// Evaluates every case and fails once, listing every case whose outcome differs.
fn check(cases: &[(&str, Req, bool)]) {
    let mut failures = Vec::new();
    for (rule_text, req, expected) in cases {
        let rule = Rule::parse(rule_text).unwrap_or_else(|e| panic!("{rule_text} does not parse: {e}"));
        let parts = req.parts();
        let view = RequestView::new(&parts, req.peer_ip())
            .unwrap_or_else(|e| panic!("{rule_text} on {req:?}: request refused: {e}"));
        let by_rule = rule.matches(&view);
        let table = RouteTable::new([Route::new("case", rule, ())]);
        let by_table = table.route(&view).is_some();
        if by_rule != *expected || by_table != *expected {
            failures.push(format!(
                "{rule_text} on {req:?}: expected {expected}, Rule::matches gave {by_rule}, RouteTable gave {by_table}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn host() {
    check(&[
        // Case-insensitive, port ignored, path irrelevant.
        ("Host(`example.com`)", get("https://example.com"), true),
        ("Host(`example.com`)", get("https://example.com:8080"), true),
        ("Host(`example.com`)", get("https://EXAMPLE.COM/path"), true),
        ("Host(`example.com`)", get("https://example.org/path"), false),
        ("Host(`example.com`)", get("https://www.example.com/"), false),
        ("Host(`EXAMPLE.COM`)", get("https://example.com/path"), true),
        // One trailing dot is tolerated on either side.
        ("Host(`example.com`)", get("https://example.com./path"), true),
        ("Host(`example.com`)", get("https://example.org."), false),
        ("Host(`example.com.`)", get("https://example.com/path"), true),
        ("Host(`example.com.`)", get("https://example.com."), true),
        // Internationalised names only match in punycode.
        ("Host(`xn--9t9h.com`)", get("https://xn--9t9h.com/path"), true),
        ("Host(`xn--9t9h.com`)", get("/").host("🦭.com"), false),
        // `*.` matches exactly one extra label.
        ("Host(`*.example.com`)", get("https://test.example.com"), true),
        ("Host(`*.example.com`)", get("https://other.example.com:8443/x"), true),
        ("Host(`*.example.com`)", get("https://example.com"), false),
        ("Host(`*.example.com`)", get("https://test.otherexample.com"), false),
        ("Host(`*.example.com`)", get("https://a.b.example.com"), false),
        ("Host(`*.example.com`)", get("https://test.example.com."), true),
        // `*` alone matches everything, even a request without a host.
        ("Host(`*`)", get("https://localhost"), true),
        ("Host(`*`)", get("/").http10(), true),
        // HTTP/1.0 without a Host header: the host is empty and no domain matches it.
        ("Host(`example.com`)", get("/").http10(), false),
        ("Host(`example.com`)", get("/").http10().host("example.com"), true),
        // IP literals; IPv6 brackets are removed from the request, not from the rule.
        ("Host(`127.0.0.1`)", get("http://127.0.0.1/foo"), true),
        ("Host(`10::10`)", get("http://[10::10]/foo"), true),
        ("Host(`10::10`)", get("http://[10::10]:8080/foo"), true),
        ("Host(`::1`)", get("/").host("[::1]"), true),
        ("Host(`[::1]`)", get("http://[::1]/"), false),
        // Origin-form requests use the Host header (port dropped, surrounding spaces trimmed).
        ("Host(`example.com`)", get("/").host("Example.COM:8080"), true),
        ("Host(`example.com`)", get("/").host(" example.com "), true),
        // User information in an absolute-form authority is not part of the host.
        ("Host(`example.com`)", get("http://user:secret@example.com:8080/"), true),
        ("Host(`example.com`)", get("http://example.com@example.org/"), false),
        // In absolute form the authority wins over the Host header.
        (
            "Host(`example.com`)",
            get("http://example.com/").host("example.org"),
            true,
        ),
        (
            "Host(`example.org`)",
            get("http://example.com/").host("example.org"),
            false,
        ),
    ]);
}

#[test]
fn host_regexp() {
    check(&[
        (r"HostRegexp(`^[a-zA-Z-]+\.com$`)", get("https://example.com"), true),
        (
            r"HostRegexp(`^[a-zA-Z-]+\.com$`)",
            get("https://example.com:8080/path"),
            true,
        ),
        (r"HostRegexp(`^[a-zA-Z-]+\.com$`)", get("https://example.org"), false),
        // The host is lowercased before matching, so an upper-case-only class never matches.
        (r"HostRegexp(`^[A-Z]+\.com$`)", get("https://EXAMPLE.com"), false),
        // Traefik v2's `{name:regexp}` syntax is just literal braces in v3.
        (
            r"HostRegexp(`{domain:[a-zA-Z-]+\.com}`)",
            get("https://example.com"),
            false,
        ),
        // Unanchored.
        ("HostRegexp(`example`)", get("https://www.example.com"), true),
        // No trailing-dot tolerance, unlike Host.
        (r"HostRegexp(`\.example\.com$`)", get("https://www.example.com."), false),
        // IPv6: brackets and port are gone before matching.
        ("HostRegexp(`^::1$`)", get("http://[::1]:8080/"), true),
        // Without a host the regexp sees the empty string.
        ("HostRegexp(`^$`)", get("/").http10(), true),
        // Authority over Host header.
        (
            "HostRegexp(`example.com`)",
            get("http://example.com/").host("example.org"),
            true,
        ),
        (
            "HostRegexp(`example.org`)",
            get("http://example.com/").host("example.org"),
            false,
        ),
    ]);
}

#[test]
fn path_and_path_prefix() {
    check(&[
        ("Path(`/css`)", get("https://example.com"), false),
        ("Path(`/css`)", get("https://example.org/css"), true),
        ("Path(`/css`)", get("https://example.com/css/"), false),
        ("Path(`/css`)", get("https://example.com/css/main.css"), false),
        ("Path(`/css`)", get("https://example.com/CSS"), false),
        ("Path(`/css`)", get("https://example.com/css?v=2"), true),
        ("PathPrefix(\"/css\")", get("https://example.com"), false),
        ("PathPrefix(\"/css\")", get("https://example.org/css"), true),
        ("PathPrefix(\"/css\")", get("https://example.com/css/main.css"), true),
        // A string prefix, not a segment prefix.
        ("PathPrefix(`/css`)", get("https://example.com/cssx"), true),
        ("PathPrefix(`/css/`)", get("https://example.com/css"), false),
        ("PathPrefix(`/`)", get("https://example.com/anything"), true),
    ]);
}

#[test]
fn path_regexp() {
    check(&[
        ("PathRegexp(`^/(css|js)`)", get("https://example.com"), false),
        ("PathRegexp(`^/(css|js)`)", get("https://example.com/css"), true),
        ("PathRegexp(`^/(css|js)`)", get("https://example.com/CSS"), false),
        ("PathRegexp(`^/(css|js)`)", get("https://example.com/js/main.js"), true),
        // Traefik v2's `{name:regexp}` syntax is literal braces in v3, matched against the
        // routing path, where `%7B`/`%7D` are decoded.
        (
            "PathRegexp(\"/{path:(css|js)}\")",
            get("https://example.com/css"),
            false,
        ),
        (
            "PathRegexp(\"/{path:(css|js)}\")",
            get("https://example.com/{path:css}"),
            true,
        ),
        (
            "PathRegexp(\"/{path:(css|js)}\")",
            get("https://example.com/%7Bpath:js%7D/"),
            true,
        ),
        // Unanchored unless the pattern says so; the query is not part of the path.
        (
            "PathRegexp(`css`)",
            get("https://example.com/static/css/site.css"),
            true,
        ),
        (r"PathRegexp(`\.css$`)", get("https://example.com/a.css?v=1"), true),
        ("PathRegexp(`^/api$`)", get("https://example.com/api/"), false),
    ]);
}

#[test]
fn method() {
    check(&[
        ("Method(`GET`)", get("/"), true),
        ("Method(`GET`)", get("/").method("POST"), false),
        // The rule's argument is upper-cased; the request method is compared as sent.
        ("Method(`GET`)", get("/").method("get"), false),
        ("Method(`get`)", get("/"), true),
        ("Method(`get`)", get("/").method("get"), false),
        ("Method(`PURGE`)", get("/").method("PURGE"), true),
    ]);
}

#[test]
fn header_and_header_regexp() {
    check(&[
        (
            "Header(`X-Forwarded-Proto`, `https`)",
            get("/").header("X-Forwarded-Proto", "https"),
            true,
        ),
        // Header names are case-insensitive on the wire (Go canonicalises them when parsing);
        // Traefik's test that expects a lower-case key to miss builds Go's header map by hand.
        (
            "Header(`X-Forwarded-Proto`, `https`)",
            get("/").header("x-forwarded-proto", "https"),
            true,
        ),
        (
            "Header(`x-forwarded-proto`, `https`)",
            get("/").header("X-Forwarded-Proto", "https"),
            true,
        ),
        // Any of the repeated fields may match.
        (
            "Header(`X-Forwarded-Proto`, `https`)",
            get("/")
                .header("X-Forwarded-Proto", "http")
                .header("X-Forwarded-Proto", "https"),
            true,
        ),
        (
            "Header(`X-Forwarded-Proto`, `https`)",
            get("/")
                .header("X-Forwarded-Proto", "https")
                .header("X-Forwarded-Proto", "http"),
            true,
        ),
        // A comma-separated field is one value; it is not split.
        (
            "Header(`X-Forwarded-Proto`, `https`)",
            get("/").header("X-Forwarded-Proto", "http, https"),
            false,
        ),
        // Values compare exactly.
        (
            "Header(`X-Forwarded-Proto`, `https`)",
            get("/").header("X-Forwarded-Proto", "HTTPS"),
            false,
        ),
        (
            "Header(`X-Forwarded-Proto`, `https`)",
            get("/").header("X-Forwarded-Host", "example.com"),
            false,
        ),
        ("Header(`X-Forwarded-Proto`, `https`)", get("/"), false),
        // Go moves Host out of the header map, so header matchers never see it.
        ("Header(`Host`, `example.com`)", get("/").host("example.com"), false),
        ("HeaderRegexp(`Host`, `.*`)", get("/").host("example.com"), false),
        (
            "HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)",
            get("/").header("X-Forwarded-Proto", "http"),
            true,
        ),
        (
            "HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)",
            get("/").header("X-Forwarded-Proto", "HTTPS"),
            false,
        ),
        (
            "HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)",
            get("/")
                .header("X-Forwarded-Proto", "ws")
                .header("X-Forwarded-Proto", "https"),
            true,
        ),
        (
            "HeaderRegexp(`x-forwarded-proto`, `^https?$`)",
            get("/").header("X-Forwarded-Host", "https"),
            false,
        ),
        // Traefik v2's `{name:regexp}` syntax: literal braces around a real `s?`.
        (
            "HeaderRegexp(`X-Forwarded-Proto`, `http{secure:s?}`)",
            get("/").header("X-Forwarded-Proto", "https"),
            false,
        ),
        (
            "HeaderRegexp(`X-Forwarded-Proto`, `http{secure:s?}`)",
            get("/").header("X-Forwarded-Proto", "http{secure:}"),
            true,
        ),
        (
            "HeaderRegexp(`X-Forwarded-Proto`, `http{secure:s?}`)",
            get("/")
                .header("X-Forwarded-Proto", "ws")
                .header("X-Forwarded-Proto", "http{secure:s}"),
            true,
        ),
        (
            "HeaderRegexp(`X-Forwarded-Proto`, `http{secure:s?}`)",
            get("/").header("X-Forwarded-Proto", "http{secure:S}"),
            false,
        ),
        // Unanchored.
        (
            "HeaderRegexp(`X-Env`, `prod`)",
            get("/").header("X-Env", "preprod"),
            true,
        ),
        // Differs from Traefik on purpose: a byte that is not UTF-8 is not a character, so `.` does
        // not match it (Go reads it as U+FFFD); literal bytes around it still match.
        (
            "HeaderRegexp(`X-Env`, `^.$`)",
            get("/").header_bytes("X-Env", b"\xff"),
            false,
        ),
        (
            "HeaderRegexp(`X-Env`, `^pro`)",
            get("/").header_bytes("X-Env", b"pro\xff"),
            true,
        ),
    ]);
}

#[test]
fn query_and_query_regexp() {
    check(&[
        ("Query(`q`, `traefik`)", get("https://example.com"), false),
        ("Query(`q`, `traefik`)", get("https://example.com?q=traefik"), true),
        (
            "Query(`q`, `traefik`)",
            get("https://example.com?rel=ddg&q=traefik"),
            true,
        ),
        // Repeated keys: any value may match.
        (
            "Query(`q`, `traefik`)",
            get("https://example.com?q=awesome&q=traefik"),
            true,
        ),
        ("Query(`q`, `traefik`)", get("https://example.com?q=nginx"), false),
        // Keys and values are case-sensitive.
        ("Query(`q`, `traefik`)", get("https://example.com?q=TRAEFIK"), false),
        ("Query(`q`, `traefik`)", get("https://example.com?Q=traefik"), false),
        // The key alone means "present with an empty value".
        ("Query(`mobile`)", get("https://example.com"), false),
        ("Query(`mobile`)", get("https://example.com?mobile"), true),
        ("Query(`mobile`)", get("https://example.com?mobile="), true),
        ("Query(`mobile`)", get("https://example.com?mobile=true"), false),
        ("Query(`mobile`)", get("https://example.com?mobile=true&mobile"), true),
        // Keys and values are unescaped (`+` is a space) before comparing.
        ("Query(`q`, `hello world`)", get("/?q=hello+world"), true),
        ("Query(`q`, `hello world`)", get("/?q=hello%20world"), true),
        ("Query(`q`, `a+b`)", get("/?q=a+b"), false),
        ("Query(`q`, `a+b`)", get("/?q=a%2Bb"), true),
        ("Query(`my key`, `v`)", get("/?my%20key=v"), true),
        ("Query(`q`, `a=b`)", get("/?q=a=b"), true),
        // Go drops pairs containing `;` and pairs with an invalid escape, and keeps the rest.
        ("Query(`q`, `traefik`)", get("/?q=traefik;x=1"), false),
        ("Query(`q`, `traefik`)", get("/?q=%zz&q=traefik"), true),
        (
            "QueryRegexp(`q`, `^(traefik|nginx)$`)",
            get("https://example.com?q=traefik"),
            true,
        ),
        (
            "QueryRegexp(`q`, `^(traefik|nginx)$`)",
            get("https://example.com?q=NGINX"),
            false,
        ),
        (
            "QueryRegexp(`q`, `^(traefik|nginx)$`)",
            get("https://example.com?q=haproxy"),
            false,
        ),
        ("QueryRegexp(`q`, `^.*$`)", get("https://example.com?q=TRAEFIK"), true),
        ("QueryRegexp(`q`, `^.*$`)", get("https://example.com?Q=traefik"), false),
        ("QueryRegexp(`q`, `^.*$`)", get("https://example.com?q"), true),
        // Traefik v2's `{name:regexp}` syntax is literal braces.
        ("QueryRegexp(`q`, `{value:(traefik|nginx)}`)", get("/?q=traefik"), false),
        (
            "QueryRegexp(`q`, `{value:(traefik|nginx)}`)",
            get("/?q=%7Bvalue:traefik%7D"),
            true,
        ),
        // The value is unescaped before matching; a pair with a bad escape does not exist.
        ("QueryRegexp(`q`, `^hello world$`)", get("/?q=hello+world"), true),
        ("QueryRegexp(`q`, `.`)", get("/?q=%zz"), false),
        // With the key alone, QueryRegexp is Query.
        ("QueryRegexp(`q`)", get("/?q"), true),
        ("QueryRegexp(`q`)", get("/?q=x"), false),
    ]);
}

#[test]
fn client_ip() {
    check(&[
        ("ClientIP(`127.0.0.1`)", get("/").peer("127.0.0.1"), true),
        ("ClientIP(`127.0.0.1`)", get("/").peer("192.168.1.1"), false),
        // No usable peer address: no match.
        ("ClientIP(`127.0.0.1`)", get("/"), false),
        ("ClientIP(`192.168.1.0/24`)", get("/").peer("192.168.1.1"), true),
        ("ClientIP(`192.168.1.0/24`)", get("/").peer("192.168.2.1"), false),
        // Host bits in the CIDR are ignored, as by Go's ParseCIDR.
        ("ClientIP(`192.168.1.7/24`)", get("/").peer("192.168.1.200"), true),
        ("ClientIP(`2001:db8::/32`)", get("/").peer("2001:db8::1"), true),
        ("ClientIP(`2001:db8::/32`)", get("/").peer("2001:db9::1"), false),
        ("ClientIP(`2001:db8::/32`)", get("/").peer("192.168.1.1"), false),
        ("ClientIP(`::1`)", get("/").peer("::1"), true),
        ("ClientIP(`::1`)", get("/").peer("127.0.0.1"), false),
        ("ClientIP(`0.0.0.0/0`)", get("/").peer("203.0.113.9"), true),
        ("ClientIP(`0.0.0.0/0`)", get("/").peer("2001:db8::1"), false),
        // IPv4-mapped IPv6 addresses are the IPv4 address, on either side.
        ("ClientIP(`10.0.0.0/8`)", get("/").peer("::ffff:10.1.2.3"), true),
        ("ClientIP(`10.1.2.3`)", get("/").peer("::ffff:10.1.2.3"), true),
        ("ClientIP(`::ffff:10.1.2.3`)", get("/").peer("10.1.2.3"), true),
        // A network of IPv4-mapped addresses is the IPv4 network it stands for, as with Go's
        // `IPNet.Contains`; a plain IPv6 network never holds an IPv4 peer.
        ("ClientIP(`::ffff:10.0.0.0/104`)", get("/").peer("10.200.0.1"), true),
        ("ClientIP(`::ffff:10.0.0.0/104`)", get("/").peer("11.0.0.1"), false),
        ("ClientIP(`::ffff:0:0/96`)", get("/").peer("203.0.113.9"), true),
        ("ClientIP(`::ffff:0:0/96`)", get("/").peer("2001:db8::1"), false),
        ("ClientIP(`::/0`)", get("/").peer("10.0.0.1"), false),
        ("ClientIP(`::/0`)", get("/").peer("2001:db8::1"), true),
        // The peer address counts, not X-Forwarded-For.
        (
            "ClientIP(`10.0.0.1`)",
            get("/").peer("192.168.0.1").header("X-Forwarded-For", "10.0.0.1"),
            false,
        ),
    ]);
}

#[test]
fn operators_and_precedence() {
    let com = |path| get(path).host("example.com");
    let org = |path| get(path).host("example.org");
    let eu = |path| get(path).host("example.eu");
    check(&[
        ("Host(`example.com`) && PathPrefix(`/css`)", com("/css"), true),
        ("Host(`example.com`) && PathPrefix(`/css`)", com("/js"), false),
        ("Host(`example.com`) || Host(`example.org`)", org("/js"), true),
        ("Host(`example.com`) || Host(`example.org`)", eu("/html"), false),
        // `&&` binds tighter than `||`: these two rules mean the same.
        (
            r#"Host("example.com") || (Host("example.org") && Path("/css"))"#,
            com("/js"),
            true,
        ),
        (
            r#"Host("example.com") || (Host("example.org") && Path("/css"))"#,
            org("/js"),
            false,
        ),
        (
            r#"Host("example.com") || Host("example.org") && Path("/css")"#,
            com("/js"),
            true,
        ),
        (
            r#"Host("example.com") || Host("example.org") && Path("/css")"#,
            org("/css"),
            true,
        ),
        (
            r#"Host("example.com") || Host("example.org") && Path("/css")"#,
            org("/js"),
            false,
        ),
        // Parentheses override it.
        (
            r#"(Host("example.com") || Host("example.org")) && Path("/css")"#,
            com("/js"),
            false,
        ),
        (
            r#"(Host("example.com") || Host("example.org")) && Path("/css")"#,
            org("/css"),
            true,
        ),
        (
            r#"(Host("example.com") && Path("/js")) || ((Host("example.org")) && Path("/css"))"#,
            com("/css"),
            false,
        ),
        (
            r#"(Host("example.com") && Path("/js")) || ((Host("example.org")) && Path("/css"))"#,
            org("/css"),
            true,
        ),
        // `!` binds tighter than `&&` and `||`, and negates whole groups.
        (r#"!Host("example.com")"#, org("/"), true),
        (r#"!Host("example.com")"#, com("/"), false),
        (r#"!Host("example.com") && Pathprefix("/css")"#, org("/css"), true),
        (r#"!Host("example.com") && Pathprefix("/css")"#, com("/css"), false),
        (r#"!(Host("example.com") || Host("example.org"))"#, eu("/js"), true),
        (r#"!(Host("example.com") && Path("/css"))"#, com("/js"), true),
        (r#"!(Host("example.com") && Path("/css"))"#, com("/css"), false),
        (r#"!(Host("example.com") && !Path("/css"))"#, com("/css"), true),
        (r#"!(Host("example.com") && !Path("/css"))"#, com("/js"), false),
        (r#"!Host("example.com") || !Path("/css")"#, org("/css"), true),
        (r#"!Host("example.com") || !Path("/css")"#, com("/css"), false),
        (r#"!(!(Host("example.com") && Pathprefix("/css")))"#, com("/css"), true),
        (r#"!(!(Host("example.com") && Pathprefix("/css")))"#, org("/css"), false),
        ("!!Method(`GET`)", com("/"), true),
        // A negated ClientIP holds when the peer is outside the range, or unknown.
        (
            "Method(`GET`) && !ClientIP(`10.0.0.0/8`)",
            com("/").peer("192.168.0.1"),
            true,
        ),
        ("Method(`GET`) && !ClientIP(`10.0.0.0/8`)", com("/"), true),
    ]);
}

#[test]
fn matcher_name_spellings() {
    check(&[
        // As documented, lower case, upper case, and capitalised.
        ("PathPrefix(`/css`)", get("/css"), true),
        ("pathprefix(`/css`)", get("/css"), true),
        ("PATHPREFIX(`/css`)", get("/css"), true),
        ("Pathprefix(`/css`)", get("/css"), true),
        ("Pathprefix(`/css`)", get("/js"), false),
        ("clientip(`10.0.0.1`)", get("/").peer("10.0.0.1"), true),
        ("Clientip(`10.0.0.1`)", get("/").peer("10.0.0.1"), true),
        ("HEADERREGEXP(`X-A`, `b`)", get("/").header("X-A", "b"), true),
        ("Headerregexp(`X-A`, `b`)", get("/").header("X-A", "b"), true),
    ]);
    // Any other mixture of cases is an unknown matcher, with the known one suggested.
    for (rule, name, known) in [
        ("pathPrefix(`/css`)", "pathPrefix", "PathPrefix"),
        ("PathPREFIX(`/css`)", "PathPREFIX", "PathPrefix"),
        ("clientIp(`10.0.0.1`)", "clientIp", "ClientIP"),
        ("HostRegExp(`a`)", "HostRegExp", "HostRegexp"),
    ] {
        let error = Rule::parse(rule).unwrap_err().to_string();
        assert_eq!(error, unknown_matcher(name, Some(known)), "{rule}");
    }
}

/// How an unknown matcher at the start of a rule is reported.
fn unknown_matcher(name: &str, suggestion: Option<&str>) -> String {
    let hint = suggestion
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    let known = KNOWN_MATCHERS.join(", ");
    format!("unknown matcher `{name}` at column 1{hint}; known matchers: {known}")
}

#[test]
fn rejected_rules() {
    let rejected = [
        // Grammar.
        ("", "expected a matcher, '(' or '!' at column 1, found end of rule"),
        (
            "Host(example.com)",
            "expected a matcher, '(' or '!' at column 13, found '.'",
        ),
        (
            "Host(`example.com`) &&",
            "expected a matcher, '(' or '!' at column 23, found end of rule",
        ),
        (
            "Host(`example.com`) ||",
            "expected a matcher, '(' or '!' at column 23, found end of rule",
        ),
        (
            "Host(`example.com)",
            "invalid string literal at column 6: string is not terminated",
        ),
        (
            "Host(`example.com`))",
            "expected '&&', '||' or end of rule at column 20, found ')'",
        ),
        ("(Host(`example.com`)", "expected ')' at column 21, found end of rule"),
        // Arity and empty arguments.
        ("Host()", "`Host` at column 1 takes 1 argument(s), got 0"),
        ("Host(``)", "argument 1 of `Host` at column 6: must not be empty"),
        (
            "Host(`example.com`, `example.org`)",
            "`Host` at column 1 takes 1 argument(s), got 2",
        ),
        (
            "Method(`GET`, `POST`)",
            "`Method` at column 1 takes 1 argument(s), got 2",
        ),
        ("Path(`/css`, `/js`)", "`Path` at column 1 takes 1 argument(s), got 2"),
        (
            "Header(`X-Forwarded-Host`)",
            "`Header` at column 1 takes 2 argument(s), got 1",
        ),
        (
            "Header(`X-Forwarded-Host`, ``)",
            "argument 2 of `Header` at column 28: must not be empty",
        ),
        (
            "Header(``, `example.com`)",
            "argument 1 of `Header` at column 8: must not be empty",
        ),
        (
            "Header(`X-Forwarded-Host`, `example.com`, `example.org`)",
            "`Header` at column 1 takes 2 argument(s), got 3",
        ),
        ("Query()", "`Query` at column 1 takes 1 or 2 argument(s), got 0"),
        ("Query(``)", "argument 1 of `Query` at column 7: must not be empty"),
        (
            "Query(`q`, ``)",
            "argument 2 of `Query` at column 12: must not be empty",
        ),
        (
            "Query(`q`, `traefik`, `proxy`)",
            "`Query` at column 1 takes 1 or 2 argument(s), got 3",
        ),
        (
            "QueryRegexp(``)",
            "argument 1 of `QueryRegexp` at column 13: must not be empty",
        ),
        ("ClientIP()", "`ClientIP` at column 1 takes 1 argument(s), got 0"),
        (
            "ClientIP(`127.0.0.1`, `192.168.1.0/24`)",
            "`ClientIP` at column 1 takes 1 argument(s), got 2",
        ),
        // Argument contents.
        (
            "Host(`🦭.com`)",
            "argument 1 of `Host` at column 6: non-ASCII characters are not allowed (use the punycode form of the domain)",
        ),
        (
            "HostRegexp(`🦭.com`)",
            "argument 1 of `HostRegexp` at column 12: non-ASCII characters are not allowed (use the punycode form of the domain)",
        ),
        (
            "HostRegexp(`(example.com`)",
            "argument 1 of `HostRegexp` at column 12: invalid regexp `(example.com`: unclosed group",
        ),
        (
            "Path(`css`)",
            "argument 1 of `Path` at column 6: path `css` does not start with a '/'",
        ),
        (
            "PathPrefix(`css`)",
            "argument 1 of `PathPrefix` at column 12: path `css` does not start with a '/'",
        ),
        (
            "PathRegexp(`/(css`)",
            "argument 1 of `PathRegexp` at column 12: invalid regexp `/(css`: unclosed group",
        ),
        (
            "HeaderRegexp(`X-Forwarded-Host`, `(example.com`)",
            "argument 2 of `HeaderRegexp` at column 34: invalid regexp `(example.com`: unclosed group",
        ),
        (
            "QueryRegexp(`q`, `(traefik`)",
            "argument 2 of `QueryRegexp` at column 18: invalid regexp `(traefik`: unclosed group",
        ),
        (
            "ClientIP(`1`)",
            "argument 1 of `ClientIP` at column 10: `1` is an invalid IP address or CIDR",
        ),
        (
            "ClientIP(`10.0.0.0/33`)",
            "argument 1 of `ClientIP` at column 10: `10.0.0.0/33` is an invalid IP address or CIDR",
        ),
        // Differs from Traefik on purpose: an invalid header name is an error here, while Traefik
        // accepts the rule and the matcher never matches.
        (
            "Header(`X Bad`, `v`)",
            "argument 1 of `Header` at column 8: `X Bad` is not a valid header name",
        ),
        (
            "HeaderRegexp(`X:Bad`, `v`)",
            "argument 1 of `HeaderRegexp` at column 14: `X:Bad` is not a valid header name",
        ),
    ];
    for (rule, expected) in rejected {
        match Rule::parse(rule) {
            Ok(_) => panic!("{rule:?} should not parse"),
            Err(error) => assert_eq!(error.to_string(), expected, "{rule:?}"),
        }
    }
    for (rule, name) in [
        ("rulewithnotmatcher", "rulewithnotmatcher"),
        ("Foobar(`foo.bar`, `test.bar`)", "Foobar"),
    ] {
        let error = Rule::parse(rule).unwrap_err().to_string();
        assert_eq!(error, unknown_matcher(name, None), "{rule:?}");
    }
    // Go call syntax allows a trailing comma and superfluous parentheses: the same matcher.
    let plain = Rule::parse("Host(`example.com`)").unwrap();
    for rule in ["Host(`example.com`,)", "((Host(`example.com`)))"] {
        assert_eq!(Rule::parse(rule).unwrap().expr(), plain.expr(), "{rule}");
    }
}

#[test]
fn routing_path() {
    check(&[
        // Escapes of unreserved characters are decoded, in either hex case.
        ("Path(`/foo bar`)", get("/foo%20bar"), true),
        ("PathPrefix(`/foo bar`)", get("/foo%20bar/x"), true),
        ("Path(`/admin`)", get("/%61dmin"), true),
        ("Path(`/a~b`)", get("/a%7eb"), true),
        ("Path(`/café`)", get("/caf%C3%A9"), true),
        // Escapes of reserved characters (and of `%`) stay encoded.
        ("Path(`/foo%2Fbar`)", get("/foo%2Fbar"), true),
        ("Path(`/foo/bar`)", get("/foo%2Fbar"), false),
        ("PathRegexp(`^/[^/]+$`)", get("/foo%2Fbar"), true),
        ("Path(`/foo bar%2Fbaz%23qux`)", get("/foo%20bar%2Fbaz%23qux"), true),
        ("Path(`/a%25b`)", get("/a%25b"), true),
        ("Path(`/a%b`)", get("/a%25b"), false),
        ("Path(`/a%3Fb`)", get("/a%3Fb"), true),
        // Differs from Traefik on purpose: a lower-case reserved escape stays encoded (and is
        // written upper-case), where Traefik decodes `%2f` to `/` and `%3b` to `;`.
        ("Path(`/foo%2Fbar`)", get("/foo%2fbar"), true),
        ("Path(`/foo/bar`)", get("/foo%2fbar"), false),
        ("Path(`/a%3Bb`)", get("/a%3bb"), true),
        // Differs from Traefik on purpose: reserved escapes stay encoded even when the path also holds
        // characters Go re-escapes (`{`, `|`, ...), where Go rebuilds the path from its decoded form.
        ("Path(`/a%2Fb{`)", get("/a%2Fb{"), true),
        ("Path(`/a/b{`)", get("/a%2Fb{"), false),
    ]);

    // An invalid escape means the request cannot be routed (Traefik answers 400).
    for (uri, offset) in [("/a%zz", 2), ("/a%2", 2), ("/a%", 2), ("/ok/%g1", 4)] {
        let parts = get(uri).parts();
        assert_eq!(
            RequestView::new(&parts, None).map(|_| ()),
            Err(RequestError::InvalidPercentEncoding { offset }),
            "{uri}"
        );
    }
}
