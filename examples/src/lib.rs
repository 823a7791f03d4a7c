//! Examples live in this package; this library holds the demo backend they start in-process.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// Starts a demo backend on 127.0.0.1 (a free port) that answers every request with its name and what
/// it received: method, path, and the forwarding headers the gateway added.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let addr = switchyard_examples::demo_backend("demo-a").await?;
/// println!("demo-a answers on http://{addr}");
/// # Ok(()) }
/// ```
pub async fn demo_backend(name: &'static str) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| async move {
                Ok::<_, Infallible>(describe(name, &req))
            });
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

fn describe(name: &str, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let mut text = format!("{name} answered {} {}\n", req.method(), req.uri());
    for (header, value) in req.headers() {
        if header.as_str().starts_with("x-") || header == http::header::HOST {
            text.push_str(&format!("  {header}: {}\n", value.to_str().unwrap_or("<binary>")));
        }
    }
    Response::new(Full::new(Bytes::from(text)))
}
