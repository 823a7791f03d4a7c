//! Errors reported while parsing a rule or reading a request.

use std::fmt;

/// Why a rule could not be parsed or compiled.
///
/// Every variant names the column (1-based, counted in characters) where the problem starts, so a
/// configuration loader can point at it: `router "api": expected ')' at column 27`.
///
/// ```
/// use switchyard_rules::{Rule, RuleError};
///
/// let err = Rule::parse("Host(`a.example`) && (Path(`/x`)").unwrap_err();
/// assert_eq!(err.column(), 33);
/// assert_eq!(err.to_string(), "expected ')' at column 33, found end of rule");
/// assert!(matches!(err, RuleError::Syntax { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The text does not follow the rule grammar.
    #[error("expected {expected} at column {column}, found {found}")]
    Syntax {
        /// Where the unexpected token starts.
        column: usize,
        /// What the parser would have accepted there.
        expected: &'static str,
        /// What it found instead.
        found: String,
    },
    /// A string literal is malformed (unterminated, bad escape, not UTF-8).
    #[error("invalid string literal at column {column}: {reason}")]
    Literal {
        /// Where the literal or the faulty escape starts.
        column: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A call names a matcher that does not exist.
    #[error("unknown matcher `{name}` at column {column}{}; known matchers: {}", Suggestion(*.suggestion), KNOWN_MATCHERS.join(", "))]
    UnknownMatcher {
        /// Where the name starts.
        column: usize,
        /// The name as written.
        name: String,
        /// The known matcher the name most resembles, if any.
        suggestion: Option<&'static str>,
    },
    /// A TCP rule calls a matcher that TCP rules do not have.
    #[error("unknown TCP matcher `{name}` at column {column}; known TCP matchers: {}", crate::tcp::KNOWN_TCP_MATCHERS.join(", "))]
    UnknownTcpMatcher {
        /// Where the name starts.
        column: usize,
        /// The name as written.
        name: String,
    },
    /// A matcher got the wrong number of arguments.
    #[error("`{matcher}` at column {column} takes {expected} argument(s), got {got}")]
    Arity {
        /// Where the matcher's name starts.
        column: usize,
        /// The matcher's canonical name.
        matcher: &'static str,
        /// How many arguments it accepts, as text (`1`, `1 or 2`).
        expected: &'static str,
        /// How many it was given.
        got: usize,
    },
    /// An argument is present but unusable: empty, a bad regexp, CIDR, header name or path.
    #[error("argument {index} of `{matcher}` at column {column}: {reason}")]
    Argument {
        /// Where the argument's literal starts.
        column: usize,
        /// The matcher's canonical name.
        matcher: &'static str,
        /// The 1-based position of the argument.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The rule nests parentheses or negations deeper than [`MAX_DEPTH`](crate::MAX_DEPTH).
    #[error("rule nests deeper than {limit} levels at column {column}")]
    TooDeep {
        /// Where the nesting went over the limit.
        column: usize,
        /// The limit.
        limit: usize,
    },
}

impl RuleError {
    /// The 1-based column (in characters) where the problem starts.
    ///
    /// ```
    /// let err = switchyard_rules::Rule::parse("Hots(`a`)").unwrap_err();
    /// assert_eq!(err.column(), 1);
    /// ```
    pub fn column(&self) -> usize {
        match self {
            Self::Syntax { column, .. }
            | Self::Literal { column, .. }
            | Self::UnknownMatcher { column, .. }
            | Self::UnknownTcpMatcher { column, .. }
            | Self::Arity { column, .. }
            | Self::Argument { column, .. }
            | Self::TooDeep { column, .. } => *column,
        }
    }
}

/// Every matcher name the rule language knows, in its canonical spelling.
pub const KNOWN_MATCHERS: &[&str] = &[
    "ClientIP",
    "Header",
    "HeaderRegexp",
    "Host",
    "HostRegexp",
    "Method",
    "Path",
    "PathPrefix",
    "PathRegexp",
    "PathTemplate",
    "Query",
    "QueryRegexp",
];

struct Suggestion(Option<&'static str>);

impl fmt::Display for Suggestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(name) => write!(f, " (did you mean `{name}`?)"),
            None => Ok(()),
        }
    }
}

/// Why a request cannot be routed at all; a proxy answers it with `400 Bad Request`.
///
/// ```
/// use switchyard_rules::{RequestError, RequestView};
///
/// let req = http::Request::get("/a%zzb").body(()).unwrap();
/// let (parts, _) = req.into_parts();
/// assert_eq!(
///     RequestView::new(&parts, None).unwrap_err(),
///     RequestError::InvalidPercentEncoding { offset: 2 }
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The path has a `%` that is not followed by two hex digits.
    #[error("invalid percent-encoding in the request path at byte {offset}")]
    InvalidPercentEncoding {
        /// Byte offset of the `%` in the path.
        offset: usize,
    },
}
