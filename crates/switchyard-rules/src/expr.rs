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
///
/// The matchers are HTTP ones by default; TCP rules use the same structure over
/// [`TcpMatcher`](crate::TcpMatcher)s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr<M = Matcher> {
    /// A single matcher call.
    Matcher(M),
    /// `!expr`
    Not(Box<Expr<M>>),
    /// `a && b && …` (two or more operands).
    And(Vec<Expr<M>>),
    /// `a || b || …` (two or more operands).
    Or(Vec<Expr<M>>),
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
}

impl Expr {
    /// The parts of the expression that made it match the request, or `None` when it does not match.
    ///
    /// Evaluation is the one [`matches`](Self::matches) does, left to right with short-circuiting: an
    /// `&&` contributes the parts of all its operands, an `||` those of the first operand that holds,
    /// and a `!` whose operand fails contributes itself. Each part is a matcher call or a negation, as
    /// written in the rule.
    ///
    /// ```
    /// use switchyard_rules::{RequestView, Rule};
    ///
    /// let rule = Rule::parse("Host(`a.example`) && (Path(`/x`) || PathPrefix(`/api`)) && !Method(`DELETE`)").unwrap();
    /// let (parts, _) = http::Request::get("http://a.example/api/users").body(()).unwrap().into_parts();
    /// let view = RequestView::new(&parts, None).unwrap();
    /// let matched: Vec<String> = rule.expr().matched_parts(&view).unwrap().iter().map(|p| p.to_string()).collect();
    /// assert_eq!(matched, ["Host(`a.example`)", "PathPrefix(`/api`)", "!Method(`DELETE`)"]);
    /// ```
    pub fn matched_parts(&self, req: &RequestView<'_>) -> Option<Vec<&Expr>> {
        let mut parts = Vec::new();
        self.collect_matched(req, &mut parts).then_some(parts)
    }

    /// Evaluates like [`matches`](Self::matches), pushing the parts that decided a match onto `parts`
    /// (what a failed operand pushed is taken back).
    fn collect_matched<'a>(&'a self, req: &RequestView<'_>, parts: &mut Vec<&'a Expr>) -> bool {
        match self {
            Expr::Matcher(m) => {
                let matched = m.matches(req);
                if matched {
                    parts.push(self);
                }
                matched
            }
            Expr::Not(inner) => {
                let matched = !inner.matches(req);
                if matched {
                    parts.push(self);
                }
                matched
            }
            Expr::And(all) => {
                let start = parts.len();
                let matched = all.iter().all(|e| e.collect_matched(req, parts));
                if !matched {
                    parts.truncate(start);
                }
                matched
            }
            Expr::Or(any) => any.iter().any(|e| e.collect_matched(req, parts)),
        }
    }
}

impl<M> Expr<M> {
    /// Evaluates the expression with `leaf` deciding each matcher, left to right with
    /// short-circuiting.
    ///
    /// ```
    /// use switchyard_rules::TcpRule;
    ///
    /// let rule = TcpRule::parse("ALPN(`h2`) || !ClientIP(`10.0.0.0/8`)").unwrap();
    /// assert!(rule.expr().evaluate(&mut |m| m.name() == "ALPN"));
    /// ```
    pub fn evaluate(&self, leaf: &mut impl FnMut(&M) -> bool) -> bool {
        match self {
            Expr::Matcher(m) => leaf(m),
            Expr::Not(inner) => !inner.evaluate(leaf),
            Expr::And(all) => all.iter().all(|e| e.evaluate(leaf)),
            Expr::Or(any) => any.iter().any(|e| e.evaluate(leaf)),
        }
    }

    /// `self && other`, flattening nested `And`s.
    #[must_use]
    pub fn and(self, other: Expr<M>) -> Expr<M> {
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
    pub fn or(self, other: Expr<M>) -> Expr<M> {
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
    pub fn find_matcher<'a, R>(&'a self, f: &mut impl FnMut(&'a M) -> Option<R>) -> Option<R> {
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

impl From<crate::TcpMatcher> for Expr<crate::TcpMatcher> {
    fn from(m: crate::TcpMatcher) -> Self {
        Expr::Matcher(m)
    }
}

impl<M> std::ops::Not for Expr<M> {
    type Output = Expr<M>;

    fn not(self) -> Expr<M> {
        Expr::Not(Box::new(self))
    }
}

impl<M: fmt::Display> fmt::Display for Expr<M> {
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

fn join<M: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: &[Expr<M>],
    sep: &str,
    needs_parens: impl Fn(&Expr<M>) -> bool,
) -> fmt::Result {
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
