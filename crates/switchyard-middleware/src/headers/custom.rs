//! `customRequestHeaders` and `customResponseHeaders`: each entry replaces every value of its header, or
//! removes the header when its value is empty.

use std::collections::BTreeMap;

use http::header::HOST;
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use switchyard_config::Headers;

use super::{header_name, header_value};
use crate::{MiddlewareError, OmitForwardedFor, RequestBody};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// One configured header.
#[derive(Debug, Clone)]
enum Change {
    Set(HeaderName, HeaderValue),
    Remove(HeaderName),
}

/// The custom headers of both directions.
#[derive(Debug, Clone, Default)]
pub(super) struct CustomHeaders {
    request: Vec<Change>,
    response: Vec<Change>,
}

impl CustomHeaders {
    pub(super) fn build(config: &Headers) -> Result<Self, MiddlewareError> {
        Ok(Self {
            request: changes("customRequestHeaders", &config.custom_request_headers, true)?,
            response: changes("customResponseHeaders", &config.custom_response_headers, false)?,
        })
    }

    pub(super) fn apply_to_request(&self, req: &mut Request<RequestBody>) {
        apply(&self.request, req.headers_mut());
        if self
            .request
            .iter()
            .any(|c| matches!(c, Change::Remove(name) if name == X_FORWARDED_FOR))
        {
            // Traefik sends no `X-Forwarded-For` at all when it is configured empty.
            req.extensions_mut().insert(OmitForwardedFor);
        }
    }

    pub(super) fn apply_to_response(&self, headers: &mut HeaderMap) {
        apply(&self.response, headers);
    }
}

fn apply(changes: &[Change], headers: &mut HeaderMap) {
    for change in changes {
        match change {
            Change::Set(name, value) => {
                headers.insert(name, value.clone());
            }
            Change::Remove(name) => {
                headers.remove(name);
            }
        }
    }
}

fn changes(field: &str, map: &BTreeMap<String, String>, request: bool) -> Result<Vec<Change>, MiddlewareError> {
    let mut changes = Vec::with_capacity(map.len());
    for (name, value) in map {
        let key = format!("{field}.{name}");
        let header = header_name(key.as_str(), name)?;
        if value.is_empty() {
            // Go keeps a request's host outside its header map, so removing `Host` changes nothing there;
            // here it would make the proxy forward the backend's own host instead.
            if !(request && header == HOST) {
                changes.push(Change::Remove(header));
            }
        } else {
            changes.push(Change::Set(header, header_value(key, value)?));
        }
    }
    Ok(changes)
}
