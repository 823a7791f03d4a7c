//! The boolean structure of a rule: matchers joined by `&&`, `||` and `!`.

use std::fmt;

use crate::matcher::Matcher;
use crate::request::RequestView;

/// A parsed rule expression.
///
/// `&&` binds tighter than `||`, and `!` tighter than both, as in Go (and so in Traefik).
/// Chains of the same operator are flattened: `a && b && c` is one `And` of three.
///
/// ```
/// use switchyard_rules::{Expr, Matcher};
///
/// let api = Expr::from(Matcher::new("PathPrefix", &["/api"]).unwrap());
/// let get = Expr::from(Matcher::new("Method", &["GET"]).unwrap());
/// let health = Expr::from(Matcher::new("Path", &["/api/health"]).unwrap());
/// let expr = api.and(get).and(!health);
/// assert_eq!(expr.to_string(), "PathPrefix(`/api`) && Method(`GET`) && !Path(`/api/health`)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A single matcher call.
    Matcher(Matcher),
    /// `!expr`
    Not(Box<Expr>),
    /// `a && b && …` (two or more operands).
    And(Vec<Expr>),
    /// `a || b || …` (two or more operands).
    Or(Vec<Expr>),
}

impl Expr {
    /// Evaluates the expression against a request, left to right with short-circuiting.
    pub fn matches(&self, req: &RequestView<'_>) -> bool {
        match self {
            Expr::Matcher(m) => m.matches(req),
            Expr::Not(inner) => !inner.matches(req),
            Expr::And(all) => all.iter().all(|e| e.matches(req)),
            Expr::Or(any) => any.iter().any(|e| e.matches(req)),
        }
    }

    /// `self && other`, flattening nested `And`s.
    #[must_use]
    pub fn and(self, other: Expr) -> Expr {
        match self {
            Expr::And(mut all) => {
                all.push(other);
                Expr::And(all)
            }
            first => Expr::And(vec![first, other]),
        }
    }

    /// `self || other`, flattening nested `Or`s.
    #[must_use]
    pub fn or(self, other: Expr) -> Expr {
        match self {
            Expr::Or(mut any) => {
                any.push(other);
                Expr::Or(any)
            }
            first => Expr::Or(vec![first, other]),
        }
    }

    /// Calls `f` on every matcher, depth first and left to right, until it returns `Some`; that
    /// value is returned. Walks the tree without allocating.
    ///
    /// ```
    /// use switchyard_rules::{Matcher, Rule};
    ///
    /// let rule = Rule::parse("Method(`GET`) && (Host(`a.example`) || !Host(`b.example`))").unwrap();
    /// let mut hosts = Vec::new();
    /// rule.expr().find_matcher(&mut |m| {
    ///     if let Matcher::Host(host) = m {
    ///         hosts.push(host.clone());
    ///     }
    ///     None::<()>
    /// });
    /// assert_eq!(hosts, ["a.example", "b.example"]);
    /// ```
    pub fn find_matcher<'a, R>(&'a self, f: &mut impl FnMut(&'a Matcher) -> Option<R>) -> Option<R> {
        match self {
            Expr::Matcher(m) => f(m),
            Expr::Not(inner) => inner.find_matcher(f),
            Expr::And(children) | Expr::Or(children) => children.iter().find_map(|e| e.find_matcher(f)),
        }
    }
}

impl From<Matcher> for Expr {
    fn from(m: Matcher) -> Self {
        Expr::Matcher(m)
    }
}

impl std::ops::Not for Expr {
    type Output = Expr;

    fn not(self) -> Expr {
        Expr::Not(Box::new(self))
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Matcher(m) => m.fmt(f),
            Expr::Not(inner) => match **inner {
                Expr::Matcher(_) | Expr::Not(_) => write!(f, "!{inner}"),
                _ => write!(f, "!({inner})"),
            },
            Expr::And(all) => join(f, all, " && ", |e| matches!(e, Expr::Or(_))),
            Expr::Or(any) => join(f, any, " || ", |_| false),
        }
    }
}

fn join(f: &mut fmt::Formatter<'_>, items: &[Expr], sep: &str, needs_parens: impl Fn(&Expr) -> bool) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        if needs_parens(item) {
            write!(f, "({item})")?;
        } else {
            write!(f, "{item}")?;
        }
    }
    Ok(())
}
