//! Gateway API objects as JSON, a cluster whose gateway is fed by the Gateway API provider, and a
//! client that sends methods and headers.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use serde_json::{Value, json};
use switchyard_kubernetes::{GATEWAY_KINDS, GatewayProvider};
use switchyard_test_apiserver::{ApiServer, ResourceType};

use super::{Client, Cluster, within};

/// The controller name the tests' GatewayClass names.
pub const CONTROLLER: &str = "traefik.io/gateway-controller";

/// Registers the Gateway API kinds, so that they can be watched before any object of them exists.
pub fn register_gateway_kinds(server: &ApiServer) {
    for (api_version, kind) in GATEWAY_KINDS {
        server.register(ResourceType::of(api_version, kind));
    }
}

/// Starts the API server with the Gateway API kinds, a GatewayClass `switchyard` of our controller,
/// then the gateway with the provider built by `configure`; listeners on ports 80 and 443 serve on
/// the `web` entrypoint.
pub async fn start(configure: impl FnOnce(GatewayProvider) -> GatewayProvider) -> Cluster {
    let server = ApiServer::start().await;
    register_gateway_kinds(&server);
    server.apply(gateway_class("switchyard", CONTROLLER));
    let provider = GatewayProvider::endpoint(server.url(), "", None)
        .entry_point("web", 80)
        .entry_point("web", 443);
    Cluster::start_provider(server, configure(provider)).await
}

/// A GatewayClass.
pub fn gateway_class(name: &str, controller: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": name},
        "spec": {"controllerName": controller},
    })
}

/// A Gateway of class `switchyard` with these listeners.
pub fn gateway(namespace: &str, name: &str, listeners: Value) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"gatewayClassName": "switchyard", "listeners": listeners},
    })
}

/// An HTTP listener on port 80 with a hostname (empty for none), accepting routes of all namespaces.
pub fn http_listener(name: &str, hostname: &str) -> Value {
    let mut listener = json!({
        "name": name, "port": 80, "protocol": "HTTP",
        "allowedRoutes": {"namespaces": {"from": "All"}},
    });
    if !hostname.is_empty() {
        listener["hostname"] = json!(hostname);
    }
    listener
}

/// An HTTPRoute with this spec.
pub fn http_route(namespace: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"namespace": namespace, "name": name},
        "spec": spec,
    })
}

/// A backendRef to a Service port, with a weight.
pub fn backend(name: &str, port: u16, weight: u32) -> Value {
    json!({"name": name, "port": port, "weight": weight})
}

/// A ReferenceGrant in `namespace` letting HTTPRoutes of `from` refer to Services.
pub fn grant(namespace: &str, name: &str, from: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "ReferenceGrant",
        "metadata": {"namespace": namespace, "name": name},
        "spec": {
            "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": from}],
            "to": [{"group": "", "kind": "Service"}],
        },
    })
}

/// A request: method, host, path (with its query) and headers; the status, the body and one response
/// header.
pub async fn send(
    client: &Client,
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String, http::HeaderMap) {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("host", host);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        client.request(request.body(Empty::<Bytes>::new()).unwrap()),
    )
    .await
    .expect("request timed out")
    .expect("request failed");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned(), headers)
}

/// The condition of `type_` in a list of conditions.
pub fn condition<'a>(conditions: &'a Value, type_: &str) -> &'a Value {
    conditions
        .as_array()
        .and_then(|all| all.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

/// The status of an object now.
pub fn status(server: &ApiServer, kind: &str, namespace: &str, name: &str) -> Value {
    server
        .get(kind, namespace, name)
        .map(|o| o["status"].clone())
        .unwrap_or(Value::Null)
}

/// Waits until `check` holds for the object's status; panics with the status otherwise.
pub async fn eventually(server: &ApiServer, kind: &str, namespace: &str, name: &str, check: impl Fn(&Value) -> bool) {
    let held = within(Duration::from_secs(15), || async {
        check(&status(server, kind, namespace, name))
    })
    .await;
    if held.is_err() {
        panic!(
            "the status of {kind} {namespace}/{name} never held: {:#}",
            status(server, kind, namespace, name)
        );
    }
}

/// The first route parent entry's condition of `type_`: `(status, reason)`.
pub fn parent_condition(status: &Value, type_: &str) -> (String, String) {
    let found = condition(&status["parents"][0]["conditions"], type_);
    (
        found["status"].as_str().unwrap_or("").to_owned(),
        found["reason"].as_str().unwrap_or("").to_owned(),
    )
}
