//! Pebble, Let's Encrypt's test CA, and pebble-challtestsrv as its DNS, run by the tests on free
//! loopback ports (the Debian package `pebble`; CI installs it). A missing binary fails the test.
#![allow(dead_code, reason = "each test uses its own part")]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// A free TCP port on loopback, found by binding port 0 (the processes started here need it in
/// their configuration before they bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A free port for both TCP and UDP (challtestsrv's DNS listens on both).
fn free_dns_port() -> u16 {
    loop {
        let port = free_port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn binary(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin"] {
        let path = Path::new(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    panic!("`{name}` is not installed: the ACME tests need Pebble (`apt-get install pebble`; .ci/run installs it)");
}

/// A child process killed (by its id) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What Pebble is told besides its ports.
#[derive(Default)]
pub struct PebbleOptions {
    /// Names Pebble refuses to issue for (`domainBlocklist`).
    pub blocked: Vec<String>,
    /// How long certificates last, in seconds (`certificateValidityPeriod`); Pebble's default when 0.
    pub validity: u64,
    /// External account binding required, with this key id and base64url HMAC key.
    pub eab: Option<(String, String)>,
    /// How many alternate chains (each to a root of its own) Pebble offers besides the default one
    /// (`PEBBLE_ALTERNATE_ROOTS`).
    pub alternate_roots: u32,
}

/// challtestsrv: the DNS Pebble asks (every A query answers 127.0.0.1), with its management API.
pub struct ChallTestSrv {
    _process: Process,
    pub dns: SocketAddr,
    pub management: SocketAddr,
}

impl ChallTestSrv {
    pub fn start(dir: &Path) -> Self {
        let dns = SocketAddr::from(([127, 0, 0, 1], free_dns_port()));
        let management = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = std::fs::File::create(dir.join("challtestsrv.log")).unwrap();
        let child = Command::new(binary("pebble-challtestsrv"))
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-dns01", &dns.to_string(), "-management", &management.to_string()])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let process = Process(child);
        wait_for_port(management, "pebble-challtestsrv");
        Self {
            _process: process,
            dns,
            management,
        }
    }
}

/// Pebble's address and API certificate, chosen before it starts (the gateway's configuration names
/// its directory; Pebble's names the gateway's ports).
pub struct PebblePlan {
    listen: SocketAddr,
    /// The ACME directory URL.
    pub directory: String,
    /// The CA file that authenticates Pebble's own HTTPS (its API), for `caCertificates`.
    pub api_ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    dir: PathBuf,
}

impl PebblePlan {
    pub fn new(dir: &Path) -> Self {
        let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let (api_ca, cert, key) = api_certificate(dir);
        Self {
            listen,
            directory: format!("https://{listen}/dir"),
            api_ca,
            cert,
            key,
            dir: dir.to_owned(),
        }
    }

    /// Starts Pebble validating HTTP-01 on `http_port` and TLS-ALPN-01 on `tls_port` (the
    /// gateway's), asking `dns` for names.
    pub fn start(self, dns: SocketAddr, http_port: u16, tls_port: u16, options: &PebbleOptions) -> Pebble {
        let management = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut config = serde_json::json!({"pebble": {
            "listenAddress": self.listen.to_string(),
            "managementListenAddress": management.to_string(),
            "certificate": self.cert,
            "privateKey": self.key,
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "domainBlocklist": options.blocked,
        }});
        if options.validity > 0 {
            config["pebble"]["certificateValidityPeriod"] = options.validity.into();
        }
        if let Some((kid, hmac)) = &options.eab {
            config["pebble"]["externalAccountBindingRequired"] = true.into();
            config["pebble"]["externalAccountMACKeys"] = serde_json::json!({ kid: hmac });
        }
        let config_path = self.dir.join("pebble.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let log = self.dir.join("pebble.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(binary("pebble"))
            .arg("-config")
            .arg(&config_path)
            .args(["-dnsserver", &dns.to_string()])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .env("PEBBLE_ALTERNATE_ROOTS", options.alternate_roots.to_string())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let process = Process(child);
        wait_for_port(self.listen, "pebble");
        wait_for_port(management, "pebble's management API");
        Pebble {
            _process: process,
            management,
            api_ca: self.api_ca,
            log,
        }
    }
}

/// A running Pebble.
pub struct Pebble {
    _process: Process,
    pub management: SocketAddr,
    api_ca: PathBuf,
    log: PathBuf,
}

impl Pebble {
    /// Pebble's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The root that signs the certificates Pebble issues (`/roots/0` of its management API).
    pub async fn root(&self) -> CertificateDer<'static> {
        self.root_at(0).await
    }

    /// The root of chain `index`: 0 for the default chain, then the alternates'.
    pub async fn root_at(&self, index: u32) -> CertificateDer<'static> {
        let pem = https_get(self.management, "localhost", &format!("/roots/{index}"), &self.api_ca).await;
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }
}

fn wait_for_port(addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A CA and a certificate for Pebble's API (`localhost`, `127.0.0.1`), written to `dir`: the CA file,
/// the certificate file, the key file.
fn api_certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let paths = (
        dir.join("api-ca.pem"),
        dir.join("api-cert.pem"),
        dir.join("api-key.pem"),
    );
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

/// A rustls client trusting `roots` only.
pub fn client_config(roots: impl IntoIterator<Item = CertificateDer<'static>>) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(store)
            .with_no_client_auth(),
    )
}

/// The body of `GET path` over HTTPS to `addr` for `server_name`, trusting the CA in `ca_file`.
async fn https_get(addr: SocketAddr, server_name: &str, path: &str, ca_file: &Path) -> String {
    let pem = std::fs::read(ca_file).unwrap();
    let roots = CertificateDer::pem_slice_iter(&pem).map(Result::unwrap);
    let (status, body) = https_request(addr, server_name, path, client_config(roots))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// `GET path` over HTTPS to `addr` with SNI `server_name`, verifying the server with `config`: the
/// status and body, or the handshake's error.
pub async fn https_request(
    addr: SocketAddr,
    server_name: &str,
    path: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<(u16, String), String> {
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header("host", server_name)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The leaf certificate a TLS handshake with `addr` for `server_name` presents, verified by `config`.
pub async fn served_leaf(
    addr: SocketAddr,
    server_name: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<CertificateDer<'static>, String> {
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let chain = tls.get_ref().1.peer_certificates().ok_or("no certificate")?;
    Ok(chain[0].clone().into_owned())
}
