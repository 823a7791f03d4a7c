//! Middlewares of the user's own: tower layers registered in `Plugins`, configured with
//! `Middleware::plugin`, built by `build` as the proxy builds them.

use std::convert::Infallible;

use http::{HeaderValue, Request, Response};
use serde::{Deserialize, Serialize};
use switchyard_config::Middleware;
use switchyard_middleware::{BuildContext, MiddlewareError, Plugins, RequestBody, ResponseBody, build};
use tower::util::MapRequestLayer;
use tower::{Layer, ServiceExt};

#[derive(Serialize, Deserialize)]
struct Tag {
    value: String,
}

/// A plugin that sets `x-tag` to its configured value: a plain tower layer, no wrapper.
fn plugins() -> Plugins {
    Plugins::new().with_typed("tag", |options: Tag| {
        let value = HeaderValue::from_str(&options.value)?;
        Ok(MapRequestLayer::new(move |mut req: Request<RequestBody>| {
            req.headers_mut().insert("x-tag", value.clone());
            req
        }))
    })
}

#[tokio::test]
async fn a_tower_layer_plugin_configured_from_code_shapes_the_request() {
    let plugins = plugins();
    let config = Middleware::plugin("tag", &Tag { value: "blue".into() }).unwrap();
    let layer = build(&config, &BuildContext::new("tag@code").with_plugins(&plugins)).unwrap();
    let echo = tower::service_fn(|req: Request<RequestBody>| async move {
        let tag = req.headers().get("x-tag").cloned();
        let mut response = Response::new(ResponseBody::empty());
        response
            .headers_mut()
            .extend(tag.map(|v| (http::header::HeaderName::from_static("x-tag"), v)));
        Ok::<_, Infallible>(response)
    });
    let response = layer
        .layer(echo)
        .oneshot(Request::new(RequestBody::empty()))
        .await
        .unwrap();
    assert_eq!(response.headers()["x-tag"], "blue");
}

#[test]
fn options_the_plugin_refuses_are_its_build_error() {
    let plugins = plugins();
    let config = Middleware::plugin("tag", &Tag { value: "a\nb".into() }).unwrap();
    let error = build(&config, &BuildContext::new("tag@code").with_plugins(&plugins)).unwrap_err();
    assert!(
        matches!(&error, MiddlewareError::Plugin { name, .. } if name == "tag"),
        "{error}"
    );
}
