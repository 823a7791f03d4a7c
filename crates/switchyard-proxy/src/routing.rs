//! The steps between a request head and its target, shared by connections and by
//! [`explain`](crate::Explanation): the entrypoint's checks and rewrites of the head, the route
//! table's choice, and the route's own checks.

use std::net::IpAddr;

use http::request::Parts;
use http::{Method, Request};
use switchyard_middleware::EncodedSet;
use switchyard_rules::RequestView;

use crate::request_head::{self, UnderscoreHeaders};
use crate::request_path::{self, TargetPolicy};
use crate::respond::Refusal;
use crate::snapshot::{RouteTarget, Snapshot, Target};

/// What routing a request depends on besides its head: the entrypoint, its settings, the client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteInput {
    /// The entrypoint's index.
    pub(crate) entry_point: usize,
    /// `http.sanitizePath` and `http.encodeQuerySemicolons`.
    pub(crate) target: TargetPolicy,
    /// `http.underscoreHeadersStrategy`.
    pub(crate) underscores: UnderscoreHeaders,
    /// The client's address, for `ClientIP`.
    pub(crate) client_ip: IpAddr,
    /// Whether the request came over TLS (to the routers with a `tls` section).
    pub(crate) tls: bool,
    /// The TLS options the handshake used, when the request came over a handshake of ours.
    pub(crate) tls_options: Option<u32>,
    /// Whether the head comes straight from the wire, so that it is checked as a server must (`Host`).
    pub(crate) from_wire: bool,
}

/// The target a request goes to, after the entrypoint's checks and rewrites (`Host`, `OPTIONS *`,
/// underscore headers, the path and query: see [`request_head`] and [`request_path`]) and the
/// route's own (encoded characters, TLS options).
pub(crate) fn select<'s>(
    snapshot: &'s Snapshot,
    input: &RouteInput,
    parts: &mut Parts,
) -> Result<(&'s Target, RouteTarget), Refusal> {
    if input.from_wire {
        request_head::check_http1(parts).map_err(Refusal::Host)?;
    }
    request_head::align_with_target(parts).map_err(Refusal::Host)?;
    if parts.method == Method::OPTIONS && parts.uri.path() == "*" {
        return Err(Refusal::OptionsStar);
    }
    input
        .underscores
        .apply(&mut parts.headers)
        .map_err(|()| Refusal::UnderscoreHeader)?;
    let encoded = request_path::clean(&mut parts.uri, input.target).map_err(Refusal::Path)?;
    let route = route(snapshot, input, parts)?;
    if route.denied_encoded.intersects(encoded) {
        return Err(Refusal::EncodedCharacter);
    }
    if splits_view(snapshot, input, parts, route, encoded) {
        return Err(Refusal::SplitView);
    }
    if input.tls_options.is_some_and(|options| options != route.tls_options) {
        return Err(Refusal::Misdirected);
    }
    let target = snapshot.targets.get(route.target as usize).ok_or(Refusal::NotFound)?;
    Ok((target, route))
}

/// Whether a path with allowed encoded slashes or backslashes would go to another router once a
/// backend decoded them: such a path could reach, through this router, what a higher-priority
/// router guards (`/%2Fadmin` past `PathPrefix(`/admin`)`), so it is refused.
fn splits_view(
    snapshot: &Snapshot,
    input: &RouteInput,
    parts: &Parts,
    route: RouteTarget,
    encoded: EncodedSet,
) -> bool {
    if !encoded.intersects(request_path::SEPARATORS) {
        return false;
    }
    let Some(reading) = request_path::separator_reading(&parts.uri) else {
        return true;
    };
    let mut head = Request::new(());
    *head.method_mut() = parts.method.clone();
    *head.uri_mut() = reading;
    *head.version_mut() = parts.version;
    *head.headers_mut() = parts.headers.clone();
    let (decoded, ()) = head.into_parts();
    self::route(snapshot, input, &decoded).is_ok_and(|other| other.target != route.target)
}

/// The route the entrypoint's table picks for a request whose head went through the entrypoint's
/// checks.
fn route(snapshot: &Snapshot, input: &RouteInput, parts: &Parts) -> Result<RouteTarget, Refusal> {
    let view = RequestView::new(parts, Some(input.client_ip)).map_err(|_| Refusal::Undecodable)?;
    let table = snapshot.table(input.entry_point, input.tls);
    table
        .and_then(|t| t.route(&view))
        .map(|found| *found.value())
        .ok_or(Refusal::NotFound)
}
