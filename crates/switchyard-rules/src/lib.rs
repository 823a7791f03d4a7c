//! Traefik v3 routing rules: parse them, evaluate them, and route a request among thousands of
//! them at the cost of the few that could match.
//!
//! ```
//! use switchyard_rules::{RequestView, Route, RouteTable, Rule};
//!
//! let table = RouteTable::new([
//!     Route::new("api", Rule::parse("Host(`example.com`) && PathPrefix(`/api`)").unwrap(), 1),
//!     Route::new("site", Rule::parse("Host(`example.com`)").unwrap(), 2),
//! ]);
//! let (parts, _) = http::Request::get("http://example.com/api/users").body(()).unwrap().into_parts();
//! let request = RequestView::new(&parts, None).unwrap();
//! assert_eq!(table.route(&request).map(|m| m.route().name()), Some("api"));
//! ```
//!
//! # The rule language
//!
//! Rules are Traefik v3 rules, with the same meaning:
//!
//! | matcher | matches when |
//! | --- | --- |
//! | ``Host(`example.com`)`` | the host equals the domain, case-insensitively, port ignored; ``*.example.com`` matches one extra label, `` `*` `` everything |
//! | ``HostRegexp(`^.+\.example\.com$`)`` | the host (lowercased, no port) matches the regexp |
//! | ``Path(`/about`)`` | the path equals the argument |
//! | ``PathPrefix(`/api`)`` | the path starts with the argument (a string prefix: `/api` matches `/apiv2`) |
//! | ``PathRegexp(`^/v[0-9]+/`)`` | the path matches the regexp |
//! | ``Method(`GET`)`` | the method equals the argument |
//! | ``Header(`X-Env`, `prod`)`` | some value of the header equals the argument |
//! | ``HeaderRegexp(`X-Env`, `^pr`)`` | some value of the header matches the regexp |
//! | ``Query(`mobile`, `true`)``, ``Query(`debug`)`` | some value of the parameter equals the argument (or is empty) |
//! | ``QueryRegexp(`page`, `^[0-9]+$`)`` | some value of the parameter matches the regexp |
//! | ``ClientIP(`10.0.0.0/8`)`` | the peer address is the IP or in the CIDR (v4 or v6) |
//! | ``PathTemplate(`/users/{id}`)`` | *switchyard extension*: the path fits the template, whose parameters are captured |
//!
//! Operators are `!`, `&&` and `||` in that order of precedence, with parentheses. Arguments are Go
//! string literals: `` `raw` `` or `"interpreted"` with Go's escapes. Matcher names are accepted in
//! the four spellings Traefik accepts (`PathPrefix`, `pathprefix`, `PATHPREFIX`, `Pathprefix`).
//! Regexps have Go's RE2 meaning (see [`GoRegex`]) and are not anchored unless they say so.
//!
//! Paths are matched against the *routing path* (see [`RequestView`]): unreserved percent-escapes
//! decoded, reserved ones kept.
//!
//! # Explaining and checking a table
//!
//! [`RouteTable::explain`] tells why a request goes to its route: the parts of the rule that matched
//! ([`Expr::matched_parts`]) and the routes that match too but come later. [`RouteTable::shadowed`]
//! finds the routes no request can reach, because routes tried before them take every request they
//! match.
//!
//! # TCP rules
//!
//! [`TcpRule`] parses Traefik's TCP rules (`HostSNI`, `HostSNIRegexp`, `ClientIP`, `ALPN`) with the
//! same grammar, and matches them against a [`TcpConnection`]: what a connection shows before any byte
//! is forwarded.
//!
//! # Where switchyard differs from Traefik, on purpose
//!
//! - Routes of equal priority are ordered by provider rank, then name (see [`RouteTable`]); Traefik
//!   leaves them unordered.
//! - Reserved escapes in the path are recognised in either hex case (`%2f` like `%2F`) and kept
//!   encoded; Traefik decodes a lower-case `%2f` into `/` when routing.
//! - Reserved escapes stay encoded even when the path also holds characters Go re-escapes (`{`, `|`,
//!   raw non-ASCII bytes); Go then rebuilds the path from its decoded form and `%2F` becomes `/`.
//! - Regexps see header and query bytes that are not UTF-8 as bytes: `.` does not match them, where Go
//!   reads each as U+FFFD.
//! - A header matcher with an invalid header name is an error; Traefik accepts it and never matches.
//! - `PathTemplate` is an addition; Traefik does not know it.
//! - Matching cost does not grow with the routes that cannot match (Traefik tries every rule in turn).

mod error;
mod expr;
mod go_regex;
mod go_string;
mod matcher;
mod parser;
mod query;
mod request;
mod rule;
mod shadow;
mod table;
mod tcp;
mod template;

pub use error::{KNOWN_MATCHERS, RequestError, RuleError};
pub use expr::Expr;
pub use go_regex::GoRegex;
pub use matcher::{ClientIp, Matcher};
pub use parser::MAX_DEPTH;
pub use request::RequestView;
pub use rule::Rule;
pub use shadow::Shadowed;
pub use table::{Explanation, MatchingRoute, Route, RouteMatch, RouteTable};
pub use tcp::{KNOWN_TCP_MATCHERS, TcpConnection, TcpMatcher, TcpRule};
pub use template::PathTemplate;

/// Parameters captured by a [`PathTemplate`], re-exported from `matchit`.
pub use matchit::Params;
