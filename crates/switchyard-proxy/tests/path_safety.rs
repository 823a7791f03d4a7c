//! Request paths as Traefik's entrypoints treat them: encoded characters refused, escapes normalized,
//! dot segments and repeated slashes cleaned, so that no spelling of a path reaches a lower-priority
//! router when its cleaned form matches a higher-priority one. Requests go over raw sockets, since
//! client libraries would clean the paths first.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use support::{Backend, RawResponse, TestGateway, raw_exchange, static_config, static_config_with};
use switchyard_config::{
    BasicAuth, DynamicConfig, EncodedCharacters, EntryPoint, LoadBalancer, Middleware, Router, Service, StaticConfig,
};

/// `test` / `test` (MD5, Apache).
const USER: &str = "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/";

/// Spellings of `/admin` and its neighbours, each with a reason to try it.
const SPELLINGS: &[&str] = &[
    "/admin",
    "/admin/",
    "/admin/x",
    "//admin",
    "///admin",
    "/./admin",
    "/x/../admin",
    "/x//../admin",
    "/x/y/../../admin",
    "/../admin",
    "/admin/../admin",
    // encoded dots in every case mix
    "/%2e/admin",
    "/%2E/admin",
    "/x/%2e%2e/admin",
    "/x/%2E%2E/admin",
    "/x/%2e%2E/admin",
    "/x/.%2e/admin",
    "/x/%2E./admin",
    "/%2e%2e/admin",
    // unreserved letters escaped
    "/%61dmin",
    "/%61%64%6D%69%6e",
    "/x/%2e%2e/%61dmin",
    // encoded and raw slashes and backslashes
    "/%2Fadmin",
    "/%2fadmin",
    "/x/..%2fadmin",
    "/x/..%2Fadmin",
    "/\\admin",
    "/x\\..\\admin",
    "/x/..\\admin",
    "/%5Cadmin",
    "/%5cadmin",
    "/x/..%5cadmin",
    // double and overlong encodings
    "/x/%252e%252e/admin",
    "/%252fadmin",
    "/x/%c0%ae%c0%ae/admin",
    "/x/%C0%AE%C0%AE/admin",
    "/%c0%afadmin",
    "/x/%e0%80%ae%e0%80%ae/admin",
    // `;` parameters, raw and encoded
    "/admin;x=1",
    "/x/..;/admin",
    "/x/..;x=1/admin",
    "/.;/admin",
    "/;/admin",
    "/;x=1/admin",
    "/x/%2e%2e;/admin",
    "/admin%3bx",
    "/%3B/admin",
    // NUL, `?` and `#` encoded
    "/%00/../admin",
    "/admin%00",
    "/x%3f/../admin",
    "/x%23/../admin",
    // invalid escapes
    "/x/%u002e%u002e/admin",
    "/%zz/admin",
    "/admin%",
];

/// A gateway whose `admin` router (`PathPrefix(`/admin`)`, behind basicAuth) and catch-all `public`
/// router (priority 1) lead to backends of their own.
struct Protected {
    gateway: TestGateway,
    admin: Backend,
    public: Backend,
}

impl Protected {
    async fn start(static_config: StaticConfig) -> Self {
        Self::start_with(static_config, |_| {}).await
    }

    async fn start_with(static_config: StaticConfig, change: impl FnOnce(&mut DynamicConfig)) -> Self {
        let admin = Backend::start("admin").await;
        let public = Backend::start("public").await;
        let mut config = DynamicConfig::default();
        let mut admin_router = Router::new("PathPrefix(`/admin`)", "admin");
        admin_router.middlewares = vec!["auth".into()];
        config.http.routers.insert("admin".into(), admin_router);
        let mut public_router = Router::new("PathPrefix(`/`)", "public");
        public_router.priority = 1;
        config.http.routers.insert("public".into(), public_router);
        for backend in [&admin, &public] {
            let service = Service::from(LoadBalancer::with_urls([backend.url()]));
            config.http.services.insert(backend.name.into(), service);
        }
        let auth = BasicAuth {
            users: vec![USER.into()],
            ..BasicAuth::default()
        };
        config
            .http
            .middlewares
            .insert("auth".into(), Middleware::BasicAuth(auth));
        change(&mut config);
        let gateway = TestGateway::start_with(static_config, config).await;
        Self { gateway, admin, public }
    }

    async fn get(&self, target: &str, credentials: bool) -> RawResponse {
        let authorization = if credentials {
            format!("Authorization: Basic {}\r\n", STANDARD.encode("test:test"))
        } else {
            String::new()
        };
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: site.example\r\n{authorization}Connection: close\r\n\r\n");
        raw_exchange(self.gateway.addr, request.as_bytes()).await
    }
}

/// What a backend that cleans paths itself would serve for the path it received: escapes decoded
/// once, backslashes read as slashes, `;` parameters dropped from each segment (as servlet containers
/// do), then dot segments resolved and slashes merged.
fn as_a_lenient_backend_reads(path: &[u8]) -> Vec<u8> {
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < path.len() {
        let hex = path
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (path[i], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(if byte == b'\\' { b'/' } else { byte });
                i += 1;
            }
        }
    }
    let mut segments: Vec<&[u8]> = Vec::new();
    for segment in decoded.split(|&b| b == b'/' || b == b'\\') {
        let name = segment.split(|&b| b == b';').next().unwrap_or_default();
        match name {
            b"" | b"." => {}
            b".." => {
                segments.pop();
            }
            _ => segments.push(name),
        }
    }
    let mut out = Vec::new();
    for segment in segments {
        out.push(b'/');
        out.extend_from_slice(segment);
    }
    out
}

/// Sends every spelling without credentials: each is refused (400), challenged (401), or served by
/// the public backend with a path that even a lenient backend does not read as under `/admin`.
async fn assert_no_spelling_bypasses(setup: &Protected) {
    for spelling in SPELLINGS {
        let before = setup.public.seen().len();
        let response = setup.get(spelling, false).await;
        match response.status {
            400 | 401 => assert_eq!(setup.public.seen().len(), before, "{spelling}: refused, yet forwarded"),
            200 => {
                assert_eq!(response.body, b"public", "{spelling}");
                let forwarded = setup.public.last().uri;
                let read = as_a_lenient_backend_reads(forwarded.path().as_bytes());
                assert!(
                    !read.starts_with(b"/admin"),
                    "{spelling} reached the public backend as {forwarded}, which a lenient backend reads as {}",
                    String::from_utf8_lossy(&read)
                );
            }
            other => panic!("{spelling}: unexpected status {other}"),
        }
    }
    assert!(
        setup.admin.seen().is_empty(),
        "no request reached the admin backend without credentials"
    );
}

#[tokio::test]
async fn no_spelling_of_a_protected_path_reaches_the_public_router() {
    let setup = Protected::start(static_config()).await;
    assert_no_spelling_bypasses(&setup).await;
}

#[tokio::test]
async fn cleaned_spellings_are_authenticated_and_forwarded_cleaned() {
    let setup = Protected::start(static_config()).await;
    let expected = [
        ("//admin", "/admin"),
        ("/./admin", "/admin"),
        ("/x/../admin", "/admin"),
        ("/%2e/admin", "/admin"),
        ("/x/%2E%2e/admin", "/admin"),
        ("/\\admin", "/admin"),
        ("/x\\..\\admin/", "/admin/"),
        ("/%61dmin/a%7e?q=/../x", "/admin/a~?q=/../x"),
        ("/admin/%c3%a9", "/admin/%C3%A9"),
    ];
    for (spelling, forwarded) in expected {
        assert_eq!(setup.get(spelling, false).await.status, 401, "{spelling}");
        let response = setup.get(spelling, true).await;
        assert_eq!(
            (response.status, response.body.as_slice()),
            (200, &b"admin"[..]),
            "{spelling}"
        );
        assert_eq!(setup.admin.last().uri, forwarded, "{spelling}");
    }
}

#[tokio::test]
async fn refused_spellings_get_a_bare_400_and_reach_no_backend() {
    let setup = Protected::start(static_config()).await;
    let refused = [
        "/%2Fadmin",
        "/%5cadmin",
        "/%00/../admin",
        "/admin%3bx",
        "/%252e/admin",
        "/x%3F/../admin",
        "/x%23/../admin",
        "/x/..;/admin",
        "/;x/admin",
        "/%zz",
        "/admin%",
    ];
    for spelling in refused {
        let response = setup.get(spelling, true).await;
        assert_eq!(response.status, 400, "{spelling}");
    }
    assert!(setup.admin.seen().is_empty() && setup.public.seen().is_empty());
}

#[tokio::test]
async fn without_sanitizing_paths_are_normalized_only_and_raw_backslashes_refused() {
    let setup = Protected::start(static_config_with(|ep| ep.http.sanitize_path = false)).await;
    let response = setup.get("//admin/%7e", false).await;
    assert_eq!(response.status, 200, "`//admin` does not match PathPrefix(`/admin`)");
    assert_eq!(setup.public.last().uri, "//admin/~", "escapes are still normalized");
    assert_eq!(setup.get("/%61dmin", false).await.status, 401);
    assert_eq!(setup.get("/\\admin", false).await.status, 400);
    assert_eq!(
        setup.get("/%2Fadmin", false).await.status,
        400,
        "encoded slashes are still refused"
    );
}

fn allow_slash() -> EncodedCharacters {
    EncodedCharacters {
        allow_encoded_slash: true,
        ..EncodedCharacters::default()
    }
}

#[tokio::test]
async fn the_entrypoint_allows_encoded_characters_one_by_one() {
    let setup = Protected::start(static_config_with(|ep: &mut EntryPoint| {
        ep.http.encoded_characters = Some(allow_slash());
    }))
    .await;
    let response = setup.get("/a%2fb", false).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        setup.public.last().uri,
        "/a%2Fb",
        "the escape is kept (upper-cased), not decoded"
    );
    assert_eq!(
        setup.get("/a%5Cb", false).await.status,
        400,
        "backslashes still refused"
    );
}

#[tokio::test]
async fn a_router_middleware_decides_for_its_router_alone() {
    let setup = Protected::start_with(static_config(), |config| {
        config
            .http
            .middlewares
            .insert("slashes".into(), Middleware::EncodedCharacters(allow_slash()));
        config.http.routers.get_mut("public").unwrap().middlewares = vec!["slashes".into()];
    })
    .await;
    assert_eq!(
        setup.get("/a%2Fb", false).await.status,
        200,
        "public allows encoded slashes"
    );
    assert_eq!(setup.public.last().uri, "/a%2Fb");
    assert_eq!(setup.get("/a%3Bb", false).await.status, 400, "and refuses the rest");
    assert_eq!(
        setup.get("/admin/a%2Fb", true).await.status,
        400,
        "admin keeps the entrypoint's rule"
    );
    // Even with slashes allowed on the public router, an encoded slash never reaches `/admin` there.
    assert_no_spelling_bypasses(&setup).await;
}

#[test]
fn the_oracle_reads_paths_as_lenient_backends_do() {
    assert_eq!(as_a_lenient_backend_reads(b"/x/..;/admin"), b"/admin");
    assert_eq!(as_a_lenient_backend_reads(b"/%2Fadmin"), b"/admin");
    assert_eq!(as_a_lenient_backend_reads(b"/%5cadmin/a"), b"/admin/a");
    assert_eq!(as_a_lenient_backend_reads(b"/public/x"), b"/public/x");
}
