//! Authentication middlewares through the proxy: `basicAuth`, `digestAuth` and `forwardAuth` against a
//! real backend and, for `forwardAuth`, a real authentication server.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use md5::{Digest, Md5};
use support::{Backend, TestGateway, client, full, get, middleware_route, send};
use switchyard_config::{BasicAuth, DigestAuth, ForwardAuth, Middleware, Status};
use tokio::net::TcpListener;

/// `test` / `test` (MD5, Apache), `bob` / `test` (bcrypt), `sha` / `test` (SHA1).
const TEST: &str = "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/";
const BOB: &str = "bob:$2b$05$abcdefghijklmnopqrstuuMceFj4VbmHOj8C7PetMxzZkwre/z.Ri";
const SHA: &str = "sha:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=";

fn basic_auth(users: &[&str]) -> BasicAuth {
    BasicAuth {
        users: users.iter().map(|u| (*u).to_owned()).collect(),
        ..BasicAuth::default()
    }
}

fn credentials(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// A GET of `url` with extra headers.
async fn get_with(url: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(&client(), request.body(full("")).unwrap()).await
}

#[tokio::test]
async fn basic_auth_lets_known_users_in_and_answers_everyone_else_alike() {
    let backend = Backend::start("b").await;
    let config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("auth", Middleware::BasicAuth(basic_auth(&[TEST, BOB, SHA])))],
    );
    let gateway = TestGateway::start(config).await;
    let url = gateway.url("/private");

    let (status, headers, body) = get(&client(), &url, None).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], r#"Basic realm="traefik""#);
    assert_eq!(headers["content-type"], "text/plain");
    assert_eq!(body, "401 Unauthorized\n");
    assert!(backend.seen().is_empty());

    for user in ["test", "bob", "sha"] {
        let (status, _, body) = get_with(&url, &[("authorization", &credentials(user, "test"))]).await;
        assert_eq!((status.as_u16(), body.as_str()), (200, "b"), "{user}");
    }
    assert_eq!(
        backend.last().headers["authorization"],
        credentials("sha", "test"),
        "kept without removeHeader"
    );

    let mut wrong_password = get_with(&url, &[("authorization", &credentials("test", "nope"))]).await;
    let mut unknown_user = get_with(&url, &[("authorization", &credentials("nobody", "test"))]).await;
    // The clock may tick between the two answers.
    wrong_password.1.remove("date");
    unknown_user.1.remove("date");
    assert_eq!(wrong_password.0, 401);
    assert_eq!(
        (wrong_password.0, wrong_password.1, wrong_password.2),
        (unknown_user.0, unknown_user.1, unknown_user.2),
        "a wrong password and an unknown user get the same answer"
    );
    assert_eq!(backend.seen().len(), 3);
}

#[tokio::test]
async fn basic_auth_reads_users_file_and_applies_header_options() {
    let backend = Backend::start("b").await;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "# the team\n{BOB}\n\n{TEST}").unwrap();
    let auth = BasicAuth {
        users: vec!["test:{SHA}2jmj7l5rSw0yVb/vlWAYkK/YBwk=".into()],
        users_file: file.path().to_str().unwrap().to_owned(),
        realm: "internal".into(),
        header_field: "X-WebAuth-User".into(),
        remove_header: true,
    };
    let config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("auth", Middleware::BasicAuth(auth))],
    );
    let gateway = TestGateway::start(config).await;
    let url = gateway.url("/");

    let (status, headers, _) = get(&client(), &url, None).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], r#"Basic realm="internal""#);

    let bob = credentials("bob", "test");
    let (status, _, _) = get_with(&url, &[("authorization", &bob), ("x-webauth-user", "admin")]).await;
    assert_eq!(status, 200);
    let seen = backend.last();
    let users: Vec<_> = seen.headers.get_all("x-webauth-user").iter().collect();
    assert_eq!(users, ["bob"], "the client's own value is replaced");
    assert!(!seen.headers.contains_key("authorization"));

    // `users` wins over the file: `test` now has the SHA1 of the empty password.
    let (status, _, _) = get_with(&url, &[("authorization", &credentials("test", "test"))]).await;
    assert_eq!(status, 401);
    let (status, _, _) = get_with(&url, &[("authorization", &credentials("test", ""))]).await;
    assert_eq!(status, 200);
}

/// The report of middleware `m@test` once `middleware` is configured on a router.
async fn report_of(middleware: Middleware) -> (Status, Vec<String>, StatusCode) {
    let backend = Backend::start("b").await;
    let config = middleware_route("PathPrefix(`/`)", &[backend.url()], vec![("m", middleware)]);
    let gateway = TestGateway::start(config).await;
    let snapshot = gateway.gateway.snapshot();
    let report = &snapshot.report().middlewares["m@test"];
    let errors = report.errors.iter().map(ToString::to_string).collect();
    let (status, _, _) = get(&client(), &gateway.url("/"), None).await;
    (report.status, errors, status)
}

#[tokio::test]
async fn invalid_options_are_reported_with_their_key_path() {
    let missing_file = BasicAuth {
        users_file: "/nonexistent/switchyard/htpasswd".into(),
        ..BasicAuth::default()
    };
    let plain_text = basic_auth(&[TEST, "admin:admin"]);
    let bad_digest = DigestAuth {
        users: vec!["test:traefik".into()],
        ..DigestAuth::default()
    };
    let not_http = ForwardAuth {
        address: "ftp://auth.example/verify".into(),
        ..ForwardAuth::default()
    };
    let bad_regex = ForwardAuth {
        address: "http://auth.example/verify".into(),
        auth_response_headers_regex: "(".into(),
        ..ForwardAuth::default()
    };
    let no_such_file = std::io::Error::from_raw_os_error(2);
    for (middleware, error) in [
        (
            Middleware::BasicAuth(missing_file),
            format!(
                "http.middlewares.m@test.basicAuth.usersFile: cannot read `/nonexistent/switchyard/htpasswd`: \
                 {no_such_file}"
            ),
        ),
        (
            Middleware::BasicAuth(plain_text),
            "http.middlewares.m@test.basicAuth.users[1]: user `admin`: the password hash is not in a supported \
             htpasswd format (MD5 `$apr1$`/`$1$`, SHA1 `{SHA}`, bcrypt `$2y$`); generate it with `htpasswd`"
                .to_owned(),
        ),
        (
            Middleware::DigestAuth(bad_digest),
            "http.middlewares.m@test.digestAuth.users[0]: is not `user:realm:hash` (as `htdigest` writes them)"
                .to_owned(),
        ),
        (
            Middleware::ForwardAuth(not_http),
            "http.middlewares.m@test.forwardAuth.address: `ftp://auth.example/verify` is not an http:// or \
             https:// URL with a host"
                .to_owned(),
        ),
        (
            Middleware::ForwardAuth(bad_regex),
            "http.middlewares.m@test.forwardAuth.authResponseHeadersRegex: invalid regular expression: regex \
             parse error:\n    (\n    ^\nerror: unclosed group"
                .to_owned(),
        ),
    ] {
        let (status, errors, answer) = report_of(middleware).await;
        assert_eq!(status, Status::Disabled, "{error}");
        assert_eq!(errors, [error]);
        assert_eq!(answer, 404, "the router using it is disabled");
    }
}

/// The parameters of a `WWW-Authenticate: Digest` challenge.
fn challenge_param(headers: &HeaderMap, name: &str) -> Option<String> {
    let challenge = headers["www-authenticate"].to_str().unwrap();
    let pattern = format!("{name}=\"");
    let start = challenge.find(&pattern)? + pattern.len();
    let end = challenge[start..].find('"')? + start;
    Some(challenge[start..end].to_owned())
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `Authorization` header a client computes for a GET of `uri` (RFC 2617, qop=auth).
fn digest_authorization(user: &str, password: &str, uri: &str, nonce: &str, opaque: &str, nc: u32) -> String {
    let ha1 = md5_hex(&format!("{user}:traefik:{password}"));
    let ha2 = md5_hex(&format!("GET:{uri}"));
    let nc = format!("{nc:08x}");
    let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:f00dcafe:auth:{ha2}"));
    format!(
        r#"Digest username="{user}", realm="traefik", nonce="{nonce}", uri="{uri}", cnonce="f00dcafe", nc={nc}, qop=auth, response="{response}", opaque="{opaque}", algorithm=MD5"#
    )
}

#[tokio::test]
async fn digest_auth_challenge_and_response() {
    let backend = Backend::start("b").await;
    let auth = DigestAuth {
        users: vec![format!("test:traefik:{}", md5_hex("test:traefik:test"))],
        header_field: "X-User".into(),
        ..DigestAuth::default()
    };
    let config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("auth", Middleware::DigestAuth(auth))],
    );
    let gateway = TestGateway::start(config).await;
    let url = gateway.url("/docs?page=2");

    let (status, headers, body) = get(&client(), &url, None).await;
    assert_eq!((status.as_u16(), body.as_str()), (401, "401 Unauthorized\n"));
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with(r#"Digest realm="traefik", nonce=""#),
        "{challenge}"
    );
    assert!(challenge.ends_with(r#"algorithm="MD5", qop="auth""#), "{challenge}");
    let nonce = challenge_param(&headers, "nonce").unwrap();
    let opaque = challenge_param(&headers, "opaque").unwrap();

    let answer = |password: &str, nc: u32| digest_authorization("test", password, "/docs?page=2", &nonce, &opaque, nc);
    let (status, _, body) = get_with(&url, &[("authorization", &answer("test", 1))]).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "b"));
    assert_eq!(backend.last().headers["x-user"], "test");
    let (status, _, body) = get_with(&url, &[("authorization", &answer("test", 2))]).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "b"), "the next nonce count");

    let (status, headers, _) = get_with(&url, &[("authorization", &answer("test", 2))]).await;
    assert_eq!(status, 401, "a replayed nonce count");
    assert_eq!(challenge_param(&headers, "stale"), None);
    let (status, headers, _) = get_with(&url, &[("authorization", &answer("test", 1))]).await;
    assert_eq!(status, 401, "an older nonce count");
    assert_eq!(challenge_param(&headers, "stale").as_deref(), Some("true"));
    let fresh = challenge_param(&headers, "nonce").unwrap();
    assert_ne!(fresh, nonce);

    let (status, _, _) = get_with(&url, &[("authorization", &answer("wrong", 3))]).await;
    assert_eq!(status, 401);
    let other_path = digest_authorization("test", "test", "/other", &nonce, &opaque, 4);
    let (status, _, _) = get_with(&url, &[("authorization", &other_path)]).await;
    assert_eq!(status, 401, "a digest for another URI");
    assert_eq!(backend.seen().len(), 2);
}

/// What the authentication server saw of one request.
#[derive(Debug, Clone)]
struct AuthSeen {
    method: Method,
    uri: http::Uri,
    headers: HeaderMap,
    body: Bytes,
}

/// A small authentication server on 127.0.0.1. Paths: `/allow` (200 with identity headers and
/// cookies), `/deny` (403 with a body, a header and a relative `Location`), `/unauthorized` (401),
/// `/big` (200 with a 100-byte body).
struct AuthServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<AuthSeen>>>,
}

impl AuthServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let recorded = Arc::clone(&recorded);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let recorded = Arc::clone(&recorded);
                        async move { Ok::<_, Infallible>(auth_answer(req, &recorded).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn last(&self) -> AuthSeen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the auth server saw no request")
    }
}

async fn auth_answer(req: Request<Incoming>, seen: &Mutex<Vec<AuthSeen>>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    seen.lock().unwrap().push(AuthSeen {
        method: parts.method,
        uri: parts.uri.clone(),
        headers: parts.headers,
        body,
    });
    let builder = Response::builder();
    let builder = match parts.uri.path() {
        "/allow" => builder
            .header("x-auth-user", "alice")
            .header("x-auth-role", "admin")
            .header("x-auth-extra", "regex-matched")
            .header("x-other", "not copied")
            .header("set-cookie", "session=from-auth; Path=/")
            .header("set-cookie", "tracking=from-auth"),
        "/deny" => builder
            .status(403)
            .header("x-reason", "not on the list")
            .header("location", "/login?rd=1")
            .header("content-type", "text/plain"),
        "/unauthorized" => builder.status(401),
        "/big" => return Response::new(Full::new(Bytes::from(vec![b'x'; 100]))),
        _ => builder.status(500),
    };
    let body = if parts.uri.path() == "/deny" {
        "denied by auth"
    } else {
        ""
    };
    builder.body(Full::new(Bytes::from_static(body.as_bytes()))).unwrap()
}

fn forward_auth(address: String) -> ForwardAuth {
    ForwardAuth {
        address,
        ..ForwardAuth::default()
    }
}

#[tokio::test]
async fn forward_auth_lets_allowed_requests_through_with_the_answers_headers() {
    let backend = Backend::start("b").await;
    let auth_server = AuthServer::start().await;
    let auth = ForwardAuth {
        auth_response_headers: vec!["X-Auth-User".into(), "X-Auth-Role".into()],
        auth_response_headers_regex: "^X-Auth-Ex".into(),
        add_auth_cookies_to_response: vec!["session".into()],
        trust_forward_header: Some(false),
        ..forward_auth(auth_server.url("/allow"))
    };
    let config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("auth", Middleware::ForwardAuth(auth))],
    );
    let gateway = TestGateway::start(config).await;

    let request = Request::post(gateway.url("/app/page?q=1"))
        .header("x-auth-user", "forged")
        .header("x-forwarded-for", "203.0.113.9")
        .header("cookie", "sid=1")
        .body(full("payload"))
        .unwrap();
    let (status, headers, body) = send(&client(), request).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "b"));
    let cookies: Vec<_> = headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["session=from-auth; Path=/"], "only the listed auth cookie");

    let seen = backend.last();
    assert_eq!(seen.headers["x-auth-user"], "alice");
    assert_eq!(seen.headers["x-auth-role"], "admin");
    assert_eq!(seen.headers["x-auth-extra"], "regex-matched");
    assert!(!seen.headers.contains_key("x-other"));
    assert_eq!(seen.method, Method::POST);

    let asked = auth_server.last();
    assert_eq!(asked.method, Method::GET, "without preserveRequestMethod");
    assert_eq!(asked.uri, "/allow");
    assert!(asked.body.is_empty(), "without forwardBody");
    assert_eq!(asked.headers["host"], auth_server.addr.to_string());
    assert_eq!(asked.headers["cookie"], "sid=1");
    assert_eq!(asked.headers["x-forwarded-method"], "POST");
    assert_eq!(asked.headers["x-forwarded-proto"], "http");
    assert_eq!(asked.headers["x-forwarded-host"], gateway.addr.to_string());
    assert_eq!(asked.headers["x-forwarded-port"], gateway.addr.port().to_string());
    assert_eq!(asked.headers["x-forwarded-uri"], "/app/page?q=1");
    assert_eq!(
        asked.headers["x-forwarded-for"], "127.0.0.1",
        "an untrusted client's own is not sent"
    );
}

#[tokio::test]
async fn forward_auth_refusals_reach_the_client() {
    let backend = Backend::start("b").await;
    let auth_server = AuthServer::start().await;
    let mut config = middleware_route(
        "PathPrefix(`/`)",
        &[backend.url()],
        vec![("auth", Middleware::ForwardAuth(forward_auth(auth_server.url("/deny"))))],
    );
    let preserved = ForwardAuth {
        preserve_location_header: true,
        ..forward_auth(auth_server.url("/deny"))
    };
    config
        .http
        .middlewares
        .insert("preserved".into(), Middleware::ForwardAuth(preserved));
    let mut router = switchyard_config::Router::new("PathPrefix(`/kept`)", "s");
    router.middlewares = vec!["preserved".into()];
    config.http.routers.insert("kept".into(), router);
    let gateway = TestGateway::start(config).await;

    let (status, headers, body) = get(&client(), &gateway.url("/x"), None).await;
    assert_eq!((status.as_u16(), body.as_str()), (403, "denied by auth"));
    assert_eq!(headers["x-reason"], "not on the list");
    assert_eq!(headers["content-type"], "text/plain");
    assert_eq!(headers["location"], format!("http://{}/login?rd=1", auth_server.addr));

    let (status, headers, _) = get(&client(), &gateway.url("/kept"), None).await;
    assert_eq!(status, 403);
    assert_eq!(headers["location"], "/login?rd=1");
    assert!(backend.seen().is_empty());
}

#[tokio::test]
async fn forward_auth_signin_redirect_body_limits_and_unreachable_server() {
    let backend = Backend::start("b").await;
    let auth_server = AuthServer::start().await;
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let signin = ForwardAuth {
        auth_signin_url: "https://login.example/?rd=app".into(),
        ..forward_auth(auth_server.url("/unauthorized"))
    };
    let body_limit = ForwardAuth {
        forward_body: true,
        max_body_size: 4,
        preserve_request_method: true,
        ..forward_auth(auth_server.url("/allow"))
    };
    let answer_limit = ForwardAuth {
        max_response_body_size: Some(10),
        ..forward_auth(auth_server.url("/big"))
    };
    let mut config = switchyard_config::DynamicConfig::default();
    for (name, prefix, auth) in [
        ("signin", "/signin", signin),
        ("body", "/echo", body_limit),
        ("answer", "/answer", answer_limit),
        ("down", "/down", forward_auth(format!("http://{closed}/verify"))),
    ] {
        let part = middleware_route(
            &format!("PathPrefix(`{prefix}`)"),
            &[backend.url()],
            vec![(name, Middleware::ForwardAuth(auth))],
        );
        let mut router = part.http.routers["r"].clone();
        router.service = "s".into();
        config.http.routers.insert(name.into(), router);
        config.http.middlewares.extend(part.http.middlewares);
        config.http.services.extend(part.http.services);
    }
    let gateway = TestGateway::start(config).await;

    let (status, headers, body) = get(&client(), &gateway.url("/signin"), None).await;
    assert_eq!(status, 302);
    assert_eq!(headers["location"], "https://login.example/?rd=app");
    assert_eq!(body, "<a href=\"https://login.example/?rd=app\">Found</a>.\n\n");

    let post = |body: &'static str| Request::post(gateway.url("/echo")).body(full(body)).unwrap();
    let (status, _, body) = send(&client(), post("four")).await;
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (200, "four"),
        "the backend still gets the body"
    );
    let asked = auth_server.last();
    assert_eq!((asked.method, asked.body), (Method::POST, Bytes::from_static(b"four")));
    let (status, _, body) = send(&client(), post("fives")).await;
    assert_eq!((status.as_u16(), body.as_str()), (401, ""));

    let (status, _, body) = get(&client(), &gateway.url("/answer"), None).await;
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (401, ""),
        "an answer over maxResponseBodySize"
    );

    let (status, _, body) = get(&client(), &gateway.url("/down"), None).await;
    assert_eq!((status.as_u16(), body.as_str()), (500, ""));
    assert_eq!(backend.seen().len(), 1);
}
