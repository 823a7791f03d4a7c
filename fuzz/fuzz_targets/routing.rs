//! Arbitrary requests through a running gateway's router (in process, by its tower `Service`), with
//! real backends on loopback that echo the path they receive. The configuration keeps `/admin` for
//! `10.0.0.0/8` and sends the rest of the paths to a public backend; the fuzzed client is 192.0.2.1.
//!
//! Properties: never a panic or a 500; the admin backend is never reached; no path the public
//! backend receives means `/admin` to a backend that decodes escapes, reads `\` as `/`, drops `;`
//! parameters and resolves dot segments; and a received path sent again is received unchanged by the
//! same backend (cleaning never routes a path differently from its re-sanitisation).
#![no_main]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use libfuzzer_sys::fuzz_target;
use switchyard_config::{DynamicConfig, EntryPoint, Format, MemoryProvider, StaticConfig, load_str};
use switchyard_proxy::{Gateway, PeerAddr, RouterService, RunningGateway};
use tokio::runtime::Runtime;
use tower_service::Service;

const CONFIG: &str = r#"
http:
  routers:
    admin:
      rule: "PathPrefix(`/admin`) && ClientIP(`10.0.0.0/8`)"
      service: admin
    public:
      rule: "PathPrefix(`/`) && !PathPrefix(`/admin`)"
      service: public
    internal-host:
      rule: "Host(`internal.example.com`) && !ClientIP(`192.0.2.0/24`)"
      service: admin
      priority: 1000
    api:
      rule: "Host(`api.example.com`) && (Path(`/v1/users`) || PathRegexp(`^/v1/items/[0-9]+$`)) && (Method(`GET`) || Method(`HEAD`))"
      service: public
      middlewares: [strip]
  middlewares:
    strip:
      stripPrefix:
        prefixes: ["/v1"]
  services:
    admin:
      loadBalancer:
        servers: [{url: "http://ADMIN"}]
    public:
      loadBalancer:
        servers: [{url: "http://PUBLIC"}]
"#;

struct World {
    runtime: Runtime,
    router: RouterService,
    _gateway: RunningGateway,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let gateway = runtime.block_on(async {
            let admin = backend("admin").await;
            let public = backend("public").await;
            let text = CONFIG
                .replace("ADMIN", &admin.to_string())
                .replace("PUBLIC", &public.to_string());
            let dynamic: DynamicConfig = load_str(&text, Format::Yaml, "fuzz").unwrap().value;
            let mut static_config = StaticConfig::default();
            static_config
                .entry_points
                .insert("web".into(), EntryPoint::new("127.0.0.1:0"));
            let (provider, _handle) = MemoryProvider::new("fuzz", dynamic);
            let gateway = Gateway::new(&static_config)
                .provider(provider)
                .throttle(std::time::Duration::ZERO)
                .start()
                .await
                .unwrap();
            let snapshot = gateway.wait_for(|s| s.generation() > 0).await;
            assert!(snapshot.report().errors().next().is_none(), "{:?}", snapshot.report());
            gateway
        });
        World {
            router: gateway.service("web").unwrap(),
            runtime,
            _gateway: gateway,
        }
    })
}

/// A backend answering with its name, and the request target it received in `x-seen`.
async fn backend(name: &'static str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| async move {
                        let seen = request.uri().to_string();
                        let response = http::Response::builder()
                            .header("x-seen", seen)
                            .body(Full::new(Bytes::from_static(name.as_bytes())))
                            .unwrap();
                        Ok::<_, Infallible>(response)
                    });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    method: &'a str,
    target: &'a str,
    host: Option<&'a [u8]>,
    headers: Vec<(&'a str, &'a [u8])>,
}

/// Who answered, the status, and the target the backend received.
type Answer = (http::StatusCode, Bytes, Option<String>);

fn send(world: &World, method: &str, target: &str, host: Option<&[u8]>, headers: &[(&str, &[u8])]) -> Option<Answer> {
    let mut builder = http::Request::builder().method(method).uri(target);
    if let Some(host) = host {
        builder = builder.header(http::header::HOST, host);
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut request = builder.body(Empty::<Bytes>::new()).ok()?;
    request
        .extensions_mut()
        .insert(PeerAddr("192.0.2.1:40000".parse().unwrap()));
    let mut router = world.router.clone();
    world.runtime.block_on(async move {
        let response = router.call(request).await.unwrap();
        let status = response.status();
        // The target came from a `&str` (a path may hold raw UTF-8, which `http` accepts).
        let seen = response
            .headers()
            .get("x-seen")
            .map(|v| String::from_utf8(v.as_bytes().to_vec()).unwrap());
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Some((status, body, seen))
    })
}

/// The path as a lax backend reads it.
fn lax(target: &str) -> String {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let decoded: Vec<u8> = percent_decode(path.as_bytes());
    let text = String::from_utf8_lossy(&decoded).replace('\\', "/");
    let mut out: Vec<&str> = Vec::new();
    for segment in text.split('/') {
        let segment = segment.split(';').next().unwrap_or_default();
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    format!("/{}", out.join("/"))
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fuzz_target!(|input: Input<'_>| {
    let world = world();
    let Some((status, body, seen)) = send(world, input.method, input.target, input.host, &input.headers) else {
        return;
    };
    assert_ne!(status, http::StatusCode::INTERNAL_SERVER_ERROR, "{input:?}");
    assert_ne!(&body[..], b"admin", "the admin backend answered {input:?}");
    let Some(seen) = seen else { return };
    assert!(
        !lax(&seen).starts_with("/admin"),
        "the public backend received {seen:?}, which a lax backend reads as {:?}, for {input:?}",
        lax(&seen)
    );
    // The api router strips `/v1`, so its backend sees another path than was routed; an absolute
    // target's authority is not in what the backend received.
    if seen.contains("/users") || seen.contains("/items/") || !input.target.starts_with('/') {
        return;
    }
    let again = send(world, input.method, &seen, input.host, &input.headers);
    assert_eq!(
        again,
        Some((status, body, Some(seen.clone()))),
        "{seen:?} sent again is routed otherwise, for {input:?}"
    );
});
