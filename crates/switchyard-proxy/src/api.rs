//! The internal API (`api@internal`): read-only JSON of the live configuration, in the shape of Traefik's
//! `/api/http/routers`, `/api/http/services`, `/api/http/middlewares`, `/api/entrypoints`,
//! `/api/tcp/routers|services|middlewares`, `/api/udp/routers|services`, `/api/overview`, `/api/rawdata`
//! and `/api/version`, with Traefik's `search`, `status`, `page` and
//! `per_page` query parameters and `X-Next-Page` header on lists; `/api/explain`, which tells how the
//! live configuration routes a request (see [`explain_response`]); and the dashboard's page (see
//! [`crate::dashboard`]).

use std::collections::BTreeMap;

use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::{HeaderValue, Method, Response, StatusCode};
use serde_json::{Map, Value, json};
use switchyard_config::{ElementReport, HttpConfig, Status};

use crate::explain::{ExplainError, ExplainRequest};
use crate::respond::status_response;
use crate::snapshot::Snapshot;
use switchyard_middleware::ResponseBody;

const DEFAULT_PER_PAGE: usize = 100;

/// Answers one API request from a snapshot.
pub(crate) fn respond(snapshot: &Snapshot, parts: &Parts) -> Response<ResponseBody> {
    // Under `api.basePath`, the API's paths follow the base; other paths are not the API's.
    let Some(path) = parts.uri.path().strip_prefix(snapshot.api.base_path.as_str()) else {
        return status_response(StatusCode::NOT_FOUND);
    };
    if let Some(action) = path.strip_prefix("/api/canary") {
        return canary_response(snapshot, action, parts);
    }
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return status_response(StatusCode::METHOD_NOT_ALLOWED);
    }
    if let Some(response) = crate::dashboard::respond(path).filter(|_| snapshot.api.dashboard) {
        return response;
    }
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(|s| percent_decode(s).unwrap_or_else(|| s.to_owned()))
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let query = Query::parse(parts.uri.query().unwrap_or(""));
    let view = View { snapshot };
    match segments.as_slice() {
        ["api", "version"] => json_response(&json!({ "Version": env!("CARGO_PKG_VERSION"), "Codename": "switchyard" })),
        ["api", "overview"] => json_response(&view.overview()),
        ["api", "explain"] => explain_response(snapshot, parts.uri.query().unwrap_or("")),
        ["api", "rawdata"] => json_response(&view.rawdata()),
        ["api", "entrypoints"] => list_response(&query, snapshot.entry_points.iter().map(|e| json!(e)).collect()),
        ["api", "entrypoints", name] => {
            one_response(snapshot.entry_points.iter().find(|e| e.name == *name).map(|e| json!(e)))
        }
        ["api", "http", kind] => match view.elements(kind) {
            Some(elements) => list_response(&query, elements.into_values().collect()),
            None => status_response(StatusCode::NOT_FOUND),
        },
        ["api", "http", kind, name] => one_response(view.elements(kind).and_then(|mut all| all.remove(*name))),
        ["api", protocol @ ("tcp" | "udp"), kind] => match view.stream_elements(protocol, kind) {
            Some(elements) => list_response(&query, elements.into_values().collect()),
            None => status_response(StatusCode::NOT_FOUND),
        },
        ["api", protocol @ ("tcp" | "udp"), kind, name] => one_response(
            view.stream_elements(protocol, kind)
                .and_then(|mut all| all.remove(*name)),
        ),
        _ => status_response(StatusCode::NOT_FOUND),
    }
}

struct View<'s> {
    snapshot: &'s Snapshot,
}

impl View<'_> {
    fn live(&self) -> &HttpConfig {
        &self.snapshot.published.runtime.config.http
    }

    fn disabled(&self) -> &HttpConfig {
        &self.snapshot.published.runtime.disabled
    }

    /// Every element of a kind (`routers`, `services`, `middlewares`) as Traefik's API shows it.
    fn elements(&self, kind: &str) -> Option<BTreeMap<String, Value>> {
        let report = &self.snapshot.report;
        let (live, disabled) = (self.live(), self.disabled());
        let out = match kind {
            "routers" => describe(&report.routers, |name| {
                let router = live.routers.get(name).or_else(|| disabled.routers.get(name))?;
                let mut value = serde_json::to_value(router).ok()?;
                value["using"] = json!(router.entry_points);
                Some(value)
            }),
            "services" => describe(&report.services, |name| self.service(name)),
            "middlewares" => describe(&report.middlewares, |name| {
                let middleware = live.middlewares.get(name).or_else(|| disabled.middlewares.get(name))?;
                let mut value = serde_json::to_value(middleware).ok()?;
                value["type"] = json!(middleware.kind().to_ascii_lowercase());
                value["usedBy"] = json!(self.used_by(|r| r.middlewares.iter().any(|m| m == name)));
                Some(value)
            }),
            _ => return None,
        };
        Some(out)
    }

    /// Every TCP or UDP element of a kind, as Traefik's API shows it: its definition with name,
    /// provider, status and errors.
    fn stream_elements(&self, protocol: &str, kind: &str) -> Option<BTreeMap<String, Value>> {
        let runtime = &self.snapshot.published.runtime;
        let report = &self.snapshot.report;
        let (tcp, off_tcp) = (&runtime.config.tcp, &runtime.disabled_tcp);
        let (udp, off_udp) = (&runtime.config.udp, &runtime.disabled_udp);
        let out = match (protocol, kind) {
            ("tcp", "routers") => describe(&report.tcp.routers, |n| definition(&tcp.routers, &off_tcp.routers, n)),
            ("tcp", "services") => describe(&report.tcp.services, |n| {
                definition(&tcp.services, &off_tcp.services, n)
            }),
            ("tcp", "middlewares") => describe(&report.tcp.middlewares, |n| {
                definition(&tcp.middlewares, &off_tcp.middlewares, n)
            }),
            ("udp", "routers") => describe(&report.udp.routers, |n| definition(&udp.routers, &off_udp.routers, n)),
            ("udp", "services") => describe(&report.udp.services, |n| {
                definition(&udp.services, &off_udp.services, n)
            }),
            _ => return None,
        };
        Some(out)
    }

    /// A service as Traefik's API shows it: its definition, type, routers and servers' status.
    fn service(&self, name: &str) -> Option<Value> {
        let service = self
            .live()
            .services
            .get(name)
            .or_else(|| self.disabled().services.get(name))?;
        let mut value = serde_json::to_value(service).ok()?;
        value["type"] = json!(service.kind.name().to_ascii_lowercase());
        value["usedBy"] = json!(self.used_by(|r| r.service == name));
        let balancer = self.snapshot.balancers.get(name);
        let status: Map<String, Value> = service
            .server_urls()
            .map(|url| {
                let up = balancer
                    .and_then(|b| b.servers().iter().find(|s| &*s.url == url))
                    .is_none_or(|s| s.stats.is_up());
                (url.to_owned(), json!(if up { "UP" } else { "DOWN" }))
            })
            .collect();
        if !status.is_empty() {
            value["serverStatus"] = Value::Object(status);
        }
        Some(value)
    }

    fn used_by(&self, uses: impl Fn(&switchyard_config::Router) -> bool) -> Vec<&str> {
        let (live, disabled) = (self.live(), self.disabled());
        let mut names: Vec<&str> = live
            .routers
            .iter()
            .chain(&disabled.routers)
            .filter(|(_, r)| uses(r))
            .map(|(n, _)| n.as_str())
            .collect();
        names.sort_unstable();
        names
    }

    fn overview(&self) -> Value {
        let report = &self.snapshot.report;
        let count = |section: &BTreeMap<String, ElementReport>| {
            let of = |status| section.values().filter(|e| e.status == status).count();
            json!({ "total": section.len(), "warnings": of(Status::Warning), "errors": of(Status::Disabled) })
        };
        json!({
            "http": {
                "routers": count(&report.routers),
                "services": count(&report.services),
                "middlewares": count(&report.middlewares),
            },
            "tcp": {
                "routers": count(&report.tcp.routers),
                "services": count(&report.tcp.services),
                "middlewares": count(&report.tcp.middlewares),
            },
            "udp": {
                "routers": count(&report.udp.routers),
                "services": count(&report.udp.services),
            },
            "providers": self.snapshot.published.providers.keys().collect::<Vec<_>>(),
            "generation": self.snapshot.generation,
            "errors": report.general.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })
    }

    fn rawdata(&self) -> Value {
        let section = |kind| Value::Object(self.elements(kind).unwrap_or_default().into_iter().collect());
        json!({ "routers": section("routers"), "services": section("services"), "middlewares": section("middlewares") })
    }
}

/// `/api/explain`: how the live configuration routes the request the query parameters describe, as
/// [`Snapshot::explain`] answers (400 with `{"error": …}` when the description is invalid).
///
/// | parameter | meaning | default |
/// | --- | --- | --- |
/// | `entryPoint` | the entrypoint the request arrives on | the only HTTP entrypoint |
/// | `method` | the method | `GET` |
/// | `url` | an absolute URL (`https://host/path?query`; `https` means TLS with the host as server name) | |
/// | `host`, `path` | instead of `url`: the `Host` and the path with its query | none, `/` |
/// | `header` | a request header, `Name: value`; repeat for more | |
/// | `clientIP` | the client's address, for `ClientIP` rules | `0.0.0.0` |
/// | `tls`, `sni` | whether the request comes over TLS, and the server name of its handshake | `false`, the host |
///
/// Values are percent-decoded; escape `&`, `;` (which the entrypoint reads as `&`, as Go does), `+`
/// and `%` inside them.
fn explain_response(snapshot: &Snapshot, query: &str) -> Response<ResponseBody> {
    let answer = explain_request(query).and_then(|request| snapshot.explain(&request));
    match answer {
        Ok(explanation) => json_response(&json!(explanation)),
        Err(error) => {
            let mut response = json_response(&json!({ "error": error.to_string() }));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
    }
}

/// `/api/canary` (GET: the canary's state and last report) and `/api/canary/confirm` or
/// `/api/canary/discard` (POST, optionally `?generation=N`: the decision on a held configuration;
/// 409 when none is held or another one is).
fn canary_response(snapshot: &Snapshot, action: &str, parts: &Parts) -> Response<ResponseBody> {
    let Some(canary) = &snapshot.canary else {
        let mut response =
            json_response(&json!({ "error": "the canary is off: the static configuration has no `canary` section" }));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    };
    let reading = parts.method == Method::GET || parts.method == Method::HEAD;
    let decide = match action.trim_end_matches('/') {
        "" if reading => {
            return json_response(&json!({
                "hold": canary.holds(),
                "recorded": canary.recorded(),
                "report": canary.report().as_deref(),
            }));
        }
        "/confirm" if parts.method == Method::POST => crate::canary::Canary::confirm,
        "/discard" if parts.method == Method::POST => crate::canary::Canary::discard,
        "" | "/confirm" | "/discard" => return status_response(StatusCode::METHOD_NOT_ALLOWED),
        _ => return status_response(StatusCode::NOT_FOUND),
    };
    let generation = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("generation="));
    let generation = match generation.map(str::parse::<u64>) {
        None => None,
        Some(Ok(generation)) => Some(generation),
        Some(Err(_)) => {
            let mut response = json_response(&json!({ "error": "`generation` is not a number" }));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return response;
        }
    };
    match decide(canary, generation) {
        Ok(generation) => json_response(&json!({ "generation": generation })),
        Err(error) => {
            let mut response = json_response(&json!({ "error": error.to_string() }));
            *response.status_mut() = StatusCode::CONFLICT;
            response
        }
    }
}

/// The request `/api/explain`'s query parameters describe.
fn explain_request(query: &str) -> Result<ExplainRequest, ExplainError> {
    let mut params: Vec<(&str, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(&value.replace('+', " ")).ok_or_else(|| ExplainError::Uri(value.to_owned()))?;
        params.push((key, value));
    }
    let param = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str());
    let method = param("method").unwrap_or("GET");
    let mut request = match param("url") {
        Some(url) => ExplainRequest::new(method, url)?,
        None => ExplainRequest::new(method, param("path").unwrap_or("/"))?,
    };
    if let Some(host) = param("host") {
        request = request.host(host);
    }
    if let Some(name) = param("entryPoint") {
        request = request.entry_point(name);
    }
    if let Some(ip) = param("clientIP") {
        request = request.client_ip(ip.parse().map_err(|_| ExplainError::ClientIp(ip.to_owned()))?);
    }
    if param("tls").is_some() || param("sni").is_some() {
        let tls = param("tls").is_none_or(|t| t == "true" || t == "1");
        let sni = param("sni").or_else(|| param("host").map(|h| h.split(':').next().unwrap_or(h)));
        request = request.tls(tls, sni);
    }
    for (_, header) in params.iter().filter(|(k, _)| *k == "header") {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| ExplainError::Header(header.clone()))?;
        request = request.header(name.trim(), value.trim())?;
    }
    Ok(request)
}

/// The definition of `name`, live or disabled, as JSON.
fn definition<T: serde::Serialize>(
    live: &BTreeMap<String, T>,
    disabled: &BTreeMap<String, T>,
    name: &str,
) -> Option<Value> {
    serde_json::to_value(live.get(name).or_else(|| disabled.get(name))?).ok()
}

/// Adds Traefik's `name`, `provider`, `status` and `error` fields to each element's definition.
fn describe(
    reports: &BTreeMap<String, ElementReport>,
    definition: impl Fn(&str) -> Option<Value>,
) -> BTreeMap<String, Value> {
    reports
        .iter()
        .filter_map(|(name, report)| {
            let mut value = definition(name)?;
            let object = value.as_object_mut()?;
            object.insert("name".into(), json!(name));
            object.insert("provider".into(), json!(report.provider));
            object.insert("status".into(), json!(status_name(report.status)));
            if !report.errors.is_empty() {
                let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
                object.insert("error".into(), json!(errors));
            }
            Some((name.clone(), value))
        })
        .collect()
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Enabled => "enabled",
        Status::Warning => "warning",
        Status::Disabled => "disabled",
    }
}

/// Traefik's list parameters.
struct Query {
    search: String,
    status: String,
    page: usize,
    per_page: usize,
}

impl Query {
    fn parse(query: &str) -> Self {
        let mut out = Self {
            search: String::new(),
            status: String::new(),
            page: 1,
            per_page: DEFAULT_PER_PAGE,
        };
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(&value.replace('+', " ")).unwrap_or_default();
            match key {
                "search" => out.search = value.to_lowercase(),
                "status" => out.status = value,
                "page" => out.page = value.parse().unwrap_or(1).max(1),
                "per_page" => out.per_page = value.parse().unwrap_or(DEFAULT_PER_PAGE).max(1),
                _ => {}
            }
        }
        out
    }

    fn keeps(&self, value: &Value) -> bool {
        let field = |name| value.get(name).and_then(Value::as_str).unwrap_or("");
        (self.status.is_empty() || field("status") == self.status)
            && (self.search.is_empty() || field("name").to_lowercase().contains(&self.search))
    }
}

fn list_response(query: &Query, items: Vec<Value>) -> Response<ResponseBody> {
    let kept: Vec<Value> = items.into_iter().filter(|v| query.keeps(v)).collect();
    let start = (query.page - 1).saturating_mul(query.per_page);
    let end = start.saturating_add(query.per_page).min(kept.len());
    if start > kept.len() || (start == kept.len() && start > 0) {
        return status_response(StatusCode::BAD_REQUEST);
    }
    let next = if end < kept.len() { query.page + 1 } else { 1 };
    let mut response = json_response(&Value::Array(kept[start..end].to_vec()));
    response.headers_mut().insert("x-next-page", HeaderValue::from(next));
    response
}

fn one_response(value: Option<Value>) -> Response<ResponseBody> {
    match value {
        Some(value) => json_response(&value),
        None => status_response(StatusCode::NOT_FOUND),
    }
}

fn json_response(value: &Value) -> Response<ResponseBody> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(ResponseBody::from(bytes::Bytes::from(body)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8 or an escape is broken.
fn percent_decode(input: &str) -> Option<String> {
    if !input.contains('%') {
        return Some(input.to_owned());
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_names_and_queries() {
        assert_eq!(percent_decode("api%40file").as_deref(), Some("api@file"));
        assert_eq!(percent_decode("%zz"), None);
        let query = Query::parse("search=Web&status=enabled&page=2&per_page=5");
        assert_eq!(
            (query.search.as_str(), query.status.as_str(), query.page, query.per_page),
            ("web", "enabled", 2, 5)
        );
    }
}
