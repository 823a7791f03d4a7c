//! Traefik's TCP and UDP custom resources in the test API server route real connections through the
//! proxy: IngressRouteTCP by SNI with TLS termination (certificate from a Secret) and passthrough (the
//! pod's own certificate reaches the client), a catch-all to weighted Services, MiddlewareTCP allow
//! lists changed live, a ServersTransportTCP writing the PROXY protocol to pods, IngressRouteUDP to
//! weighted Services, and how broken objects are reported.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

mod support;

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use support::tls::{Ca, Issued, chain_and_key, provider};
use support::{Cluster, LIVE_TIMEOUT, pod_listeners, ready, secret, service, slice, traefik, within};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UdpSocket};

const Q: &str = "@kubernetescrd";

/// The name Traefik gives the router and service of a TCP route.
fn tcp_key(namespace: &str, name: &str, rule: &str) -> String {
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(rule.as_bytes())
        .iter()
        .take(10)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{namespace}-{name}-{hash}")
}

/// Pods of one Deployment speaking a line protocol: each line received is answered with
/// `{pod} {line}`. One port, one loopback address each (127.0.0.1, 127.0.0.2, ...); over TLS with
/// `tls` when given.
struct LinePods {
    port: u16,
    addresses: Vec<String>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl LinePods {
    async fn start(name: &str, count: usize, tls: Option<&Issued>) -> Self {
        let (port, listeners) = pod_listeners(count).await;
        let acceptor = tls.map(|issued| {
            let (chain, key) = chain_and_key(issued);
            let config = rustls::ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap();
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        let mut pods = Self {
            port,
            addresses: Vec::new(),
            tasks: Vec::new(),
        };
        for (i, listener) in listeners.into_iter().enumerate() {
            pods.addresses.push(listener.local_addr().unwrap().ip().to_string());
            let name: Arc<str> = format!("{name}-{i}").into();
            let acceptor = acceptor.clone();
            pods.tasks.push(tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (name, acceptor) = (Arc::clone(&name), acceptor.clone());
                    tokio::spawn(async move {
                        match acceptor {
                            Some(acceptor) => {
                                if let Ok(stream) = acceptor.accept(stream).await {
                                    answer_lines(stream, &name).await;
                                }
                            }
                            None => answer_lines(stream, &name).await,
                        }
                    });
                }
            }));
        }
        pods
    }

    fn addresses(&self) -> Vec<&str> {
        self.addresses.iter().map(String::as_str).collect()
    }
}

impl Drop for LinePods {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn answer_lines(stream: impl AsyncRead + AsyncWrite + Unpin, name: &str) {
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if write.write_all(format!("{name} {line}\n").as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Sends one line and reads the answer line; `Err` when the connection closes first or nothing comes
/// within 5 s.
async fn exchange(stream: impl AsyncRead + AsyncWrite + Unpin, line: &str) -> Result<String, String> {
    let (read, mut write) = tokio::io::split(stream);
    write
        .write_all(format!("{line}\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    let mut reader = BufReader::new(read);
    match tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut answer)).await {
        Ok(Ok(0)) => Err("closed without an answer".into()),
        Ok(Ok(_)) => Ok(answer.trim_end().to_owned()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 5 s".into()),
    }
}

/// One line over plain TCP.
async fn tcp_line(addr: SocketAddr, line: &str) -> Result<String, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    exchange(stream, line).await
}

/// One line over TLS with SNI `host`, trusting `ca`: the answer and the leaf certificate served.
async fn tls_line(addr: SocketAddr, ca: &Ca, host: &str, line: &str) -> Result<(String, Vec<u8>), String> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(ca.roots.clone())
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(host.to_owned()).unwrap(), tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let served = stream.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    Ok((exchange(stream, line).await?, served))
}

/// A Service `name` with the port `port` (`protocol` TCP or UDP) over `addresses` at `target`.
fn deploy(cluster: &Cluster, name: &str, port: (&str, u16), addresses: &[&str], target: u16, protocol: &str) {
    let mut svc = service("default", name, &[port]);
    svc["spec"]["ports"][0]["protocol"] = json!(protocol);
    cluster.apply(svc);
    let mut endpoints = slice(
        "default",
        name,
        &format!("{name}-abc"),
        port.0,
        target,
        &ready(addresses),
    );
    endpoints["ports"][0]["protocol"] = json!(protocol);
    cluster.apply(endpoints);
}

fn tls_secret(name: &str, issued: &Issued) -> Value {
    secret(
        "default",
        name,
        "kubernetes.io/tls",
        &[("tls.crt", &issued.cert), ("tls.key", &issued.key)],
    )
}

/// Waits until `check` answers `Ok` with an answer starting with `expected`.
async fn until_answered<F, Fut>(cluster: &Cluster, what: &str, expected: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<String, String>>,
{
    within(LIVE_TIMEOUT, || {
        let answer = check();
        async move { answer.await.is_ok_and(|a| a.starts_with(expected)) }
    })
    .await
    .unwrap_or_else(|waited| {
        panic!(
            "{what} not answered by {expected} within {waited:?}: {:?}",
            cluster.warnings()
        )
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_route_tcp_terminates_and_passes_tls_through_by_sni() {
    let cluster = Cluster::start_crd_on(&[("websecure", "127.0.0.1:0")]).await;
    let addr = cluster.gateway.local_addr("websecure").unwrap();
    let ca = Ca::new();
    let db_cert = ca.issue(&["db.test"]);
    let pod_cert = ca.issue(&["pass.test"]);
    let db = LinePods::start("db", 1, None).await;
    let pass = LinePods::start("pass", 1, Some(&pod_cert)).await;
    deploy(&cluster, "db", ("sql", 5432), &db.addresses(), db.port, "TCP");
    deploy(&cluster, "pass", ("tls", 443), &pass.addresses(), pass.port, "TCP");
    cluster.apply(tls_secret("db-cert", &db_cert));
    cluster.apply(traefik(
        "IngressRouteTCP",
        "default",
        "db",
        json!({
            "entryPoints": ["websecure"],
            "routes": [{"match": "HostSNI(`db.test`)", "services": [{"name": "db", "port": 5432}]}],
            "tls": {"secretName": "db-cert"},
        }),
    ));
    cluster.apply(traefik(
        "IngressRouteTCP",
        "default",
        "pass",
        json!({
            "entryPoints": ["websecure"],
            "routes": [{"match": "HostSNI(`pass.test`)", "services": [{"name": "pass", "port": "tls"}]}],
            "tls": {"passthrough": true},
        }),
    ));

    until_answered(&cluster, "db.test", "db-0 hello", || async {
        tls_line(addr, &ca, "db.test", "hello").await.map(|(answer, _)| answer)
    })
    .await;
    let (_, served) = tls_line(addr, &ca, "db.test", "x").await.unwrap();
    assert_eq!(
        served, db_cert.der,
        "the gateway terminates with the Secret's certificate"
    );

    until_answered(&cluster, "pass.test", "pass-0 hello", || async {
        tls_line(addr, &ca, "pass.test", "hello")
            .await
            .map(|(answer, _)| answer)
    })
    .await;
    let (_, served) = tls_line(addr, &ca, "pass.test", "x").await.unwrap();
    assert_eq!(
        served, pod_cert.der,
        "passthrough: the pod's own certificate reaches the client"
    );

    // Another name has no route: the handshake does not complete with either certificate.
    assert!(tls_line(addr, &ca, "other.test", "x").await.is_err());

    let snapshot = cluster.gateway.snapshot();
    let tcp = &snapshot.published().runtime.config.tcp;
    let key = format!("{}{Q}", tcp_key("default", "pass", "HostSNI(`pass.test`)"));
    let router = tcp
        .routers
        .get(&key)
        .unwrap_or_else(|| panic!("{key} in {:?}", tcp.routers.keys()));
    assert!(router.tls.as_ref().unwrap().passthrough);
    assert_eq!(router.service, key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_all_route_balances_weighted_services_and_middlewares_change_live() {
    let cluster = Cluster::start_crd_on(&[("tcp", "127.0.0.1:0")]).await;
    let addr = cluster.gateway.local_addr("tcp").unwrap();
    let a = LinePods::start("a", 2, None).await;
    let b = LinePods::start("b", 1, None).await;
    deploy(&cluster, "a", ("db", 3306), &a.addresses(), a.port, "TCP");
    deploy(&cluster, "b", ("db", 3306), &b.addresses(), b.port, "TCP");
    cluster.apply(traefik(
        "MiddlewareTCP",
        "default",
        "office",
        json!({"ipAllowList": {"sourceRange": ["10.0.0.0/8"]}}),
    ));
    cluster.apply(traefik(
        "IngressRouteTCP",
        "default",
        "mysql",
        json!({
            "entryPoints": ["tcp"],
            "routes": [{
                "match": "HostSNI(`*`)",
                "middlewares": [{"name": "office"}],
                "services": [{"name": "a", "port": 3306, "weight": 3}, {"name": "b", "port": "db", "weight": 1}],
            }],
        }),
    ));
    // Published, with the allow list refusing loopback: connections are closed unanswered.
    let key = tcp_key("default", "mysql", "HostSNI(`*`)");
    within(LIVE_TIMEOUT, || async {
        let snapshot = cluster.gateway.snapshot();
        snapshot
            .published()
            .runtime
            .config
            .tcp
            .routers
            .contains_key(&format!("{key}{Q}"))
    })
    .await
    .unwrap_or_else(|_| panic!("router {key} not live: {:?}", cluster.warnings()));
    assert!(
        tcp_line(addr, "refused").await.is_err(),
        "the allow list refuses 127.0.0.1"
    );

    cluster.apply(traefik(
        "MiddlewareTCP",
        "default",
        "office",
        json!({"ipAllowList": {"sourceRange": ["127.0.0.0/8"]}}),
    ));
    until_answered(&cluster, "the catch-all", "", || tcp_line(addr, "hello")).await;

    // Weights 3:1 over the pods of a (two) and b (one), per connection.
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..200 {
        let answer = tcp_line(addr, "hello").await.unwrap();
        let pod = answer.split_whitespace().next().unwrap().to_owned();
        *seen.entry(pod).or_default() += 1;
    }
    let service_a = seen.get("a-0").copied().unwrap_or(0) + seen.get("a-1").copied().unwrap_or(0);
    let service_b = seen.get("b-0").copied().unwrap_or(0);
    assert_eq!(service_a + service_b, 200, "{seen:?}");
    assert!((140..=160).contains(&service_a), "3:1 between the services: {seen:?}");
    assert!(
        seen.contains_key("a-0") && seen.contains_key("a-1"),
        "both pods of a: {seen:?}"
    );

    let snapshot = cluster.gateway.snapshot();
    let tcp = &snapshot.published().runtime.config.tcp;
    let weighted = tcp.services[&format!("{key}{Q}")].weighted.as_ref().unwrap();
    let children: Vec<(&str, u32)> = weighted.services.iter().map(|s| (s.name.as_str(), s.weight)).collect();
    assert_eq!(
        children,
        [
            (format!("{key}-a-3306{Q}").as_str(), 3),
            (format!("{key}-b-db{Q}").as_str(), 1)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_servers_transport_tcp_writes_the_proxy_protocol_to_pods() {
    let cluster = Cluster::start_crd_on(&[("tcp", "127.0.0.1:0")]).await;
    let addr = cluster.gateway.local_addr("tcp").unwrap();
    let pods = LinePods::start("pg", 1, None).await;
    deploy(&cluster, "pg", ("pg", 5432), &pods.addresses(), pods.port, "TCP");
    cluster.apply(traefik(
        "ServersTransportTCP",
        "default",
        "proxied",
        json!({"dialTimeout": 5, "terminationDelay": "200ms", "proxyProtocol": {"version": 1}}),
    ));
    cluster.apply(traefik(
        "IngressRouteTCP",
        "default",
        "pg",
        json!({
            "entryPoints": ["tcp"],
            "routes": [{"match": "HostSNI(`*`)", "services": [{"name": "pg", "port": 5432, "serversTransport": "proxied"}]}],
        }),
    ));
    // The pod reads the PROXY header as its first line and answers it.
    until_answered(&cluster, "the pg route", "pg-0 PROXY TCP4 127.0.0.1 ", || {
        tcp_line(addr, "hello")
    })
    .await;

    let snapshot = cluster.gateway.snapshot();
    let tcp = &snapshot.published().runtime.config.tcp;
    let transport = &tcp.servers_transports[&format!("default-proxied{Q}")];
    assert_eq!(transport.dial_timeout, switchyard_config::Duration::from_secs(5));
    assert_eq!(
        transport.termination_delay,
        switchyard_config::Duration::from_millis(200)
    );
}

/// UDP pods: each datagram is answered with `{pod} {datagram}`; one port, one loopback address each.
async fn udp_pods(name: &str, count: usize) -> (u16, Vec<String>, Vec<tokio::task::JoinHandle<()>>) {
    'attempt: loop {
        let first = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = first.local_addr().unwrap().port();
        let mut sockets = vec![first];
        for i in 1..count {
            match UdpSocket::bind(format!("127.0.0.{}:{port}", i + 1)).await {
                Ok(socket) => sockets.push(socket),
                Err(_) => continue 'attempt,
            }
        }
        let addresses = sockets
            .iter()
            .map(|s| s.local_addr().unwrap().ip().to_string())
            .collect();
        let tasks = sockets
            .into_iter()
            .enumerate()
            .map(|(i, socket)| {
                let pod = format!("{name}-{i}");
                tokio::spawn(async move {
                    let mut buffer = [0u8; 1500];
                    while let Ok((n, from)) = socket.recv_from(&mut buffer).await {
                        let answer = format!("{pod} {}", String::from_utf8_lossy(&buffer[..n]));
                        let _ = socket.send_to(answer.as_bytes(), from).await;
                    }
                })
            })
            .collect();
        return (port, addresses, tasks);
    }
}

/// One datagram from a new client socket: the answer, or `Err` after 2 s.
async fn udp_exchange(addr: SocketAddr, text: &str) -> Result<String, String> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    socket.send_to(text.as_bytes(), addr).await.map_err(|e| e.to_string())?;
    let mut buffer = [0u8; 1500];
    match tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buffer)).await {
        Ok(Ok((n, _))) => Ok(String::from_utf8_lossy(&buffer[..n]).into_owned()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 2 s".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_route_udp_balances_datagrams_over_weighted_services() {
    let cluster = Cluster::start_crd_on(&[("dns", "127.0.0.1:0/udp")]).await;
    let addr = cluster.gateway.local_addr("dns").unwrap();
    let (a_port, a_addresses, _a) = udp_pods("a", 2).await;
    let (b_port, b_addresses, _b) = udp_pods("b", 1).await;
    let a: Vec<&str> = a_addresses.iter().map(String::as_str).collect();
    let b: Vec<&str> = b_addresses.iter().map(String::as_str).collect();
    deploy(&cluster, "a", ("dns", 53), &a, a_port, "UDP");
    deploy(&cluster, "b", ("dns", 53), &b, b_port, "UDP");
    cluster.apply(traefik(
        "IngressRouteUDP",
        "default",
        "dns",
        json!({
            "entryPoints": ["dns"],
            "routes": [{"services": [{"name": "a", "port": 53}, {"name": "b", "port": "dns"}]}],
        }),
    ));
    until_answered(&cluster, "the UDP route", "", || udp_exchange(addr, "q")).await;
    let mut pods = BTreeSet::new();
    for _ in 0..24 {
        let answer = udp_exchange(addr, "query").await.unwrap();
        assert!(answer.ends_with(" query"), "{answer}");
        pods.insert(answer.split_whitespace().next().unwrap().to_owned());
    }
    assert_eq!(
        pods,
        BTreeSet::from(["a-0".to_owned(), "a-1".to_owned(), "b-0".to_owned()]),
        "every pod of both services answers some client"
    );
    let snapshot = cluster.gateway.snapshot();
    let udp = &snapshot.published().runtime.config.udp;
    assert_eq!(
        udp.routers[&format!("default-dns-0{Q}")].service,
        format!("default-dns-0{Q}")
    );
    assert!(udp.services.contains_key(&format!("default-dns-0-a-53{Q}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_tcp_and_udp_objects_are_reported_with_their_key_paths() {
    let cluster = Cluster::start_crd_on(&[("tcp", "127.0.0.1:0")]).await;
    let addr = cluster.gateway.local_addr("tcp").unwrap();
    let pods = LinePods::start("ok", 1, None).await;
    deploy(&cluster, "ok", ("db", 3306), &pods.addresses(), pods.port, "TCP");
    let route = |name: &str, rule: &str, services: Value| {
        traefik(
            "IngressRouteTCP",
            "default",
            name,
            json!({"entryPoints": ["tcp"], "routes": [{"match": rule, "services": services}]}),
        )
    };
    cluster.apply(route("good", "HostSNI(`*`)", json!([{"name": "ok", "port": 3306}])));
    cluster.apply(route("no-services", "HostSNI(`a.test`)", json!([])));
    cluster.apply(route(
        "missing",
        "HostSNI(`b.test`)",
        json!([{"name": "absent", "port": 1}]),
    ));
    cluster.apply(route(
        "elsewhere",
        "HostSNI(`c.test`)",
        json!([{"name": "ok", "namespace": "other", "port": 3306}]),
    ));
    cluster.apply(route(
        "half",
        "HostSNI(`d.test`)",
        json!([{"name": "ok", "port": 3306}, {"name": "ok", "port": 9}]),
    ));
    cluster.apply(traefik(
        "IngressRouteTCP",
        "default",
        "pass-secret",
        json!({
            "routes": [{"match": "HostSNI(`e.test`)", "services": [{"name": "ok", "port": 3306}]}],
            "tls": {"passthrough": true, "secretName": "unused"},
        }),
    ));
    // A key the shipped schema refuses reaches a cluster whose CRDs preserve unknown fields.
    cluster.server.apply(traefik(
        "MiddlewareTCP",
        "default",
        "typo",
        json!({"inFlightConn": {"amount": 2}, "ipAllowList": {"sourceRanges": ["10.0.0.0/8"]}}),
    ));
    cluster.apply(traefik(
        "ServersTransportTCP",
        "default",
        "no-ca",
        json!({"tls": {"rootCAs": [{"secret": "absent"}]}}),
    ));
    cluster.apply(traefik(
        "IngressRouteUDP",
        "default",
        "udp-missing",
        json!({"routes": [{"services": [{"name": "absent", "port": 53}]}]}),
    ));

    until_answered(&cluster, "the good route", "ok-0 hello", || tcp_line(addr, "hello")).await;
    let expected = [
        "IngressRouteTCP default/no-services: `spec.routes[0].services`: a route needs at least one service",
        "IngressRouteTCP default/missing: `spec.routes[0].services[0]`: Service `absent`: Service `default/absent` not found",
        "IngressRouteTCP default/elsewhere: `spec.routes[0].services[0].namespace`: a reference from namespace `default` to namespace `other`",
        "IngressRouteTCP default/half: `spec.routes[0].services[1]`: Service `ok`: has no port 9",
        "IngressRouteTCP default/pass-secret: `spec.tls.secretName`: a passthrough route does not terminate TLS",
        "MiddlewareTCP default/typo: unknown key `spec.ipAllowList.sourceRanges` ignored",
        "ServersTransportTCP default/no-ca: `spec.tls.rootCAs[0].secret`: Secret `default/absent` not found",
        "IngressRouteUDP default/udp-missing: `spec.routes[0].services[0]`: Service `absent`: Service `default/absent` not found",
    ];
    within(LIVE_TIMEOUT, || async {
        let warnings = cluster.warnings();
        expected.iter().all(|e| warnings.iter().any(|w| w.starts_with(e)))
    })
    .await
    .unwrap_or_else(|_| panic!("expected {expected:#?}\ngot {:#?}", cluster.warnings()));

    // The half-broken route keeps its usable service; the route without any is left out.
    let snapshot = cluster.gateway.snapshot();
    let tcp = &snapshot.published().runtime.config.tcp;
    let half = tcp_key("default", "half", "HostSNI(`d.test`)");
    let weighted = tcp.services[&format!("{half}{Q}")].weighted.as_ref().unwrap();
    assert_eq!(weighted.services.len(), 1);
    let missing = tcp_key("default", "missing", "HostSNI(`b.test`)");
    assert!(!tcp.routers.contains_key(&format!("{missing}{Q}")));
}
