//! Why a request goes where it goes: the winning route, the parts of its rule that matched, and the
//! routes that match too but come later in match order.

use super::route::Route;
use super::{RouteMatch, RouteTable};
use crate::expr::Expr;
use crate::request::RequestView;

/// The answer of [`RouteTable::explain`]: every route whose rule matches a request, in match order,
/// with the parts of its rule that matched. The first one is the route
/// [`RouteTable::route`] picks.
#[derive(Debug)]
pub struct Explanation<'t, 'r, T> {
    winner: Option<RouteMatch<'t, 'r, T>>,
    matching: Vec<MatchingRoute<'t, T>>,
}

/// A route whose rule matches the request, and the parts of the rule that made it match.
#[derive(Debug)]
pub struct MatchingRoute<'t, T> {
    route: &'t Route<T>,
    parts: Vec<&'t Expr>,
}

impl<T> RouteTable<T> {
    /// Explains the routing of a request: the route [`route`](Self::route) picks (by the same index
    /// and the same matchers), then every route that also matches, in match order, each with the parts
    /// of its rule that matched. It tries every route, so it costs time in proportion to the table:
    /// call it to answer an operator, not on the request path.
    ///
    /// ```
    /// use switchyard_rules::{RequestView, Route, RouteTable, Rule};
    ///
    /// let table = RouteTable::new([
    ///     Route::new("api", Rule::parse("Host(`example.com`) && PathPrefix(`/api`)").unwrap(), ()),
    ///     Route::new("site", Rule::parse("Host(`example.com`)").unwrap(), ()),
    /// ]);
    /// let (parts, _) = http::Request::get("http://example.com/api/users").body(()).unwrap().into_parts();
    /// let view = RequestView::new(&parts, None).unwrap();
    /// let explanation = table.explain(&view);
    ///
    /// let winner = explanation.winner().unwrap();
    /// assert_eq!(winner.route().name(), "api");
    /// let names: Vec<&str> = explanation.matching().iter().map(|m| m.route().name()).collect();
    /// assert_eq!(names, ["api", "site"]);
    /// assert_eq!(explanation.matching()[1].parts()[0].to_string(), "Host(`example.com`)");
    /// ```
    pub fn explain<'t, 'r>(&'t self, req: &'r RequestView<'_>) -> Explanation<'t, 'r, T> {
        let matching = self
            .routes
            .iter()
            .filter_map(|route| {
                let parts = route.rule().expr().matched_parts(req)?;
                Some(MatchingRoute { route, parts })
            })
            .collect();
        Explanation {
            winner: self.route(req),
            matching,
        }
    }
}

impl<'t, 'r, T> Explanation<'t, 'r, T> {
    /// The route the request goes to, as [`RouteTable::route`] finds it; `None` when no route matches.
    pub fn winner(&self) -> Option<&RouteMatch<'t, 'r, T>> {
        self.winner.as_ref()
    }

    /// Every route that matches, in match order: the winner first, then the routes it beats.
    pub fn matching(&self) -> &[MatchingRoute<'t, T>] {
        &self.matching
    }

    /// The routes that match but lose to the winner, in match order.
    pub fn losers(&self) -> &[MatchingRoute<'t, T>] {
        self.matching.get(1..).unwrap_or_default()
    }
}

impl<'t, T> MatchingRoute<'t, T> {
    /// The route.
    pub fn route(&self) -> &'t Route<T> {
        self.route
    }

    /// The parts of its rule that matched: matcher calls and negations, left to right (see
    /// [`Expr::matched_parts`]).
    pub fn parts(&self) -> &[&'t Expr] {
        &self.parts
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::{RequestView, Route, RouteTable, Rule};

    #[test]
    fn the_winner_is_the_first_matching_route() {
        let table = RouteTable::new([
            Route::new("low", Rule::parse("PathPrefix(`/`)").unwrap(), ()).with_priority(1),
            Route::new("high", Rule::parse("Method(`GET`) || Path(`/x`)").unwrap(), ()).with_priority(9),
            Route::new("none", Rule::parse("Host(`other`)").unwrap(), ()).with_priority(5),
        ]);
        let (parts, _) = http::Request::post("http://a/x").body(()).unwrap().into_parts();
        let view = RequestView::new(&parts, None).unwrap();
        let explanation = table.explain(&view);
        assert_eq!(explanation.winner().unwrap().route().name(), "high");
        let names: Vec<_> = explanation.matching().iter().map(|m| m.route().name()).collect();
        assert_eq!(names, ["high", "low"]);
        assert_eq!(explanation.losers().len(), 1);
        let high: Vec<String> = explanation.matching()[0]
            .parts()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(high, ["Path(`/x`)"]);
    }

    #[test]
    fn nothing_matches() {
        let table = RouteTable::new([Route::new("a", Rule::parse("Host(`a`)").unwrap(), ())]);
        let (parts, _) = http::Request::get("http://b/").body(()).unwrap().into_parts();
        let view = RequestView::new(&parts, None).unwrap();
        let explanation = table.explain(&view);
        assert!(explanation.winner().is_none());
        assert!(explanation.matching().is_empty() && explanation.losers().is_empty());
    }
}
