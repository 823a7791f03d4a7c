//! The dashboard beside the internal API: its page and assets over HTTP, `api.dashboard` and
//! `api.basePath`, and the page itself in a real browser (headless Chromium, Debian package
//! `chromium`, which `.ci/run` installs): it must list the routers and show a broken router's error,
//! live, with a screenshot saved for people to look at.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::process::Command;
use std::sync::Arc;

use support::{Backend, TestGateway, client, get, route, static_config};
use switchyard_config::{Api, Canary, EntryPoint, Router, StaticConfig};

/// A static configuration with the API on its own `traefik` entrypoint (`api.insecure`).
fn with_insecure_api(api: Api) -> StaticConfig {
    let mut config = static_config();
    config
        .entry_points
        .insert("traefik".into(), EntryPoint::new("127.0.0.1:0"));
    config.api = Some(Api { insecure: true, ..api });
    config
}

/// A gateway with a working router, a broken one, and the API; the backend and the API's address.
async fn start(api: Api) -> (TestGateway, Backend, String) {
    let backend = Backend::start("b").await;
    let mut dynamic = route("PathPrefix(`/`)", &[backend.url()]);
    dynamic.http.routers.get_mut("r").unwrap().entry_points = vec!["web".into()];
    dynamic
        .http
        .routers
        .insert("broken".into(), Router::new("Path(`/x`", "s"));
    let gateway = TestGateway::start_with(with_insecure_api(api), dynamic).await;
    let api = format!("http://{}", gateway.gateway.local_addr("traefik").unwrap());
    (gateway, backend, api)
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_a_strict_policy() {
    let (_gateway, _backend, api) = start(Api::default()).await;
    let client = client();
    let (status, headers, page) = get(&client, &format!("{api}/dashboard/"), None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    assert!(page.contains(r#"<script src="app.js" defer></script>"#), "{page}");
    let (status, headers, script) = get(&client, &format!("{api}/dashboard/app.js"), None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert!(script.contains("../api/"), "the page reads the API relative to itself");
    let (status, headers, _) = get(&client, &format!("{api}/dashboard"), None).await;
    assert_eq!(status, 301);
    assert_eq!(headers["location"], "dashboard/");
    let (status, _, _) = get(&client, &format!("{api}/dashboard/missing.js"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn api_dashboard_false_serves_the_api_without_the_page() {
    let (_gateway, _backend, api) = start(Api {
        dashboard: false,
        ..Api::default()
    })
    .await;
    let client = client();
    assert_eq!(get(&client, &format!("{api}/dashboard/"), None).await.0, 404);
    assert_eq!(get(&client, &format!("{api}/api/overview"), None).await.0, 200);
}

#[tokio::test]
async fn api_base_path_moves_the_api_and_the_page() {
    let (_gateway, _backend, api) = start(Api {
        base_path: "/admin/".into(),
        ..Api::default()
    })
    .await;
    let client = client();
    assert_eq!(get(&client, &format!("{api}/admin/api/overview"), None).await.0, 200);
    assert_eq!(get(&client, &format!("{api}/admin/dashboard/"), None).await.0, 200);
    assert_eq!(get(&client, &format!("{api}/api/overview"), None).await.0, 404);
    assert_eq!(get(&client, &format!("{api}/dashboard/"), None).await.0, 404);
}

/// Headless Chromium: the DOM after the page's scripts ran, and a screenshot.
fn chromium(args: &[&str]) -> String {
    chromium_for(8_000, args)
}

/// Headless Chromium with `budget_ms` of virtual time: timers run as fast as the page's requests
/// allow, so a page that polls every 2 s polls hundreds of times in a few seconds.
fn chromium_for(budget_ms: u32, args: &[&str]) -> String {
    let binary = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("headless Chromium is needed for the dashboard test: apt-get install -y chromium (.ci/run does)");
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1400,1600",
        ])
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_shows_the_routers_and_a_broken_routers_error() {
    let (_gateway, _backend, api) = start(Api::default()).await;
    let url = format!("{api}/dashboard/");
    let dom = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || chromium(&["--dump-dom", &url]))
            .await
            .unwrap()
    };
    assert!(
        dom.contains(r#"data-loaded="true""#),
        "the page drew the API's answers:\n{dom}"
    );
    for router in ["r@test", "broken@test", "api@internal"] {
        assert!(
            dom.contains(&format!(r#"data-name="{router}""#)),
            "router {router} listed:\n{dom}"
        );
    }
    assert!(
        dom.contains("http.routers.broken@test.rule: expected ',' or ')' at column 10, found end of rule"),
        "the broken router's error is shown:\n{dom}"
    );
    assert!(
        dom.contains("http.routers.broken@test"),
        "listed among the problems:\n{dom}"
    );
    let screenshot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    let shot = format!("--screenshot={}", screenshot.display());
    tokio::task::spawn_blocking(move || chromium(&[&shot, &url]))
        .await
        .unwrap();
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a screenshot of the page"
    );
    eprintln!("dashboard screenshot: {}", screenshot.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_redraws_a_change_without_reloading_and_shows_the_canarys_report() {
    let backend = Backend::start("b").await;
    let mut dynamic = route("PathPrefix(`/`)", &[backend.url()]);
    dynamic.http.routers.get_mut("r").unwrap().entry_points = vec!["web".into()];
    let mut config = with_insecure_api(Api::default());
    config.canary = Some(Canary {
        requests: 64,
        hold: false,
    });
    let gateway = TestGateway::start_with(config, dynamic).await;
    let api = format!("http://{}", gateway.gateway.local_addr("traefik").unwrap());
    let client = client();
    for _ in 0..3 {
        assert_eq!(get(&client, &gateway.url("/x"), Some("shop.example")).await.0, 200);
    }
    let url = format!("{api}/dashboard/");
    let browser = tokio::task::spawn_blocking(move || chromium_for(600_000, &["--dump-dom", &url]));
    // Once the page has asked the API for something (the canary records its requests too), the
    // configuration changes under it: a new router, and `r` no longer takes /x.
    let canary = Arc::clone(gateway.gateway.canary().unwrap());
    support::eventually("the page's first request", async || canary.recorded() > 3).await;
    let before = gateway.gateway.snapshot().generation();
    gateway
        .reconfigure(|config| {
            config
                .http
                .routers
                .insert("late".into(), Router::new("Host(`late.example`)", "s"));
            config.http.routers.get_mut("r").unwrap().rule = "PathPrefix(`/shop`)".into();
        })
        .await;
    assert!(gateway.gateway.snapshot().generation() > before);
    let dom = browser.await.unwrap();
    assert!(
        dom.contains(r#"data-name="late@test""#),
        "the router added after the page loaded is drawn:\n{dom}"
    );
    assert!(
        dom.contains(r#"data-name="GET shop.example/x""#) && dom.contains("the entrypoint's 404"),
        "the canary's moved request is drawn:\n{dom}"
    );
    // The page's own requests to the API were recorded too, and stay where they were.
    let summary = dom.split(r#"<p id="canary-summary">"#).nth(1).unwrap_or_default();
    assert!(
        summary.contains("applied")
            && summary.contains(": 3 of ")
            && summary.contains("(1 distinct) route differently"),
        "the canary's summary:\n{dom}"
    );
}
