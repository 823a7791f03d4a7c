//! What a middleware stack adds to a request, measured in process: the typical stack of
//! `benches/load/routes-stack.yml` (headers, stripPrefix, rateLimit, compress) and each of its
//! middlewares alone, against the bare service, on a request and a 13-byte answer like the load
//! harness's. The load test (`benches/load/run.sh`, target `switchyardmw`) measures the same stack
//! end to end.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use http::{Request, Response};
use http_body::Body;
use switchyard_config::{DynamicConfig, Format, load_str};
use switchyard_middleware::{BuildContext, ClientInfo, HttpService, RequestBody, ResponseBody, build, chain};
use tower::ServiceExt;

fn main() {
    divan::main();
}

const STACK: &str = include_str!("../load/routes-stack.yml");

/// Runs a future that never waits (every middleware here answers without I/O).
fn finish<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn backend() -> HttpService {
    HttpService::new(tower::service_fn(|_req: Request<RequestBody>| async {
        Ok::<_, Infallible>(Response::new(ResponseBody::from("Hello, world!")))
    }))
}

/// The stack of the load test's router, or one of its middlewares, around the backend.
fn stack(only: Option<&str>) -> HttpService {
    let config: DynamicConfig = load_str(STACK, Format::Yaml, "routes-stack.yml")
        .expect("the stack file loads")
        .value;
    let router = &config.http.routers["all"];
    let layers: Vec<_> = router
        .middlewares
        .iter()
        .filter(|name| only.is_none_or(|only| only == name.as_str()))
        .map(|name| build(&config.http.middlewares[name], &BuildContext::new(name)).expect("the middleware builds"))
        .collect();
    chain(&layers, backend())
}

/// One request through `service`, its answer read to the end.
fn request(service: &HttpService) -> usize {
    let mut req = Request::get("/api/users?page=2")
        .header("host", "example.com")
        .header("accept-encoding", "gzip, br")
        .header("user-agent", "wrk")
        .body(RequestBody::empty())
        .expect("a valid request");
    req.extensions_mut()
        .insert(ClientInfo::new(IpAddr::V4(Ipv4Addr::LOCALHOST), false));
    let Ok(response) = finish(service.clone().oneshot(req));
    let mut body = pin!(response.into_body());
    let mut read = 0;
    while let Some(Ok(frame)) = finish(std::future::poll_fn(|cx| body.as_mut().poll_frame(cx))) {
        read += frame.data_ref().map_or(0, |d| d.len());
    }
    read
}

#[divan::bench]
fn bare(bencher: divan::Bencher) {
    let service = stack(Some("none"));
    bencher.bench_local(|| request(&service));
}

#[divan::bench]
fn typical_stack(bencher: divan::Bencher) {
    let service = stack(None);
    bencher.bench_local(|| request(&service));
}

#[divan::bench(args = ["security", "strip", "limit", "gzip"])]
fn one(bencher: divan::Bencher, name: &str) {
    let service = stack(Some(name));
    bencher.bench_local(|| request(&service));
}
