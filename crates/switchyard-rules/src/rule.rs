//! A parsed rule with its source text and default priority.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::RuleError;
use crate::expr::Expr;
use crate::parser;
use crate::request::RequestView;

/// A routing rule in Traefik's v3 syntax, parsed and compiled.
///
/// ```
/// use switchyard_rules::{RequestView, Rule};
///
/// let rule: Rule = "Host(`api.example.com`) && PathPrefix(`/v1`)".parse().unwrap();
/// assert_eq!(rule.default_priority(), 44);
///
/// let (parts, _) = http::Request::get("http://API.example.com/v1/users").body(()).unwrap().into_parts();
/// assert!(rule.matches(&RequestView::new(&parts, None).unwrap()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    source: Arc<str>,
    expr: Arc<Expr>,
}

impl Rule {
    /// Parses rule text. Errors name the column and what was expected there.
    pub fn parse(source: &str) -> Result<Self, RuleError> {
        Ok(Self {
            expr: Arc::new(parser::parse(source)?),
            source: source.into(),
        })
    }

    /// The rule as written (for a rule built from an [`Expr`], its canonical rendering).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The parsed expression.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Traefik's default priority: the length of the rule text in bytes. Longer, more specific rules
    /// are tried first.
    pub fn default_priority(&self) -> i64 {
        i64::try_from(self.source.len()).unwrap_or(i64::MAX)
    }

    /// Evaluates the rule against a request.
    pub fn matches(&self, req: &RequestView<'_>) -> bool {
        self.expr.matches(req)
    }
}

impl From<Expr> for Rule {
    /// Wraps an expression built in code; its source is the canonical rendering.
    fn from(expr: Expr) -> Self {
        Self {
            source: expr.to_string().into(),
            expr: Arc::new(expr),
        }
    }
}

impl FromStr for Rule {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}
