//! The typed specs of the Gateway API kinds, for the fields switchyard applies. Fields a spec holds
//! that these types do not know are reported as unknown keys (so as not applied), never dropped
//! silently.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::Deserialize;

/// `GatewayClass.spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GatewayClassSpec {
    pub(crate) controller_name: String,
}

/// `Gateway.spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GatewaySpec {
    /// Read before the spec, to know whether the Gateway is ours; here so as not to be reported.
    #[serde(rename = "gatewayClassName")]
    pub(crate) _class: String,
    #[serde(default)]
    pub(crate) listeners: Vec<Listener>,
    #[serde(default)]
    pub(crate) infrastructure: Option<Infrastructure>,
}

/// `spec.infrastructure`: labels and annotations for generated resources (switchyard generates
/// none), and a reference to parameters of a kind switchyard does not have.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Infrastructure {
    #[serde(default, rename = "labels")]
    pub(crate) _labels: Option<serde_json::Value>,
    #[serde(default, rename = "annotations")]
    pub(crate) _annotations: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) parameters_ref: Option<ParametersReference>,
}

/// `spec.infrastructure.parametersRef`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ParametersReference {
    #[serde(default)]
    pub(crate) group: String,
    #[serde(default)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) name: String,
}

/// One listener of a Gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Listener {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) hostname: Option<String>,
    pub(crate) port: i32,
    pub(crate) protocol: String,
    #[serde(default)]
    pub(crate) tls: Option<ListenerTls>,
    #[serde(default)]
    pub(crate) allowed_routes: Option<AllowedRoutes>,
}

/// `listeners[].tls`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListenerTls {
    #[serde(default)]
    pub(crate) mode: Option<String>,
    #[serde(default)]
    pub(crate) certificate_refs: Vec<ObjectReference>,
}

/// A reference to an object by group, kind, name and namespace.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ObjectReference {
    #[serde(default)]
    pub(crate) group: Option<String>,
    #[serde(default)]
    pub(crate) kind: Option<String>,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
}

/// `listeners[].allowedRoutes`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AllowedRoutes {
    #[serde(default)]
    pub(crate) namespaces: Option<RouteNamespaces>,
    #[serde(default)]
    pub(crate) kinds: Option<Vec<RouteGroupKind>>,
}

/// `allowedRoutes.namespaces`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RouteNamespaces {
    #[serde(default)]
    pub(crate) from: Option<String>,
    #[serde(default)]
    pub(crate) selector: Option<LabelSelector>,
}

/// A route kind a listener allows.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RouteGroupKind {
    #[serde(default)]
    pub(crate) group: Option<String>,
    pub(crate) kind: String,
}

/// `HTTPRoute.spec` and `GRPCRoute.spec`, whose rules are read by kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HttpRouteSpec {
    #[serde(default)]
    pub(crate) parent_refs: Vec<ParentReference>,
    #[serde(default)]
    pub(crate) hostnames: Vec<String>,
    #[serde(default)]
    pub(crate) rules: Vec<serde_json::Value>,
}

/// A route's reference to a Gateway (or one of its listeners).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ParentReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) namespace: Option<String>,
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) section_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) port: Option<i32>,
}

/// One rule of an HTTPRoute, read on its own so that a bad rule costs only itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HttpRouteRule {
    /// A rule's name only names it; here so as not to be reported.
    #[serde(default, rename = "name")]
    pub(crate) _name: Option<String>,
    #[serde(default)]
    pub(crate) matches: Option<Vec<HttpRouteMatch>>,
    #[serde(default)]
    pub(crate) filters: Vec<HttpRouteFilter>,
    #[serde(default)]
    pub(crate) backend_refs: Vec<HttpBackendRef>,
    #[serde(default)]
    pub(crate) timeouts: Option<HttpRouteTimeouts>,
}

/// One rule of a GRPCRoute.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GrpcRouteRule {
    /// A rule's name only names it; here so as not to be reported.
    #[serde(default, rename = "name")]
    pub(crate) _name: Option<String>,
    #[serde(default)]
    pub(crate) matches: Option<Vec<GrpcRouteMatch>>,
    #[serde(default)]
    pub(crate) filters: Vec<HttpRouteFilter>,
    #[serde(default)]
    pub(crate) backend_refs: Vec<HttpBackendRef>,
}

/// One way a GRPCRoute rule matches requests.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GrpcRouteMatch {
    #[serde(default)]
    pub(crate) method: Option<GrpcMethodMatch>,
    #[serde(default)]
    pub(crate) headers: Vec<ValueMatch>,
}

/// `matches[].method` of a GRPCRoute.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GrpcMethodMatch {
    #[serde(default, rename = "type")]
    pub(crate) type_: Option<String>,
    #[serde(default)]
    pub(crate) service: Option<String>,
    #[serde(default)]
    pub(crate) method: Option<String>,
}

/// `rules[].timeouts`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HttpRouteTimeouts {
    #[serde(default)]
    pub(crate) request: Option<String>,
    #[serde(default)]
    pub(crate) backend_request: Option<String>,
}

/// One way a rule matches requests: every condition given must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HttpRouteMatch {
    #[serde(default)]
    pub(crate) path: Option<HttpPathMatch>,
    #[serde(default)]
    pub(crate) headers: Vec<ValueMatch>,
    #[serde(default)]
    pub(crate) query_params: Vec<ValueMatch>,
    #[serde(default)]
    pub(crate) method: Option<String>,
}

/// `matches[].path`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HttpPathMatch {
    #[serde(default, rename = "type")]
    pub(crate) type_: Option<String>,
    #[serde(default)]
    pub(crate) value: Option<String>,
}

/// A header or query parameter match.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ValueMatch {
    #[serde(default, rename = "type")]
    pub(crate) type_: Option<String>,
    pub(crate) name: String,
    pub(crate) value: String,
}

/// A filter of a rule or of a backend.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HttpRouteFilter {
    #[serde(rename = "type")]
    pub(crate) type_: String,
    #[serde(default)]
    pub(crate) request_header_modifier: Option<HeaderModifier>,
    #[serde(default)]
    pub(crate) response_header_modifier: Option<HeaderModifier>,
    #[serde(default)]
    pub(crate) request_redirect: Option<RequestRedirect>,
    #[serde(default)]
    pub(crate) url_rewrite: Option<UrlRewrite>,
    #[serde(default)]
    pub(crate) extension_ref: Option<LocalObjectReference>,
    #[serde(default)]
    pub(crate) request_mirror: Option<RequestMirror>,
    #[serde(default)]
    pub(crate) cors: Option<Cors>,
}

/// `requestMirror`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RequestMirror {
    pub(crate) backend_ref: HttpBackendRef,
    #[serde(default)]
    pub(crate) percent: Option<u32>,
    #[serde(default)]
    pub(crate) fraction: Option<Fraction>,
}

/// A fraction of requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Fraction {
    pub(crate) numerator: u32,
    #[serde(default)]
    pub(crate) denominator: Option<u32>,
}

/// `cors`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Cors {
    #[serde(default)]
    pub(crate) allow_origins: Vec<String>,
    #[serde(default)]
    pub(crate) allow_credentials: Option<bool>,
    #[serde(default)]
    pub(crate) allow_methods: Vec<String>,
    #[serde(default)]
    pub(crate) allow_headers: Vec<String>,
    #[serde(default)]
    pub(crate) expose_headers: Vec<String>,
    #[serde(default)]
    pub(crate) max_age: Option<i64>,
}

/// `requestHeaderModifier` and `responseHeaderModifier`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HeaderModifier {
    #[serde(default)]
    pub(crate) set: Vec<Header>,
    #[serde(default)]
    pub(crate) add: Vec<Header>,
    #[serde(default)]
    pub(crate) remove: Vec<String>,
}

/// A header name and value.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Header {
    pub(crate) name: String,
    pub(crate) value: String,
}

/// `requestRedirect`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RequestRedirect {
    #[serde(default)]
    pub(crate) scheme: Option<String>,
    #[serde(default)]
    pub(crate) hostname: Option<String>,
    #[serde(default)]
    pub(crate) path: Option<PathModifier>,
    #[serde(default)]
    pub(crate) port: Option<i32>,
    #[serde(default)]
    pub(crate) status_code: Option<u16>,
}

/// `urlRewrite`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UrlRewrite {
    #[serde(default)]
    pub(crate) hostname: Option<String>,
    #[serde(default)]
    pub(crate) path: Option<PathModifier>,
}

/// A path replacement of a redirect or rewrite.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PathModifier {
    #[serde(rename = "type")]
    pub(crate) type_: String,
    #[serde(default)]
    pub(crate) replace_full_path: Option<String>,
    #[serde(default)]
    pub(crate) replace_prefix_match: Option<String>,
}

/// A reference to an object of the route's namespace.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LocalObjectReference {
    pub(crate) group: String,
    pub(crate) kind: String,
    pub(crate) name: String,
}

/// One backend of a rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HttpBackendRef {
    #[serde(default)]
    pub(crate) group: Option<String>,
    #[serde(default)]
    pub(crate) kind: Option<String>,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) namespace: Option<String>,
    #[serde(default)]
    pub(crate) port: Option<i32>,
    #[serde(default)]
    pub(crate) weight: Option<u32>,
    #[serde(default)]
    pub(crate) filters: Vec<HttpRouteFilter>,
}

/// `ReferenceGrant.spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReferenceGrantSpec {
    #[serde(default)]
    pub(crate) from: Vec<GrantFrom>,
    #[serde(default)]
    pub(crate) to: Vec<GrantTo>,
}

/// Who a ReferenceGrant lets refer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GrantFrom {
    pub(crate) group: String,
    pub(crate) kind: String,
    pub(crate) namespace: String,
}

/// What a ReferenceGrant lets be referred to.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GrantTo {
    pub(crate) group: String,
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) name: Option<String>,
}
