//! TCP rules: what a connection shows before its first byte is forwarded (the TLS server name, the
//! ALPN protocols the client offers, its address), matched with Traefik v3's TCP matchers.
//!
//! | matcher | matches when |
//! | --- | --- |
//! | ``HostSNI(`db.example.com`)`` | the TLS server name equals the domain, case-insensitively; `*.example.com` matches one extra label; never without a server name |
//! | ``HostSNI(`*`)`` | every connection, TLS or not |
//! | ``HostSNIRegexp(`^.+\.example\.com$`)`` | the server name (lowercased, empty when absent) matches the regexp |
//! | ``ClientIP(`10.0.0.0/8`)`` | the client address is the IP or in the CIDR |
//! | ``ALPN(`h2`)`` | the client offers this protocol in its ClientHello |
//!
//! The grammar (`&&`, `||`, `!`, parentheses, Go string literals) is the HTTP rules' one.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use crate::error::RuleError;
use crate::expr::Expr;
use crate::go_regex::GoRegex;
use crate::matcher::{ClientIp, Literal, client_ip, domain_matches};
use crate::parser::{Call, Matchers, parse_with};

/// The TCP matcher names, in their canonical spelling.
pub const KNOWN_TCP_MATCHERS: &[&str] = &["ALPN", "ClientIP", "HostSNI", "HostSNIRegexp"];

/// The ALPN protocol of ACME's TLS challenge, which Traefik refuses as an `ALPN` argument.
const ACME_TLS_ALPN: &str = "acme-tls/1";

/// The longest server name a connection can be routed by: a DNS name has at most 253 characters.
const MAX_SERVER_NAME: usize = 253;

/// One TCP matcher call, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TcpMatcher {
    /// `HostSNI(`example.com`)`: the server name equals the domain (stored lowercased, without a
    /// trailing dot); `*` matches every connection.
    HostSni(String),
    /// `HostSNIRegexp(`...`)`: the lowercased server name matches the regexp.
    HostSniRegexp(GoRegex),
    /// `ClientIP(`10.0.0.0/8`)`: the client address is the IP or in the network.
    ClientIp(ClientIp),
    /// `ALPN(`h2`)`: the client offers the protocol.
    Alpn(String),
}

impl TcpMatcher {
    /// The matcher's canonical name.
    pub fn name(&self) -> &'static str {
        match self {
            TcpMatcher::HostSni(_) => "HostSNI",
            TcpMatcher::HostSniRegexp(_) => "HostSNIRegexp",
            TcpMatcher::ClientIp(_) => "ClientIP",
            TcpMatcher::Alpn(_) => "ALPN",
        }
    }

    /// Whether the connection satisfies this matcher.
    pub fn matches(&self, connection: &TcpConnection<'_>) -> bool {
        match self {
            TcpMatcher::HostSni(domain) if domain == "*" => true,
            TcpMatcher::HostSni(domain) => {
                let name = connection.server_name_bytes();
                !name.is_empty() && domain_matches(name, domain.as_bytes())
            }
            TcpMatcher::HostSniRegexp(re) => re.is_match(connection.server_name_bytes()),
            TcpMatcher::ClientIp(net) => connection
                .client_ip
                .is_some_and(|ip| net.net().contains(&ip.to_canonical())),
            TcpMatcher::Alpn(protocol) => connection.alpn.contains(&protocol.as_bytes()),
        }
    }

    /// Builds a matcher from a parsed call.
    fn from_call(call: &Call<'_>) -> Result<Self, RuleError> {
        let name = canonical(call.name).ok_or_else(|| unknown(call.name, call.column))?;
        if call.args.len() != 1 {
            return Err(RuleError::Arity {
                column: call.column,
                matcher: name,
                expected: "1",
                got: call.args.len(),
            });
        }
        let (value, column) = (&call.args[0].0, call.args[0].1);
        let argument = |reason: String| RuleError::Argument {
            column,
            matcher: name,
            index: 1,
            reason,
        };
        if value.is_empty() {
            return Err(argument("must not be empty".to_owned()));
        }
        Ok(match name {
            "HostSNI" => TcpMatcher::HostSni(host_sni(value).map_err(argument)?),
            "HostSNIRegexp" if !value.is_ascii() => {
                return Err(argument("non-ASCII characters are not allowed".to_owned()));
            }
            "HostSNIRegexp" => TcpMatcher::HostSniRegexp(GoRegex::new(value).map_err(argument)?),
            "ClientIP" => TcpMatcher::ClientIp(client_ip(value).map_err(|(_, reason)| argument(reason))?),
            _ if value == ACME_TLS_ALPN => {
                return Err(argument(format!("`{ACME_TLS_ALPN}` is reserved for ACME challenges")));
            }
            _ => TcpMatcher::Alpn(value.clone()),
        })
    }
}

/// The TCP matchers, for the shared parser.
struct TcpMatchers;

impl Matchers for TcpMatchers {
    type Matcher = TcpMatcher;

    fn check_name(&self, name: &str, column: usize) -> Result<(), RuleError> {
        canonical(name).map(|_| ()).ok_or_else(|| unknown(name, column))
    }

    fn build(&self, call: &Call<'_>) -> Result<TcpMatcher, RuleError> {
        TcpMatcher::from_call(call)
    }
}

fn unknown(name: &str, column: usize) -> RuleError {
    RuleError::UnknownTcpMatcher {
        column,
        name: name.to_owned(),
    }
}

/// The canonical name of a TCP matcher written in one of the spellings Traefik accepts (as
/// documented, lower case, upper case, capitalised).
fn canonical(written: &str) -> Option<&'static str> {
    KNOWN_TCP_MATCHERS.iter().copied().find(|name| {
        written == *name
            || written == name.to_ascii_lowercase()
            || written == name.to_ascii_uppercase()
            || written.eq_ignore_ascii_case(name) && written[1..] == name[1..].to_ascii_lowercase()
    })
}

/// A `HostSNI` argument checked as Traefik does (`*`, or an optional `*.` then word characters, dots,
/// dashes and colons), lowercased, without a trailing dot.
fn host_sni(value: &str) -> Result<String, String> {
    if value == "*" {
        return Ok(value.to_owned());
    }
    let body = value.strip_prefix("*.").unwrap_or(value);
    let valid = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b':'));
    if !valid {
        return Err(format!("`{value}` is not a valid host name"));
    }
    Ok(value.strip_suffix('.').unwrap_or(value).to_ascii_lowercase())
}

impl fmt::Display for TcpMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match self {
            TcpMatcher::HostSni(s) | TcpMatcher::Alpn(s) => write!(f, "{name}({})", Literal(s)),
            TcpMatcher::HostSniRegexp(re) => write!(f, "{name}({})", Literal(re.as_str())),
            TcpMatcher::ClientIp(ip) => write!(f, "{name}({})", Literal(ip.as_str())),
        }
    }
}

/// What a TCP rule sees of a connection. Built once per connection, on the stack.
///
/// ```
/// use switchyard_rules::{TcpConnection, TcpRule};
///
/// let alpn: &[&[u8]] = &[b"h2", b"http/1.1"];
/// let connection = TcpConnection::new(Some("127.0.0.1".parse().unwrap()))
///     .with_server_name(Some("DB.example.com"))
///     .with_alpn(alpn);
/// assert!(TcpRule::parse("HostSNI(`db.example.com`) && ALPN(`h2`)").unwrap().matches(&connection));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TcpConnection<'a> {
    server_name: [u8; MAX_SERVER_NAME],
    server_name_len: u8,
    alpn: &'a [&'a [u8]],
    client_ip: Option<IpAddr>,
}

impl<'a> TcpConnection<'a> {
    /// A connection from `client_ip`, without TLS server name or ALPN (a plain TCP connection).
    pub fn new(client_ip: Option<IpAddr>) -> Self {
        Self {
            server_name: [0; MAX_SERVER_NAME],
            server_name_len: 0,
            alpn: &[],
            client_ip,
        }
    }

    /// The connection with the server name its ClientHello asked for, lowercased, one trailing dot
    /// dropped; a name longer than a DNS name can be counts as none.
    #[must_use]
    pub fn with_server_name(mut self, server_name: Option<&str>) -> Self {
        let name = server_name.unwrap_or_default();
        let name = name.strip_suffix('.').unwrap_or(name).as_bytes();
        if name.len() <= MAX_SERVER_NAME {
            for (to, from) in self.server_name.iter_mut().zip(name) {
                *to = from.to_ascii_lowercase();
            }
            self.server_name_len = u8::try_from(name.len()).unwrap_or(0);
        }
        self
    }

    /// The connection with the ALPN protocols its ClientHello offers.
    #[must_use]
    pub fn with_alpn(mut self, alpn: &'a [&'a [u8]]) -> Self {
        self.alpn = alpn;
        self
    }

    /// The lowercased server name; empty without one.
    pub fn server_name(&self) -> &str {
        std::str::from_utf8(self.server_name_bytes()).unwrap_or_default()
    }

    fn server_name_bytes(&self) -> &[u8] {
        &self.server_name[..usize::from(self.server_name_len)]
    }
}

/// A TCP routing rule, parsed.
///
/// ```
/// use switchyard_rules::TcpRule;
///
/// let rule = TcpRule::parse("HostSNI(`a.example`) || HostSNI(`b.example`)").unwrap();
/// assert_eq!(rule.default_priority(), 44);
/// assert!(!rule.is_catch_all());
/// assert_eq!(TcpRule::parse("HostSNI(`*`)").unwrap().default_priority(), -1);
///
/// let err = TcpRule::parse("HostSNI(`a`) && Host(`b`)").unwrap_err();
/// assert_eq!(err.column(), 17);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRule {
    source: Arc<str>,
    expr: Arc<Expr<TcpMatcher>>,
}

impl TcpRule {
    /// Parses rule text. Errors name the column and what is wrong there.
    pub fn parse(source: &str) -> Result<Self, RuleError> {
        Ok(Self {
            expr: Arc::new(parse_with(source, &TcpMatchers)?),
            source: source.into(),
        })
    }

    /// The rule as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The parsed expression.
    pub fn expr(&self) -> &Expr<TcpMatcher> {
        &self.expr
    }

    /// Whether the rule is ``HostSNI(`*`)`` alone: the fallback for every connection.
    pub fn is_catch_all(&self) -> bool {
        matches!(&*self.expr, Expr::Matcher(TcpMatcher::HostSni(d)) if d == "*")
    }

    /// Traefik's default priority: the rule's length in bytes, except ``HostSNI(`*`)`` alone, which
    /// gets -1 so that it is tried last.
    pub fn default_priority(&self) -> i64 {
        if self.is_catch_all() {
            -1
        } else {
            i64::try_from(self.source.len()).unwrap_or(i64::MAX)
        }
    }

    /// The domains of the rule's `HostSNI` matchers other than `*`: a rule naming one needs a TLS
    /// connection, so a router without `tls` may not use one.
    pub fn sni_domains(&self) -> Vec<&str> {
        let mut domains = Vec::new();
        self.expr.find_matcher(&mut |m| {
            if let TcpMatcher::HostSni(domain) = m {
                if domain != "*" {
                    domains.push(domain.as_str());
                }
            }
            None::<()>
        });
        domains
    }

    /// Evaluates the rule against a connection.
    pub fn matches(&self, connection: &TcpConnection<'_>) -> bool {
        self.expr.evaluate(&mut |m| m.matches(connection))
    }
}

impl fmt::Display for TcpRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn<'a>(sni: Option<&str>, alpn: &'a [&'a [u8]], ip: &str) -> TcpConnection<'a> {
        TcpConnection::new(Some(ip.parse().unwrap()))
            .with_server_name(sni)
            .with_alpn(alpn)
    }

    fn matches(rule: &str, connection: &TcpConnection<'_>) -> bool {
        TcpRule::parse(rule).unwrap().matches(connection)
    }

    #[test]
    fn host_sni_is_exact_case_insensitive_and_needs_a_name() {
        let c = conn(Some("Db.Example.COM."), &[], "10.0.0.1");
        assert!(matches("HostSNI(`db.example.com`)", &c));
        assert!(matches("HostSNI(`DB.example.com.`)", &c));
        assert!(matches("HostSNI(`*.example.com`)", &c));
        assert!(!matches("HostSNI(`example.com`)", &c));
        assert!(!matches("HostSNI(`*.com`)", &c));
        let plain = conn(None, &[], "10.0.0.1");
        assert!(!matches("HostSNI(`db.example.com`)", &plain));
        assert!(matches("HostSNI(`*`)", &plain));
        assert!(matches("hostsni(`*`)", &plain));
    }

    #[test]
    fn regexp_client_ip_and_alpn() {
        let alpn: &[&[u8]] = &[b"h2", b"postgresql"];
        let c = conn(Some("eu-1.db.example.com"), alpn, "::ffff:10.1.2.3");
        assert!(matches(r"HostSNIRegexp(`^[a-z]+-[0-9]\.db\.example\.com$`)", &c));
        assert!(!matches(r"HostSNIRegexp(`^us-`)", &c));
        assert!(matches("ClientIP(`10.0.0.0/8`)", &c));
        assert!(matches("ClientIP(`10.1.2.3`)", &c));
        assert!(!matches("ClientIP(`192.168.0.0/16`)", &c));
        assert!(matches("ALPN(`postgresql`)", &c));
        assert!(!matches("ALPN(`http/1.1`)", &c));
    }

    #[test]
    fn operators_and_precedence() {
        let c = conn(Some("a.example"), &[], "192.168.1.1");
        assert!(matches(
            "HostSNI(`b.example`) || HostSNI(`a.example`) && ClientIP(`192.168.0.0/16`)",
            &c
        ));
        assert!(!matches(
            "(HostSNI(`b.example`) || HostSNI(`a.example`)) && !ClientIP(`192.168.0.0/16`)",
            &c
        ));
        assert!(matches("!HostSNI(`b.example`)", &c));
    }

    #[test]
    fn priorities_follow_traefik() {
        assert_eq!(TcpRule::parse("HostSNI(`*`)").unwrap().default_priority(), -1);
        let with_ip = TcpRule::parse("HostSNI(`*`) && ClientIP(`1.2.3.4`)").unwrap();
        assert!(!with_ip.is_catch_all());
        assert_eq!(with_ip.default_priority(), 35);
        assert_eq!(
            TcpRule::parse("HostSNI(`a`) || !HostSNI(`*`)").unwrap().sni_domains(),
            ["a"]
        );
    }

    #[test]
    fn errors_name_the_column_and_reason() {
        let err = |rule: &str| TcpRule::parse(rule).unwrap_err().to_string();
        assert_eq!(
            err("Host(`a`)"),
            "unknown TCP matcher `Host` at column 1; known TCP matchers: ALPN, ClientIP, HostSNI, HostSNIRegexp"
        );
        assert_eq!(
            err("HostSNI(`a`, `b`)"),
            "`HostSNI` at column 1 takes 1 argument(s), got 2"
        );
        assert_eq!(
            err("HostSNI(`a b`)"),
            "argument 1 of `HostSNI` at column 9: `a b` is not a valid host name"
        );
        assert_eq!(
            err("ALPN(`acme-tls/1`)"),
            "argument 1 of `ALPN` at column 6: `acme-tls/1` is reserved for ACME challenges"
        );
        assert_eq!(
            err("ClientIP(`10.0.0.0/33`)"),
            "argument 1 of `ClientIP` at column 10: `10.0.0.0/33` is an invalid IP address or CIDR"
        );
        assert!(err("HostSNIRegexp(`(`)").starts_with("argument 1 of `HostSNIRegexp` at column 15: invalid regexp"));
        assert_eq!(
            err("HostSNI(`a`) &&"),
            "expected a matcher, '(' or '!' at column 16, found end of rule"
        );
    }

    #[test]
    fn overlong_server_names_match_nothing_specific() {
        let long = "a".repeat(300);
        let c = conn(Some(&long), &[], "10.0.0.1");
        assert_eq!(c.server_name(), "");
        assert!(!matches("HostSNIRegexp(`a`)", &c));
        assert!(matches("HostSNI(`*`)", &c));
    }

    #[test]
    fn display_is_canonical() {
        let rule = TcpRule::parse("hostsni(`A.example`) && !alpn(`h2`)").unwrap();
        assert_eq!(rule.expr().to_string(), "HostSNI(`a.example`) && !ALPN(`h2`)");
    }
}
