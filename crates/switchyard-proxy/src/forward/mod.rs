//! Forwarding one request to one backend server and shaping the answer for the client.

mod headers;
mod upgrade;

use std::sync::Arc;

use http::header::HOST;
use http::request::Parts;
use http::uri::{PathAndQuery, Uri};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Version};

pub(crate) use headers::Client;

pub(crate) use headers::ForwardedPolicy;

use crate::interim::InterimSink;
use crate::upstream::{Origin, Pool, Protocol, UpstreamError};
use switchyard_middleware::{RequestBody, ResponseBody};

/// How a request is adapted for a backend, beyond the server's address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ForwardOptions {
    pub(crate) pass_host_header: bool,
    pub(crate) preserve_path: bool,
}

/// Where a request stands with the entrypoint's forwarding headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryHeaders {
    /// Not set yet: the request went straight from the router to its service.
    Pending,
    /// Set by [`set_entry_headers`] before a middleware stack, which may have changed them since.
    Set,
}

/// The host of a request: its `Host` header, or the HTTP/2 authority.
fn request_host(parts: &Parts) -> Option<HeaderValue> {
    parts.headers.get(HOST).cloned().or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    })
}

fn is_websocket(upgrade: Option<&HeaderValue>) -> bool {
    upgrade.is_some_and(|u| u.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

/// Sets the forwarding headers the entrypoint owns (all but `X-Forwarded-For`) before a middleware
/// stack sees the request, as Traefik's entrypoint does.
pub(crate) fn set_entry_headers(parts: &mut Parts, client: &Client, policy: &ForwardedPolicy) {
    headers::remove_connection_listed(&mut parts.headers, policy);
    let host = request_host(parts);
    let websocket = is_websocket(headers::requested_upgrade(&parts.headers).as_ref());
    parts.headers.reserve(7);
    headers::set_forwarded(&mut parts.headers, host.as_ref(), client, policy, websocket);
}

/// What forwarding needs from the connection and the router.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Forwarding<'a> {
    pub(crate) client: &'a Client,
    pub(crate) policy: &'a ForwardedPolicy,
    pub(crate) entry_headers: EntryHeaders,
    /// Where the backend's informational answers go, when the client can take them.
    pub(crate) interim: Option<&'a InterimSink>,
}

/// Forwards a request to the server behind `pool` and returns the response with its body streaming.
pub(crate) async fn forward(
    pool: &Arc<Pool>,
    options: ForwardOptions,
    mut parts: Parts,
    body: RequestBody,
    how: Forwarding<'_>,
) -> Result<Response<ResponseBody>, UpstreamError> {
    let host = request_host(&parts);
    let upgrade = headers::requested_upgrade(&parts.headers);
    let client_upgrade = upgrade
        .is_some()
        .then(|| parts.extensions.remove::<hyper::upgrade::OnUpgrade>())
        .flatten();
    set_forwarding_headers(&mut parts, how, host.as_ref(), is_websocket(upgrade.as_ref()));
    headers::remove_hop_by_hop(&mut parts.headers, client_upgrade.as_ref().and(upgrade));
    address_to(&mut parts, pool.origin(), options, host)?;
    let mut request = Request::from_parts(parts, body);
    if let Some(sink) = how.interim {
        pass_informational(&mut request, sink.clone());
    }
    let response = pool.send(request).await?;
    Ok(answer_from(response, client_upgrade))
}

/// Hands the backend's informational answers (103 Early Hints) to the client's connection.
fn pass_informational(request: &mut Request<RequestBody>, sink: InterimSink) {
    hyper::ext::on_informational(request, move |informational| {
        sink.send(informational.status(), informational.headers());
    });
}

/// The forwarding headers: the entrypoint's, unless a middleware stack already got them, then
/// `X-Forwarded-For` as the request leaves.
fn set_forwarding_headers(parts: &mut Parts, how: Forwarding<'_>, host: Option<&HeaderValue>, websocket: bool) {
    // hyper sizes a request's header map to the headers it parsed; grow it once for the up to seven
    // forwarding headers rather than rehashing on the way.
    let mut managed = None;
    if how.entry_headers == EntryHeaders::Pending {
        parts.headers.reserve(7);
        managed = Some(headers::set_forwarded(
            &mut parts.headers,
            host,
            how.client,
            how.policy,
            websocket,
        ));
    }
    if parts
        .extensions
        .get::<switchyard_middleware::OmitForwardedFor>()
        .is_none()
    {
        if managed == Some(headers::Managed::None) {
            headers::set_fresh_forwarded_for(&mut parts.headers, how.client, how.policy);
        } else {
            headers::set_forwarded_for(&mut parts.headers, how.client, how.policy);
        }
    }
}

/// Addresses the request to `origin`: its path (with `preservePath`), HTTP/1.1, the `Host` it gets,
/// and the HTTP/2 form for h2c backends.
fn address_to(
    parts: &mut Parts,
    origin: &Origin,
    options: ForwardOptions,
    host: Option<HeaderValue>,
) -> Result<(), UpstreamError> {
    if let Some(path) = upstream_path(&parts.uri, origin.path(), options.preserve_path) {
        parts.uri = Uri::from(path);
    }
    parts.version = Version::HTTP_11;
    set_host(&mut parts.headers, origin, options.pass_host_header, host);
    if origin.protocol() == Protocol::H2c {
        origin.rewrite_for_http2(parts)?;
    }
    Ok(())
}

/// The `Host` the backend gets: the client's with `passHostHeader`, else the backend's own address.
fn set_host(headers: &mut HeaderMap, origin: &Origin, pass_host_header: bool, host: Option<HeaderValue>) {
    match (pass_host_header, headers.contains_key(HOST), host) {
        (true, true, _) => {}
        (true, false, Some(host)) => {
            headers.insert(HOST, host);
        }
        // Without `passHostHeader`, or for an HTTP/1.0 request that came without a host, the backend
        // gets its own address, as Go's client sends it.
        _ => {
            headers.insert(HOST, origin.host_header().clone());
        }
    }
}

/// The backend's answer for the client: a switch of protocols tunnelled, hop-by-hop headers removed.
fn answer_from(
    mut response: Response<ResponseBody>,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Response<ResponseBody> {
    let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    let response_upgrade = switching
        .then(|| headers::requested_upgrade(response.headers()))
        .flatten();
    if let (true, Some(client_upgrade)) = (switching, client_upgrade) {
        let backend_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(upgrade::tunnel(client_upgrade, backend_upgrade));
    }
    headers::remove_hop_by_hop(response.headers_mut(), response_upgrade);
    response
}

/// The path and query to send, when they differ from the request URI's origin form: an absolute-form
/// or HTTP/2 request, or `preservePath`. (The entrypoint already turned `;` in queries into `&`.)
fn upstream_path(uri: &Uri, prefix: &str, preserve_path: bool) -> Option<PathAndQuery> {
    let path = uri.path_and_query()?;
    if !preserve_path || prefix.is_empty() {
        // Origin form already: reuse the URI as it is, without copying.
        return uri.scheme().is_some().then(|| path.clone());
    }
    let mut out = String::with_capacity(prefix.len() + path.as_str().len());
    out.push_str(prefix);
    out.push_str(path.as_str());
    PathAndQuery::from_maybe_shared(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_form_is_reused() {
        let uri: Uri = "/a?b=1".parse().unwrap();
        assert_eq!(upstream_path(&uri, "", false), None);
        let absolute: Uri = "http://x/a?b=1".parse().unwrap();
        assert_eq!(upstream_path(&absolute, "", false).unwrap().as_str(), "/a?b=1");
    }

    #[test]
    fn paths_are_preserved() {
        let uri: Uri = "/a?b=1".parse().unwrap();
        assert_eq!(upstream_path(&uri, "/base", true).unwrap().as_str(), "/base/a?b=1");
    }
}
