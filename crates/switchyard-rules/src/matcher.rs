//! The leaf predicates of a rule and what each one means, as Traefik v3 defines them.

use std::fmt;

use http::HeaderName;
use ipnet::IpNet;

use crate::go_regex::GoRegex;
use crate::query;
use crate::request::RequestView;
use crate::template::PathTemplate;

/// One matcher call, such as `Host(`example.com`)`, compiled and ready to evaluate.
///
/// Build one by parsing a [`Rule`](crate::Rule), or in code with [`Matcher::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Matcher {
    /// `Host(`example.com`)`: the canonical request host equals the domain (case-insensitively,
    /// ignoring one trailing dot on either side). `*.example.com` matches exactly one extra label;
    /// `*` alone matches every request. Stored lowercased.
    Host(String),
    /// `HostRegexp(`^.+\.example\.com$`)`: the canonical host matches the regexp.
    HostRegexp(GoRegex),
    /// `Path(`/about`)`: the routing path equals the argument.
    Path(String),
    /// `PathPrefix(`/api`)`: the routing path starts with the argument (a byte prefix, so `/api`
    /// also matches `/apiv2`).
    PathPrefix(String),
    /// `PathRegexp(`^/v[0-9]+/`)`: the routing path matches the regexp.
    PathRegexp(GoRegex),
    /// `PathTemplate(`/users/{id}`)`: the routing path fits a typed template whose parameters the
    /// route table hands back. A switchyard extension; Traefik has no such matcher.
    PathTemplate(PathTemplate),
    /// `Method(`GET`)`: the request method equals the argument, upper-cased.
    Method(String),
    /// `Header(`X-Env`, `prod`)`: some value of the header equals the argument exactly.
    Header(HeaderName, String),
    /// `HeaderRegexp(`X-Env`, `^pr`)`: some value of the header matches the regexp.
    HeaderRegexp(HeaderName, GoRegex),
    /// `Query(`mobile`, `true`)`: some value of the query parameter equals the argument; with the key
    /// alone, the parameter is present with an empty value (`?mobile` or `?mobile=`).
    Query(String, String),
    /// `QueryRegexp(`page`, `^[0-9]+$`)`: some value of the query parameter matches the regexp.
    QueryRegexp(String, GoRegex),
    /// `ClientIP(`10.0.0.0/8`)`: the peer address (not `X-Forwarded-For`) is the IP or in the CIDR.
    ClientIp(ClientIp),
}

/// The address or network of a `ClientIP` matcher, with the text it was written as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp {
    net: IpNet,
    source: String,
}

impl ClientIp {
    /// The address or network as written in the rule.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The network; a single address is a network of one.
    pub fn net(&self) -> IpNet {
        self.net
    }
}

/// The matcher names, their canonical spelling and how many arguments each takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    ClientIp,
    Header,
    HeaderRegexp,
    Host,
    HostRegexp,
    Method,
    Path,
    PathPrefix,
    PathRegexp,
    PathTemplate,
    Query,
    QueryRegexp,
}

impl Kind {
    const ALL: [Kind; 12] = [
        Kind::ClientIp,
        Kind::Header,
        Kind::HeaderRegexp,
        Kind::Host,
        Kind::HostRegexp,
        Kind::Method,
        Kind::Path,
        Kind::PathPrefix,
        Kind::PathRegexp,
        Kind::PathTemplate,
        Kind::Query,
        Kind::QueryRegexp,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::ClientIp => "ClientIP",
            Kind::Header => "Header",
            Kind::HeaderRegexp => "HeaderRegexp",
            Kind::Host => "Host",
            Kind::HostRegexp => "HostRegexp",
            Kind::Method => "Method",
            Kind::Path => "Path",
            Kind::PathPrefix => "PathPrefix",
            Kind::PathRegexp => "PathRegexp",
            Kind::PathTemplate => "PathTemplate",
            Kind::Query => "Query",
            Kind::QueryRegexp => "QueryRegexp",
        }
    }

    /// Accepts the spellings Traefik registers for each matcher: as documented, all lower case,
    /// all upper case, and capitalised (`PathPrefix`, `pathprefix`, `PATHPREFIX`, `Pathprefix`).
    pub(crate) fn lookup(written: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| {
            let name = kind.name();
            written == name
                || written == name.to_ascii_lowercase()
                || written == name.to_ascii_uppercase()
                || written == capitalised(name)
        })
    }

    /// The canonical name closest to a misspelt one, for error messages.
    pub(crate) fn suggest(written: &str) -> Option<&'static str> {
        Kind::ALL
            .into_iter()
            .map(|kind| {
                (
                    edit_distance(&written.to_ascii_lowercase(), &kind.name().to_ascii_lowercase()),
                    kind,
                )
            })
            .filter(|(distance, _)| *distance <= 2)
            .min_by_key(|(distance, _)| *distance)
            .map(|(_, kind)| kind.name())
    }

    pub(crate) fn arity(self) -> (usize, usize, &'static str) {
        match self {
            Kind::Header | Kind::HeaderRegexp => (2, 2, "2"),
            Kind::Query | Kind::QueryRegexp => (1, 2, "1 or 2"),
            _ => (1, 1, "1"),
        }
    }
}

fn capitalised(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let mut chars = lower.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// Why an argument was refused: its 0-based index and the reason.
pub(crate) type ArgumentError = (usize, String);

impl Matcher {
    /// Builds a matcher from its name (any spelling the rule language accepts) and its arguments,
    /// with the same validation as the parser.
    ///
    /// ```
    /// use switchyard_rules::Matcher;
    ///
    /// let host = Matcher::new("Host", &["API.example.com"]).unwrap();
    /// assert_eq!(host.to_string(), "Host(`api.example.com`)");
    ///
    /// let err = Matcher::new("ClientIP", &["10.0.0.0/33"]).unwrap_err();
    /// assert!(err.to_string().contains("invalid IP address or CIDR"));
    /// ```
    pub fn new(name: &str, args: &[&str]) -> Result<Self, crate::RuleError> {
        let kind = Kind::lookup(name).ok_or_else(|| crate::RuleError::UnknownMatcher {
            column: 0,
            name: name.to_owned(),
            suggestion: Kind::suggest(name),
        })?;
        let (min, max, expected) = kind.arity();
        if args.len() < min || args.len() > max {
            return Err(crate::RuleError::Arity {
                column: 0,
                matcher: kind.name(),
                expected,
                got: args.len(),
            });
        }
        Self::build(kind, args).map_err(|(index, reason)| crate::RuleError::Argument {
            column: 0,
            matcher: kind.name(),
            index: index + 1,
            reason,
        })
    }

    /// Builds a matcher whose argument count was already checked.
    pub(crate) fn build(kind: Kind, args: &[&str]) -> Result<Self, ArgumentError> {
        if let Some(index) = args.iter().position(|a| a.is_empty()) {
            return Err((index, "must not be empty".to_owned()));
        }
        let arg = |i: usize| args[i];
        let regex = |i: usize| GoRegex::new(args[i]).map_err(|e| (i, e));
        Ok(match kind {
            Kind::Host => Matcher::Host(ascii(arg(0), 0)?.to_ascii_lowercase()),
            Kind::HostRegexp => Matcher::HostRegexp(GoRegex::new(ascii(arg(0), 0)?).map_err(|e| (0, e))?),
            Kind::Path => Matcher::Path(absolute_path(arg(0))?.to_owned()),
            Kind::PathPrefix => Matcher::PathPrefix(absolute_path(arg(0))?.to_owned()),
            Kind::PathRegexp => Matcher::PathRegexp(regex(0)?),
            Kind::PathTemplate => Matcher::PathTemplate(PathTemplate::new(arg(0)).map_err(|e| (0, e))?),
            Kind::Method => Matcher::Method(arg(0).to_uppercase()),
            Kind::Header => Matcher::Header(header_name(arg(0))?, arg(1).to_owned()),
            Kind::HeaderRegexp => Matcher::HeaderRegexp(header_name(arg(0))?, regex(1)?),
            Kind::Query if args.len() == 1 => Matcher::Query(arg(0).to_owned(), String::new()),
            Kind::Query => Matcher::Query(arg(0).to_owned(), arg(1).to_owned()),
            Kind::QueryRegexp if args.len() == 1 => Matcher::Query(arg(0).to_owned(), String::new()),
            Kind::QueryRegexp => Matcher::QueryRegexp(arg(0).to_owned(), regex(1)?),
            Kind::ClientIp => Matcher::ClientIp(client_ip(arg(0))?),
        })
    }

    /// Whether the request satisfies this matcher.
    pub fn matches(&self, req: &RequestView<'_>) -> bool {
        match self {
            Matcher::Host(expr) => host_matches(req.host(), expr.as_bytes()),
            Matcher::HostRegexp(re) => re.is_match(req.host()),
            Matcher::Path(path) => req.path() == path.as_bytes(),
            Matcher::PathPrefix(prefix) => req.path().starts_with(prefix.as_bytes()),
            Matcher::PathRegexp(re) => re.is_match(req.path()),
            Matcher::PathTemplate(template) => template.matches(req.path()),
            Matcher::Method(method) => req.method().as_str() == method,
            Matcher::Header(name, value) => header_equals(req, name, value),
            Matcher::HeaderRegexp(name, re) => header_matches(req, name, re),
            Matcher::Query(key, value) => query::any_value(req.query(), key.as_bytes(), |v| v.equals(value.as_bytes())),
            Matcher::QueryRegexp(key, re) => {
                query::any_value(req.query(), key.as_bytes(), |v| v.decoded(|d| re.is_match(d)))
            }
            Matcher::ClientIp(client) => req.client_ip().is_some_and(|ip| client.net.contains(&ip)),
        }
    }

    /// For a `PathRegexp` or `PathTemplate`: whether it accepts this routing path (as
    /// [`matches`](Self::matches) decides for a request with that path).
    pub(crate) fn path_matches(&self, path: &[u8]) -> bool {
        match self {
            Matcher::PathRegexp(re) => re.is_match(path),
            Matcher::PathTemplate(template) => template.matches(path),
            _ => false,
        }
    }

    /// For a `PathRegexp` or `PathTemplate`: literal prefixes one of which starts every path it accepts.
    pub(crate) fn path_prefixes(&self) -> Option<Vec<Vec<u8>>> {
        match self {
            Matcher::PathRegexp(re) => re.required_prefixes(),
            Matcher::PathTemplate(template) => Some(vec![template.literal_prefix().as_bytes().to_vec()]),
            _ => None,
        }
    }

    /// The matcher's canonical name.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    pub(crate) fn kind(&self) -> Kind {
        match self {
            Matcher::Host(_) => Kind::Host,
            Matcher::HostRegexp(_) => Kind::HostRegexp,
            Matcher::Path(_) => Kind::Path,
            Matcher::PathPrefix(_) => Kind::PathPrefix,
            Matcher::PathRegexp(_) => Kind::PathRegexp,
            Matcher::PathTemplate(_) => Kind::PathTemplate,
            Matcher::Method(_) => Kind::Method,
            Matcher::Header(..) => Kind::Header,
            Matcher::HeaderRegexp(..) => Kind::HeaderRegexp,
            Matcher::Query(..) => Kind::Query,
            Matcher::QueryRegexp(..) => Kind::QueryRegexp,
            Matcher::ClientIp(_) => Kind::ClientIp,
        }
    }
}

/// `Header`: some value of the (visible) header equals `value` exactly.
fn header_equals(req: &RequestView<'_>, name: &HeaderName, value: &str) -> bool {
    header_visible(name)
        && req
            .headers()
            .get_all(name)
            .iter()
            .any(|v| v.as_bytes() == value.as_bytes())
}

/// `HeaderRegexp`: some value of the (visible) header matches `re`.
fn header_matches(req: &RequestView<'_>, name: &HeaderName, re: &GoRegex) -> bool {
    header_visible(name) && req.headers().get_all(name).iter().any(|v| re.is_match(v.as_bytes()))
}

/// Go moves `Host` out of the header map, so Traefik's header matchers never see it.
fn header_visible(name: &HeaderName) -> bool {
    name != http::header::HOST
}

/// Traefik's `Host` semantics: exact or one-label wildcard, tolerant of one trailing dot.
pub(crate) fn host_matches(host: &[u8], expr: &[u8]) -> bool {
    if expr == b"*" {
        return true;
    }
    if host.is_empty() {
        return false;
    }
    domain_matches(host, expr)
        || expr.strip_suffix(b".").is_some_and(|e| domain_matches(host, e))
        || host.strip_suffix(b".").is_some_and(|h| domain_matches(h, expr))
}

pub(crate) fn domain_matches(domain: &[u8], expr: &[u8]) -> bool {
    match expr.strip_prefix(b"*") {
        Some(suffix) => after_first_label(domain) == suffix,
        None => domain == expr,
    }
}

/// `a.b.c` → `.b.c`; a single label → empty.
pub(crate) fn after_first_label(domain: &[u8]) -> &[u8] {
    domain.iter().position(|&b| b == b'.').map_or(&[][..], |i| &domain[i..])
}

fn ascii(arg: &str, index: usize) -> Result<&str, ArgumentError> {
    if arg.is_ascii() {
        Ok(arg)
    } else {
        Err((
            index,
            "non-ASCII characters are not allowed (use the punycode form of the domain)".to_owned(),
        ))
    }
}

fn absolute_path(path: &str) -> Result<&str, ArgumentError> {
    if path.starts_with('/') {
        Ok(path)
    } else {
        Err((0, format!("path `{path}` does not start with a '/'")))
    }
}

fn header_name(name: &str) -> Result<HeaderName, ArgumentError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| (0, format!("`{name}` is not a valid header name")))
}

pub(crate) fn client_ip(text: &str) -> Result<ClientIp, ArgumentError> {
    let net = match text.parse::<std::net::IpAddr>() {
        Ok(ip) => IpNet::from(ip.to_canonical()),
        Err(_) => text
            .parse::<IpNet>()
            .map(|net| ipv4_if_mapped(net.trunc()))
            .map_err(|_| (0, format!("`{text}` is an invalid IP address or CIDR")))?,
    };
    Ok(ClientIp {
        net,
        source: text.to_owned(),
    })
}

/// A network of IPv4-mapped IPv6 addresses (`::ffff:10.0.0.0/104`) as the IPv4 network it stands for
/// (`10.0.0.0/8`), since peers are compared in canonical form; Go's `IPNet.Contains` does the same.
fn ipv4_if_mapped(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        _ => net,
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match self {
            Matcher::Host(s) | Matcher::Path(s) | Matcher::PathPrefix(s) | Matcher::Method(s) => {
                write!(f, "{name}({})", Literal(s))
            }
            Matcher::HostRegexp(re) | Matcher::PathRegexp(re) => write!(f, "{name}({})", Literal(re.as_str())),
            Matcher::PathTemplate(t) => write!(f, "{name}({})", Literal(t.as_str())),
            Matcher::Header(key, value) => write!(f, "{name}({}, {})", Literal(key.as_str()), Literal(value)),
            Matcher::HeaderRegexp(key, re) => {
                write!(f, "{name}({}, {})", Literal(key.as_str()), Literal(re.as_str()))
            }
            Matcher::Query(key, value) if value.is_empty() => write!(f, "{name}({})", Literal(key)),
            Matcher::Query(key, value) => write!(f, "{name}({}, {})", Literal(key), Literal(value)),
            Matcher::QueryRegexp(key, re) => write!(f, "{name}({}, {})", Literal(key), Literal(re.as_str())),
            Matcher::ClientIp(ip) => write!(f, "{name}({})", Literal(&ip.source)),
        }
    }
}

/// Writes a string as a rule literal: backquoted when possible, else a Go interpreted literal.
pub(crate) struct Literal<'a>(pub(crate) &'a str);

impl fmt::Display for Literal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.contains(['`', '\r']) {
            return write!(f, "`{}`", self.0);
        }
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c.is_control() => write!(f, "\\u{:04x}", u32::from(c))?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_traefik_accepts() {
        for written in ["PathPrefix", "pathprefix", "PATHPREFIX", "Pathprefix"] {
            assert_eq!(Kind::lookup(written), Some(Kind::PathPrefix), "{written}");
        }
        assert_eq!(Kind::lookup("pathPrefix"), None);
        assert_eq!(Kind::lookup("Clientip"), Some(Kind::ClientIp));
        assert_eq!(Kind::suggest("pathPrefix"), Some("PathPrefix"));
        assert_eq!(Kind::suggest("Hots"), Some("Host"));
        assert_eq!(Kind::suggest("Completely"), None);
    }

    #[test]
    fn host_expressions() {
        let m = |host: &str, expr: &str| host_matches(host.as_bytes(), expr.as_bytes());
        assert!(m("example.com", "example.com"));
        assert!(m("example.com.", "example.com"));
        assert!(m("example.com", "example.com."));
        assert!(!m("www.example.com", "example.com"));
        assert!(m("foo.example.com", "*.example.com"));
        assert!(!m("a.b.example.com", "*.example.com"));
        assert!(!m("example.com", "*.example.com"));
        assert!(m("foo.example.com.", "*.example.com"));
        assert!(m("", "*"));
        assert!(!m("", "example.com"));
    }

    #[test]
    fn literal_rendering_round_trips() {
        assert_eq!(Literal("a`b").to_string(), "\"a`b\"");
        assert_eq!(Literal("plain").to_string(), "`plain`");
    }
}
