//! Bodies stream through the proxy in both directions without being held in memory.
//! (Alone in its file: memory is measured for the whole test process.)
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use support::{Backend, TestGateway, bytes_body, client, route};

/// Peak resident memory of this process, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status is readable");
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/self/status");
    kb * 1024
}

#[cfg_attr(not(target_os = "linux"), ignore = "peak memory is read from Linux's /proc")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_echoed_back_streams_without_growing_memory() {
    const SIZE: usize = 512 << 20;
    let backend = Backend::start("echo").await;
    let gateway = TestGateway::start(route("PathPrefix(`/`)", &[backend.url()])).await;
    let client = client();
    // Warm up allocators and pools with a small exchange first.
    let warm = Request::post(gateway.url("/echo")).body(bytes_body(1 << 20)).unwrap();
    let mut body = client.request(warm).await.unwrap().into_body();
    while body.frame().await.is_some() {}
    let before = peak_rss();

    let request = Request::post(gateway.url("/echo")).body(bytes_body(SIZE)).unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut received = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap();
        received += frame.data_ref().map_or(0, Bytes::len);
    }
    assert_eq!(received, SIZE);
    let growth = peak_rss().saturating_sub(before);
    assert!(
        growth < 64 << 20,
        "peak memory grew by {} MiB for a {} MiB round trip",
        growth >> 20,
        SIZE >> 20
    );
}
