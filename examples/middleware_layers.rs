//! Traefik's middlewares as tower layers, around a service of your own, without a gateway.
//!
//! Run with `cargo run --example middleware_layers`. The built-in middlewares of
//! `switchyard::middleware::layers` are composed with `tower::ServiceBuilder` around a plain tower
//! service, as a Traefik router would chain `ipAllowList`, `basicAuth`, `stripPrefix` and `headers`:
//! each layer is built from its configuration type and checked there. Requests go through the stack
//! in process, without sockets; the service answers with what reached it.

use std::convert::Infallible;
use std::net::IpAddr;

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use switchyard::config::{BasicAuth, Headers, IpAllowList, StripPrefix};
use switchyard::middleware::layers::{BasicAuthLayer, HeadersLayer, IpAllowListLayer, StripPrefixLayer};
use switchyard::middleware::{BoxError, ClientInfo, HttpService, MiddlewareError, RequestBody, ResponseBody};
use tower::{ServiceBuilder, ServiceExt};

/// `alice:secret`, hashed as `htpasswd -s` does.
const ALICE: &str = "alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=";

/// What one request was, and what it got.
#[derive(Debug)]
pub struct Exchange {
    /// The request, described.
    pub request: &'static str,
    /// The status answered.
    pub status: StatusCode,
    /// The body answered.
    pub body: String,
}

/// The service the middlewares protect: it answers with the path and the headers it received.
async fn orders(req: Request<RequestBody>) -> Result<Response<ResponseBody>, Infallible> {
    let mut text = format!("orders got {}", req.uri());
    for name in ["x-forwarded-prefix", "x-user", "x-tenant"] {
        if let Some(value) = req.headers().get(name).and_then(|v| v.to_str().ok()) {
            text.push_str(&format!("; {name}: {value}"));
        }
    }
    Ok(Response::new(ResponseBody::from(text)))
}

/// The stack: only the office network, then only alice, then `/api` stripped and the tenant added.
pub fn stack() -> Result<HttpService, MiddlewareError> {
    let office = IpAllowList {
        source_range: vec!["10.0.0.0/8".into()],
        ..IpAllowList::default()
    };
    let auth = BasicAuth {
        users: vec![ALICE.into()],
        header_field: "X-User".into(),
        remove_header: true,
        ..BasicAuth::default()
    };
    let strip = StripPrefix {
        prefixes: vec!["/api".into()],
        ..StripPrefix::default()
    };
    let mut tenant = Headers::default();
    tenant.custom_request_headers.insert("X-Tenant".into(), "acme".into());
    let stack = ServiceBuilder::new()
        .layer(IpAllowListLayer::new(office)?)
        .layer(BasicAuthLayer::new(auth)?)
        .layer(StripPrefixLayer::new(strip)?)
        .layer(HeadersLayer::new(tenant)?)
        .service(tower::service_fn(orders));
    Ok(stack)
}

/// A request for `path` from `client`, with `authorization` when given. The proxy sets the
/// `ClientInfo` extension from the connection; a stack of your own sets it itself.
fn request(path: &str, client: IpAddr, authorization: Option<&str>) -> Request<RequestBody> {
    let mut builder = Request::get(path);
    if let Some(credentials) = authorization {
        builder = builder.header("authorization", credentials);
    }
    let mut req = builder.body(RequestBody::empty()).expect("a valid request");
    req.extensions_mut().insert(ClientInfo::new(client, false));
    req
}

/// Sends four requests through the stack and returns what each got.
pub async fn run() -> Result<Vec<Exchange>, BoxError> {
    let stack = stack()?;
    let office: IpAddr = "10.1.2.3".parse()?;
    let outside: IpAddr = "203.0.113.9".parse()?;
    let alice = Some("Basic YWxpY2U6c2VjcmV0");
    let cases = [
        (
            "alice, from the office: GET /api/orders?page=2",
            request("/api/orders?page=2", office, alice),
        ),
        (
            "nobody, from the office: GET /api/orders",
            request("/api/orders", office, None),
        ),
        (
            "alice, from outside: GET /api/orders",
            request("/api/orders", outside, alice),
        ),
        (
            "alice, from the office: GET /api/../admin",
            request("/api/../admin", office, alice),
        ),
    ];
    let mut exchanges = Vec::new();
    for (description, req) in cases {
        let response = stack.clone().oneshot(req).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        exchanges.push(Exchange {
            request: description,
            status,
            body: String::from_utf8_lossy(&body).trim_end().to_owned(),
        });
    }
    Ok(exchanges)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    for exchange in run().await? {
        println!("{}\n  -> {} {}\n", exchange.request, exchange.status, exchange.body);
    }
    Ok(())
}
