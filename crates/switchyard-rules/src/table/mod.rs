//! A compiled set of routes that finds the first match without trying the routes that cannot match.

mod explain;
mod gate;
mod index;
mod keys;
mod radix;
mod route;

pub use explain::{Explanation, MatchingRoute};
pub use route::Route;

use std::cmp::Ordering;

use crate::matcher::Matcher;
use crate::request::RequestView;
use index::Index;

/// Route ranks (positions in match order) are `u32`; lists of them are kept ascending.
type Rank = u32;

/// Routes compiled for matching, in the order Traefik tries them.
///
/// **Order.** Higher [`priority`](Route::priority) first; at equal priority the lower
/// [`provider_rank`](Route::provider_rank) first, then the router name in byte order, then the order
/// the routes were given in. Traefik leaves routes of equal priority (and provider) in no particular
/// order; here the outcome never depends on map iteration or load order.
///
/// **Cost.** Routes are indexed by the host they require (exact, `*.` wildcard, or the literal
/// suffix of an end-anchored `HostRegexp`) and then, in a radix tree, by the path or path prefix
/// they require (including the literal prefix of a start-anchored `PathRegexp`). A lookup walks the
/// request's host and path once and evaluates the full rule only for the candidates found there, in
/// match order, stopping at the first match; lists are cut short as soon as they can no longer beat
/// the best match so far. Routes that constrain neither host nor path but require an unanchored
/// `HostRegexp` or `PathRegexp` are screened by one multi-pattern automaton pass per field. Only the rest
/// (`Method(`GET`)`, `!Host(…)`, …) are tried by every request, like Traefik's linear scan.
/// Matching does not allocate (the screen reuses a per-thread buffer).
///
/// ```
/// use switchyard_rules::{RequestView, Route, RouteTable, Rule};
///
/// let table = RouteTable::new([
///     Route::new("api", Rule::parse("Host(`example.com`) && PathPrefix(`/api`)").unwrap(), "api-svc"),
///     Route::new("web", Rule::parse("Host(`example.com`)").unwrap(), "web-svc"),
///     Route::new("user", Rule::parse("PathTemplate(`/users/{id}`)").unwrap(), "users-svc"),
/// ]);
///
/// let (parts, _) = http::Request::get("http://example.com/api/x").body(()).unwrap().into_parts();
/// let req = RequestView::new(&parts, None).unwrap();
/// assert_eq!(table.route(&req).map(|m| *m.value()), Some("api-svc"));
///
/// let (parts, _) = http::Request::get("http://other.org/users/42").body(()).unwrap().into_parts();
/// let req = RequestView::new(&parts, None).unwrap();
/// let m = table.route(&req).unwrap();
/// assert_eq!(m.route().name(), "user");
/// assert_eq!(m.params().unwrap().get("id"), Some("42"));
/// ```
#[derive(Debug)]
pub struct RouteTable<T> {
    routes: Vec<Route<T>>,
    index: Index,
}

/// The route a request matched, and access to what its path template captured.
#[derive(Debug)]
pub struct RouteMatch<'t, 'r, T> {
    route: &'t Route<T>,
    path: &'r [u8],
}

impl<T> RouteTable<T> {
    /// Compiles routes into a table.
    pub fn new(routes: impl IntoIterator<Item = Route<T>>) -> Self {
        let mut routes: Vec<Route<T>> = routes.into_iter().collect();
        routes.sort_by(match_order);
        let index = Index::build(routes.iter().map(|r| r.rule().expr()));
        Self { routes, index }
    }

    /// The first route, in match order, whose rule matches the request.
    #[inline]
    pub fn route<'t, 'r>(&'t self, req: &'r RequestView<'_>) -> Option<RouteMatch<'t, 'r, T>> {
        let rank = self
            .index
            .find(req, |rank| self.routes[rank as usize].rule().matches(req))?;
        Some(RouteMatch {
            route: &self.routes[rank as usize],
            path: req.path(),
        })
    }

    /// The reference evaluator: tries every route in match order. It is what [`route`](Self::route)
    /// must agree with, and costs time in proportion to the number of routes.
    pub fn route_by_scan<'t, 'r>(&'t self, req: &'r RequestView<'_>) -> Option<RouteMatch<'t, 'r, T>> {
        self.routes
            .iter()
            .find(|r| r.rule().matches(req))
            .map(|route| RouteMatch {
                route,
                path: req.path(),
            })
    }

    /// The routes in match order.
    pub fn routes(&self) -> &[Route<T>] {
        &self.routes
    }

    /// How many routes the table holds.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether the table holds no route.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// How many routes every request must try because they constrain neither host nor path and
    /// require no regexp on either.
    pub fn unindexed_len(&self) -> usize {
        self.index.unindexed_len()
    }

    /// How many routes are screened by a multi-pattern regexp on the host or path instead of being indexed.
    pub fn regex_screened_len(&self) -> usize {
        self.index.gated_len()
    }
}

fn match_order<T>(a: &Route<T>, b: &Route<T>) -> Ordering {
    b.priority()
        .cmp(&a.priority())
        .then(a.provider_rank().cmp(&b.provider_rank()))
        .then_with(|| a.name().cmp(b.name()))
}

impl<'t, 'r, T> RouteMatch<'t, 'r, T> {
    /// The matched route.
    pub fn route(&self) -> &'t Route<T> {
        self.route
    }

    /// The matched route's value.
    pub fn value(&self) -> &'t T {
        self.route.value()
    }

    /// The parameters captured by the first `PathTemplate` of the rule that fits the path, or
    /// `None` when the rule has no template that fits (or the path is not UTF-8).
    pub fn params(&self) -> Option<matchit::Params<'t, 'r>> {
        let path = std::str::from_utf8(self.path).ok()?;
        self.route.rule().expr().find_matcher(&mut |m| match m {
            Matcher::PathTemplate(t) => t.params(path),
            _ => None,
        })
    }
}
