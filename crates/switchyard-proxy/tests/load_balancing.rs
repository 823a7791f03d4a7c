//! Load-balancing strategies through the proxy, with real backends.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{Backend, TestGateway, client, full, get, route};
use switchyard_config::Strategy;
use tokio::net::TcpListener;

/// A backend that answers every request with `name` after `delay`.
async fn slow_backend(name: &'static str, delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(move |_req: http::Request<Incoming>| async move {
                tokio::time::sleep(delay).await;
                Ok::<_, Infallible>(http::Response::new(full(name)))
            });
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Sends `total` requests from `parallel` clients, each sending its next request when the previous one
/// is answered, and counts the answers by body.
async fn spread(gateway: &TestGateway, total: usize, parallel: usize) -> BTreeMap<String, usize> {
    let client = client();
    let loops: Vec<_> = (0..parallel)
        .map(|_| {
            let (client, url) = (client.clone(), gateway.url("/"));
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for _ in 0..total / parallel {
                    answers.push(get(&client, &url, None).await.2);
                }
                answers
            })
        })
        .collect();
    let mut counts = BTreeMap::new();
    for answers in loops {
        for answer in answers.await.unwrap() {
            *counts.entry(answer).or_insert(0) += 1;
        }
    }
    counts
}

async fn gateway_with(strategy: Strategy, urls: &[String]) -> TestGateway {
    let mut config = route("PathPrefix(`/`)", urls);
    let service = config.http.services.get_mut("s").unwrap();
    if let switchyard_config::ServiceKind::LoadBalancer(lb) = &mut service.kind {
        lb.strategy = strategy;
    }
    TestGateway::start(config).await
}

#[tokio::test]
async fn p2c_sends_requests_to_the_server_with_fewer_in_flight() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let gateway = gateway_with(Strategy::P2c, &[a.url(), b.url()]).await;
    let held = tokio::spawn({
        let url = gateway.url("/held");
        async move { get(&client(), &url, None).await }
    });
    support::eventually("the held request arriving", async || {
        a.seen().len() + b.seen().len() == 1
    })
    .await;
    let (busy, idle) = if a.seen().is_empty() { (&b, &a) } else { (&a, &b) };

    // With two servers both are drawn each time: the idle one wins every pick while the other is busy.
    let counts = spread(&gateway, 20, 1).await;
    assert_eq!(counts, BTreeMap::from([(idle.name.to_owned(), 20)]));
    assert_eq!(busy.seen().len(), 1);
    busy.release(1);
    assert_eq!(held.await.unwrap().2, busy.name);
}

#[tokio::test]
async fn leasttime_learns_which_backend_is_slow() {
    // A second against a millisecond: far more than the pauses a loaded machine adds to a request, so
    // the fast backend never looks like the slow one.
    let slow = slow_backend("slow", Duration::from_secs(1)).await;
    let fast = slow_backend("fast", Duration::from_millis(1)).await;
    let urls = [format!("http://{slow}"), format!("http://{fast}")];
    let gateway = gateway_with(Strategy::LeastTime, &urls).await;
    // One request at a time: each server is tried once while it has no latency yet, then the faster
    // one wins every pick.
    let counts = spread(&gateway, 20, 1).await;
    assert_eq!(
        counts,
        BTreeMap::from([("fast".to_owned(), 19), ("slow".to_owned(), 1)])
    );
}

#[tokio::test]
async fn hrw_keeps_a_client_on_one_backend_and_skips_weight_zero() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let c = Backend::start("c").await;
    let gateway = gateway_with(Strategy::Hrw, &[a.url(), b.url(), c.url()]).await;
    let counts = spread(&gateway, 30, 3).await;
    assert_eq!(counts.len(), 1, "one client, one backend: {counts:?}");

    // Taking the chosen backend out (weight 0) moves the client to another one, and only there.
    let chosen = counts.keys().next().unwrap().clone();
    let index = ["a", "b", "c"].iter().position(|n| *n == chosen).unwrap();
    gateway
        .reconfigure(|config| {
            if let switchyard_config::ServiceKind::LoadBalancer(lb) =
                &mut config.http.services.get_mut("s").unwrap().kind
            {
                lb.servers[index].weight = Some(0);
            }
        })
        .await;
    let counts = spread(&gateway, 30, 3).await;
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert!(!counts.contains_key(&chosen));
}

#[tokio::test]
async fn sticky_cookies_hold_across_requests_and_reloads_and_move_off_a_removed_server() {
    let backends = [
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    ];
    let urls: Vec<String> = backends.iter().map(Backend::url).collect();
    let mut config = route("PathPrefix(`/`)", &urls);
    if let switchyard_config::ServiceKind::LoadBalancer(lb) = &mut config.http.services.get_mut("s").unwrap().kind {
        lb.sticky = Some(switchyard_config::Sticky {
            cookie: Some(switchyard_config::Cookie {
                name: "sid".into(),
                http_only: true,
                ..Default::default()
            }),
        });
    }
    let gateway = TestGateway::start(config).await;
    let client = client();
    let (_, headers, first) = get(&client, &gateway.url("/"), None).await;
    let set_cookie = headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set_cookie.starts_with("sid=") && set_cookie.ends_with("; Path=/; HttpOnly"),
        "{set_cookie}"
    );
    for url in &urls {
        assert!(
            !set_cookie.contains(url.trim_start_matches("http://")),
            "the cookie names no address"
        );
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let with_cookie = |cookie: String| {
        http::Request::get(gateway.url("/"))
            .header("cookie", cookie)
            .body(full(""))
            .unwrap()
    };
    for _ in 0..10 {
        let (_, headers, body) = support::send(&client, with_cookie(cookie.clone())).await;
        assert_eq!(body, first);
        assert!(!headers.contains_key("set-cookie"), "a valid cookie is not rewritten");
    }

    gateway
        .reconfigure(|c| {
            drop(
                c.http
                    .routers
                    .insert("other".into(), switchyard_config::Router::new("Path(`/x`)", "s")),
            )
        })
        .await;
    assert_eq!(
        support::send(&client, with_cookie(cookie.clone())).await.2,
        first,
        "sticky across a reload"
    );

    let index = ["a", "b", "c"].iter().position(|n| *n == first).unwrap();
    gateway
        .reconfigure(|c| {
            if let switchyard_config::ServiceKind::LoadBalancer(lb) = &mut c.http.services.get_mut("s").unwrap().kind {
                lb.servers[index].weight = Some(0);
            }
        })
        .await;
    let (status, headers, body) = support::send(&client, with_cookie(cookie)).await;
    assert_eq!(status, 200);
    assert_ne!(body, first, "the sticky server left; another one answers");
    assert!(
        headers["set-cookie"].to_str().unwrap().starts_with("sid="),
        "and the cookie is rewritten"
    );
}

/// Always the last server in rotation.
#[derive(Debug)]
struct LastUp;

impl switchyard_proxy::balancing::Balancer for LastUp {
    fn pick(&self, servers: &dyn switchyard_proxy::balancing::ServerSet, _client: std::net::IpAddr) -> Option<usize> {
        (0..servers.len()).rev().find(|&i| servers.stats(i).is_up())
    }
}

#[tokio::test]
async fn a_registered_strategy_picks_and_an_unknown_one_is_reported() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let mut config = route("PathPrefix(`/`)", &[a.url(), b.url()]);
    if let switchyard_config::ServiceKind::LoadBalancer(lb) = &mut config.http.services.get_mut("s").unwrap().kind {
        lb.strategy = Strategy::Custom("last-up".into());
    }
    let gateway = TestGateway::start_built(support::static_config(), config, |g| {
        g.balancer("last-up", |_servers| Box::new(LastUp))
    })
    .await;
    let counts = spread(&gateway, 6, 2).await;
    assert_eq!(counts.get("b"), Some(&6), "{counts:?}");

    gateway
        .reconfigure(|c| {
            if let switchyard_config::ServiceKind::LoadBalancer(lb) = &mut c.http.services.get_mut("s").unwrap().kind {
                lb.strategy = Strategy::Custom("nope".into());
            }
        })
        .await;
    assert_eq!(
        get(&client(), &gateway.url("/"), None).await.0,
        404,
        "its router is down"
    );
    let snapshot = gateway.gateway.snapshot();
    let error = snapshot.report().services["s@test"].errors[0].to_string();
    assert!(
        error.contains("loadBalancer.strategy")
            && error.contains("unknown strategy `nope`")
            && error.contains("last-up"),
        "{error}"
    );
}
