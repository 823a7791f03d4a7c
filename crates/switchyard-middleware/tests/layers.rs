//! The built-in middlewares as tower layers, composed in a stack of the user's own.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode};
use switchyard_config::{Headers, StripPrefix};
use switchyard_middleware::layers::{HeadersLayer, StripPrefixLayer};
use switchyard_middleware::{RequestBody, ResponseBody};
use tower::{ServiceBuilder, ServiceExt};

/// What reached the service: its URI and its `x-tenant` header.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

fn recording_service(
    seen: Seen,
) -> impl tower::Service<Request<RequestBody>, Response = Response<ResponseBody>, Error = Infallible, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static {
    tower::service_fn(move |req: Request<RequestBody>| {
        let tenant = req
            .headers()
            .get("x-tenant")
            .map(|v| v.to_str().expect("a text header").to_owned());
        seen.lock().expect("not poisoned").push((req.uri().to_string(), tenant));
        async { Ok::<_, Infallible>(Response::new(ResponseBody::from("ok"))) }
    })
}

fn tenant_headers() -> Headers {
    let mut headers = Headers::default();
    headers.custom_request_headers.insert("X-Tenant".into(), "acme".into());
    headers
        .custom_response_headers
        .insert("X-Served-By".into(), "edge".into());
    headers
}

#[tokio::test]
async fn two_layers_in_a_service_builder_shape_the_request_the_service_gets() {
    let seen = Seen::default();
    let strip = StripPrefix {
        prefixes: vec!["/api".into()],
        ..Default::default()
    };
    let service = ServiceBuilder::new()
        .layer(StripPrefixLayer::new(strip).unwrap())
        .layer(HeadersLayer::new(tenant_headers()).unwrap())
        .service(recording_service(Arc::clone(&seen)));

    let request = Request::get("/api/orders?page=2").body(RequestBody::empty()).unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-served-by"], "edge");

    // A path that would climb out once stripped is refused before the service sees it.
    let climbing = Request::get("/api/../admin").body(RequestBody::empty()).unwrap();
    assert_eq!(
        service.oneshot(climbing).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );

    let seen = seen.lock().unwrap();
    assert_eq!(*seen, [("/orders?page=2".to_owned(), Some("acme".to_owned()))]);
}

#[test]
fn a_layer_is_checked_when_it_is_built() {
    let mut headers = Headers::default();
    headers.custom_request_headers.insert("Bad Name".into(), "x".into());
    let error = HeadersLayer::new(headers).unwrap_err();
    assert_eq!(error.field(), "customRequestHeaders.Bad Name");
}
