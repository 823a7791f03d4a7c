//! Answers HTTP requests: discovery, get, list, watch, create and replace, and status updates.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::merge_patch::merge_patch;
use crate::selector::Selector;
use crate::store::{ObjectKey, TypeKey, WatchFilter};
use crate::watch_body::WatchBody;
use crate::{Shared, query};

/// Every response body.
pub(crate) type ResponseBody = BoxBody<Bytes, Infallible>;

/// How long a watch lasts when the client gives no `timeoutSeconds`.
const DEFAULT_WATCH: Duration = Duration::from_secs(1800);

/// One kind of access a client made, as RBAC rules see it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Access {
    /// `get`, `list`, `watch`, `create`, `patch` or `update`.
    pub verb: &'static str,
    /// The API group; empty for the core group.
    pub group: String,
    /// The resource (`ingresses`), with `/status` for the subresource.
    pub resource: String,
    /// The namespace; empty for cluster-wide requests.
    pub namespace: String,
}

impl Target {
    /// The access this request makes, for resource requests.
    fn access(&self, method: &Method, watch: bool) -> Option<Access> {
        let (verb, (group, plural), namespace, status) = match self {
            Target::Collection { resource, namespace } => {
                let verb = match (*method == Method::POST, watch) {
                    (true, _) => "create",
                    (false, true) => "watch",
                    (false, false) => "list",
                };
                (verb, resource, namespace.clone().unwrap_or_default(), false)
            }
            Target::Object { key, status } => {
                let verb = match *method {
                    Method::PATCH => "patch",
                    Method::PUT => "update",
                    _ => "get",
                };
                (verb, &key.resource, key.namespace.clone(), *status)
            }
            _ => return None,
        };
        let resource = if status {
            format!("{plural}/status")
        } else {
            plural.clone()
        };
        Some(Access {
            verb,
            group: group.clone(),
            resource,
            namespace,
        })
    }
}

/// What a path names.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Version,
    Groups,
    CoreVersions,
    Resources {
        group: String,
        version: String,
    },
    Collection {
        resource: TypeKey,
        namespace: Option<String>,
    },
    Object {
        key: ObjectKey,
        status: bool,
    },
}

fn target(path: &str) -> Option<Target> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["version"] => return Some(Target::Version),
        ["api"] => return Some(Target::CoreVersions),
        ["apis"] => return Some(Target::Groups),
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let object = |plural: &str, namespace: &str, name: &str, status: bool| Target::Object {
        key: ObjectKey {
            resource: (group.to_owned(), plural.to_owned()),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        },
        status,
    };
    Some(match rest {
        [] => Target::Resources {
            group: group.to_owned(),
            version: version.to_owned(),
        },
        [plural] => Target::Collection {
            resource: (group.to_owned(), (*plural).to_owned()),
            namespace: None,
        },
        ["namespaces", namespace, plural] => Target::Collection {
            resource: (group.to_owned(), (*plural).to_owned()),
            namespace: Some((*namespace).to_owned()),
        },
        [plural, name] => object(plural, "", name, false),
        [plural, name, "status"] => object(plural, "", name, true),
        ["namespaces", namespace, plural, name] => object(plural, namespace, name, false),
        ["namespaces", namespace, plural, name, "status"] => object(plural, namespace, name, true),
        _ => return None,
    })
}

pub(crate) async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Response<ResponseBody> {
    match respond(&shared, request).await {
        Ok(response) => response,
        Err(error) => {
            let (code, _) = error.code_and_reason();
            json_response(
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                &error.status(),
            )
        }
    }
}

async fn respond(shared: &Shared, request: Request<Incoming>) -> Result<Response<ResponseBody>, ApiError> {
    let authorization = request.headers().get(header::AUTHORIZATION).map(|v| v.as_bytes());
    if !shared.authorized(authorization) {
        return Err(ApiError::Unauthorized);
    }
    let target = target(request.uri().path()).ok_or(ApiError::UnknownPath)?;
    let params = query::parse(request.uri().query());
    let method = request.method().clone();
    let watching = params.get("watch").is_some_and(|w| w == "true" || w == "1");
    if let Some(access) = target.access(&method, watching) {
        shared.record(access);
    }
    match (method, target) {
        (Method::GET, Target::Version) => Ok(ok(&json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0-switchyard-test", "platform": "linux/amd64",
        }))),
        (Method::GET, Target::CoreVersions) => Ok(ok(&json!({
            "kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [],
        }))),
        (Method::GET, Target::Groups) => Ok(ok(&shared.groups())),
        (Method::GET, Target::Resources { group, version }) => Ok(ok(&shared.resources(&group, &version))),
        (Method::GET, Target::Collection { resource, namespace }) => {
            let selector = Selector::parse(params.get("labelSelector").map_or("", String::as_str))?;
            if watching {
                watch(shared, resource, namespace, selector, &params)
            } else {
                list(shared, &resource, namespace.as_deref(), &selector)
            }
        }
        (Method::GET, Target::Object { key, .. }) => {
            let store = shared.store();
            let object = store.get(&key).ok_or_else(|| not_found(&key))?;
            Ok(ok(object))
        }
        (Method::PUT | Method::PATCH, Target::Object { key, status: true }) => {
            let patch = request.method() == Method::PATCH;
            let body = json_body(request).await?;
            let response = update_status(shared, &key, body, patch)?;
            shared.wrote(&key);
            Ok(response)
        }
        (Method::PUT, Target::Object { key, status: false }) => {
            let body = json_body(request).await?;
            let response = replace(shared, &key, body)?;
            shared.wrote(&key);
            Ok(response)
        }
        (Method::PATCH, Target::Object { key, status: false }) => {
            let body = json_body(request).await?;
            let response = patch(shared, &key, &body)?;
            shared.wrote(&key);
            Ok(response)
        }
        (Method::POST, Target::Collection { resource, namespace }) => {
            let body = json_body(request).await?;
            let name = body
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::BadRequest("metadata.name is required".to_owned()))?;
            let key = ObjectKey {
                resource,
                namespace: namespace.unwrap_or_default(),
                name: name.to_owned(),
            };
            let response = create(shared, &key, body)?;
            shared.wrote(&key);
            Ok(response)
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

fn list(
    shared: &Shared,
    resource: &TypeKey,
    namespace: Option<&str>,
    selector: &Selector,
) -> Result<Response<ResponseBody>, ApiError> {
    let store = shared.store();
    let kind = store.resource(resource).ok_or(ApiError::UnknownPath)?;
    // Every list is answered in one page, which the API allows whatever `limit` asks for.
    let body = json!({
        "kind": format!("{}List", kind.kind),
        "apiVersion": kind.api_version(),
        "metadata": {"resourceVersion": store.revision().to_string()},
        "items": store.list(resource, namespace, selector),
    });
    Ok(ok(&body))
}

fn watch(
    shared: &Shared,
    resource: TypeKey,
    namespace: Option<String>,
    selector: Selector,
    params: &std::collections::BTreeMap<String, String>,
) -> Result<Response<ResponseBody>, ApiError> {
    if let Some(code) = shared.injected_watch_failure() {
        return Err(ApiError::Injected(code));
    }
    let from = match params.get("resourceVersion").map(String::as_str) {
        None | Some("") => None,
        Some(version) => Some(
            version
                .parse::<u64>()
                .map_err(|_| ApiError::BadRequest(format!("invalid resourceVersion {version:?}")))?,
        ),
    };
    let mut timeout = params
        .get("timeoutSeconds")
        .and_then(|s| s.parse().ok())
        .map_or(DEFAULT_WATCH, Duration::from_secs);
    if let Some(limit) = shared.watch_limit() {
        timeout = timeout.min(limit);
    }
    let filter = WatchFilter {
        resource,
        namespace,
        selector,
        bookmarks: params.get("allowWatchBookmarks").is_some_and(|b| b == "true"),
    };
    let mut store = shared.store();
    if store.resource(&filter.resource).is_none() {
        return Err(ApiError::UnknownPath);
    }
    let events = match store.watch(filter, from) {
        Ok(events) => events,
        // As the API server does, a too-old version is an ERROR event in a successful watch response.
        Err(expired @ ApiError::Expired { .. }) => {
            let (sender, events) = tokio::sync::mpsc::unbounded_channel();
            let _ = sender.send(crate::store::event_line("ERROR", &expired.status()));
            events
        }
        Err(other) => return Err(other),
    };
    drop(store);
    let body = WatchBody {
        events,
        deadline: Box::pin(tokio::time::sleep(timeout)),
    };
    let mut response = Response::new(body.boxed());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/json".parse().expect("a valid header value"),
    );
    Ok(response)
}

async fn json_body(request: Request<Incoming>) -> Result<Value, ApiError> {
    let body = request
        .into_body()
        .collect()
        .await
        .map_err(|err| ApiError::BadRequest(err.to_string()))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|err| ApiError::BadRequest(err.to_string()))
}

/// `POST`: stores a new object, 409 `AlreadyExists` when one has its name.
fn create(shared: &Shared, key: &ObjectKey, mut object: Value) -> Result<Response<ResponseBody>, ApiError> {
    let mut store = shared.store();
    if store.resource(&key.resource).is_none() {
        return Err(ApiError::UnknownPath);
    }
    if store.get(key).is_some() {
        return Err(ApiError::AlreadyExists {
            plural: key.resource.1.clone(),
            name: key.name.clone(),
        });
    }
    if !key.namespace.is_empty() {
        object["metadata"]["namespace"] = json!(key.namespace);
    }
    let stored = store.put(key.clone(), object);
    Ok(json_response(StatusCode::CREATED, &stored))
}

/// `PUT` of a whole object: replaces it (its status kept), 409 `Conflict` when the body names a stale
/// `resourceVersion`.
fn replace(shared: &Shared, key: &ObjectKey, mut object: Value) -> Result<Response<ResponseBody>, ApiError> {
    let mut store = shared.store();
    let current = store.get(key).ok_or_else(|| not_found(key))?;
    let sent = object.pointer("/metadata/resourceVersion").and_then(Value::as_str);
    if sent.is_some_and(|version| Some(version) != current.pointer("/metadata/resourceVersion").and_then(Value::as_str))
    {
        return Err(ApiError::Conflict);
    }
    object["status"] = current.get("status").cloned().unwrap_or(Value::Null);
    if object["status"].is_null()
        && let Some(fields) = object.as_object_mut()
    {
        fields.remove("status");
    }
    let stored = store.put(key.clone(), object);
    Ok(ok(&stored))
}

/// `PATCH` of a whole object, applied as a JSON merge patch (exact for the Event series and the
/// metadata clients patch); its status is kept, as the main resource's patches keep it.
fn patch(shared: &Shared, key: &ObjectKey, body: &Value) -> Result<Response<ResponseBody>, ApiError> {
    let mut store = shared.store();
    let mut object = store.get(key).ok_or_else(|| not_found(key))?.clone();
    let status = object.get("status").cloned();
    merge_patch(&mut object, body);
    match status {
        Some(status) => object["status"] = status,
        None => {
            if let Some(fields) = object.as_object_mut() {
                fields.remove("status");
            }
        }
    }
    let stored = store.put(key.clone(), object);
    Ok(ok(&stored))
}

fn update_status(
    shared: &Shared,
    key: &ObjectKey,
    body: Value,
    patch: bool,
) -> Result<Response<ResponseBody>, ApiError> {
    let mut store = shared.store();
    let mut object = store.get(key).ok_or_else(|| not_found(key))?.clone();
    let status = if patch {
        // Merge, strategic-merge and apply patches are all applied as JSON merge patches: exact for the
        // status fields providers write.
        let mut patched = object.clone();
        merge_patch(&mut patched, &body);
        patched.get("status").cloned()
    } else {
        let sent = body.pointer("/metadata/resourceVersion").and_then(Value::as_str);
        if sent
            .is_some_and(|version| Some(version) != object.pointer("/metadata/resourceVersion").and_then(Value::as_str))
        {
            return Err(ApiError::Conflict);
        }
        body.get("status").cloned()
    };
    object["status"] = status.unwrap_or(Value::Null);
    let stored = store.put(key.clone(), object);
    Ok(ok(&stored))
}

fn not_found(key: &ObjectKey) -> ApiError {
    ApiError::NotFound {
        plural: key.resource.1.clone(),
        name: key.name.clone(),
    }
}

fn ok(body: &Value) -> Response<ResponseBody> {
    json_response(StatusCode::OK, body)
}

fn json_response(status: StatusCode, body: &Value) -> Response<ResponseBody> {
    let bytes = Bytes::from(serde_json::to_vec(body).unwrap_or_default());
    let mut response = Response::new(Full::new(bytes).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/json".parse().expect("a valid header value"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_collections_objects_and_status() {
        assert_eq!(
            target("/apis/networking.k8s.io/v1/namespaces/default/ingresses"),
            Some(Target::Collection {
                resource: ("networking.k8s.io".into(), "ingresses".into()),
                namespace: Some("default".into()),
            })
        );
        assert!(matches!(
            target("/api/v1/namespaces/default/services/web/status"),
            Some(Target::Object { status: true, .. })
        ));
        assert!(matches!(
            target("/api/v1/namespaces/kube-system"),
            Some(Target::Object { status: false, .. })
        ));
        assert_eq!(target("/healthz"), None);
    }
}
