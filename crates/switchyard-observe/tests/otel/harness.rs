//! Requests through the observer's layer to a scripted upstream that routes, attempts and answers as
//! the proxy would, recording the headers each attempt was sent with.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use switchyard_config::{Format, StaticConfig, load_str};
use switchyard_middleware::{ClientInfo, HttpService, RequestBody, RequestRecord, ResponseBody, Signals};
use switchyard_observe::Observer;
use tower::{Layer, ServiceExt};

use crate::receiver::Receiver;

/// The upstream server the scripted attempts go to.
pub const SERVER: &str = "http://10.0.0.7:8080";
/// The client the requests come from.
pub const CLIENT: &str = "192.0.2.10:51000";

/// The static configuration of a YAML text.
pub fn config(yaml: &str) -> StaticConfig {
    load_str(yaml, Format::Yaml, "traefik.yml")
        .expect("a valid static configuration")
        .value
}

/// `tracing` exporting to `receiver` over gRPC (insecure), with `extra` lines under `tracing:`.
pub fn grpc_yaml(receiver: &Receiver, extra: &str) -> String {
    format!(
        "tracing:\n  serviceName: edge\n{extra}  otlp:\n    grpc:\n      endpoint: {}\n      insecure: true\n      headers:\n        authorization: Bearer t0k3n\n",
        receiver.addr
    )
}

/// `tracing` exporting to `receiver` over HTTP.
pub fn http_yaml(receiver: &Receiver, extra: &str) -> String {
    format!(
        "tracing:\n  serviceName: edge\n{extra}  otlp:\n    http:\n      endpoint: http://{}\n      headers:\n        x-api-key: k3y\n",
        receiver.addr
    )
}

/// The observer of `yaml`, propagating with `propagators`.
pub fn observer(yaml: &str, propagators: &str) -> Arc<Observer> {
    Observer::from_static(&config(yaml))
        .expect("a valid observability configuration")
        .expect("tracing is configured")
        .with_trace_propagators(propagators)
        .expect("known propagators")
}

/// How one attempt at the upstream ends.
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    Answer(u16),
    Fail(&'static str),
}

/// What the scripted upstream does with each request.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The matched router's tracing switch.
    pub tracing: bool,
    /// The service the router leads to.
    pub service: &'static str,
    /// The attempts, in order; after the first, each is a retry.
    pub outcomes: Vec<Outcome>,
    /// The headers each attempt was sent upstream with.
    pub sent: Arc<Mutex<Vec<HeaderMap>>>,
}

impl Upstream {
    pub fn new(outcomes: &[Outcome]) -> Self {
        Self {
            tracing: true,
            service: "whoami@file",
            outcomes: outcomes.to_vec(),
            sent: Arc::default(),
        }
    }

    /// The headers the attempts were sent with.
    pub fn sent(&self) -> Vec<HeaderMap> {
        self.sent.lock().expect("the sent headers").clone()
    }

    fn service(&self) -> HttpService {
        let script = self.clone();
        HttpService::new(tower::service_fn(move |req: Request<RequestBody>| {
            let script = script.clone();
            async move { Ok::<_, Infallible>(script.handle(req)) }
        }))
    }

    fn handle(&self, req: Request<RequestBody>) -> Response<ResponseBody> {
        let record = Arc::clone(RequestRecord::of(req.extensions()).expect("the observer's record"));
        record.set_router("web@file".into(), Some(Signals::new(true, true, self.tracing)));
        record.set_service(self.service.into());
        let (mut parts, _body) = req.into_parts();
        let mut status = StatusCode::OK;
        for (i, outcome) in self.outcomes.iter().enumerate() {
            if i > 0 {
                record.retried();
            }
            status = self.attempt(&record, &mut parts, *outcome);
        }
        let mut response = Response::new(ResponseBody::from("ok"));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert("x-upstream", http::HeaderValue::from_static("u1"));
        response
    }
}

impl Upstream {
    /// One attempt at [`SERVER`], as the proxy makes it: the status the client gets.
    fn attempt(&self, record: &RequestRecord, parts: &mut http::request::Parts, outcome: Outcome) -> StatusCode {
        let server: Arc<str> = SERVER.into();
        let attempt = record.attempt(parts, &server);
        self.sent.lock().expect("the sent headers").push(parts.headers.clone());
        match outcome {
            Outcome::Answer(code) => {
                let status = StatusCode::from_u16(code).expect("a status code");
                attempt.answered(status);
                status
            }
            Outcome::Fail(cause) => {
                attempt.failed(cause);
                record.set_failure(cause);
                StatusCode::BAD_GATEWAY
            }
        }
    }
}

/// A `GET` of `target` from [`CLIENT`], with `headers`.
pub fn get(target: &str, headers: &[(&str, &str)]) -> Request<RequestBody> {
    let mut builder = Request::get(target).header("host", "example.com");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut req = builder.body(RequestBody::empty()).expect("a request");
    let client: SocketAddr = CLIENT.parse().expect("the client address");
    req.extensions_mut()
        .insert(ClientInfo::new(client.ip(), false).with_port(client.port()));
    req
}

/// Sends `req` through the observer's layer on `web` to `upstream`, and reads the whole response.
pub async fn send(observer: &Arc<Observer>, upstream: &Upstream, req: Request<RequestBody>) -> (StatusCode, Bytes) {
    let service = observer.layer("web").layer(upstream.service());
    let Ok(response) = service.oneshot(req).await;
    let status = response.status();
    let body = response.into_body().collect().await.expect("the response body");
    (status, body.to_bytes())
}

/// Exports what the observer holds, off the test's runtime threads.
pub async fn flush(observer: &Arc<Observer>) {
    let observer = Arc::clone(observer);
    tokio::task::spawn_blocking(move || observer.flush())
        .await
        .expect("the flush");
}
