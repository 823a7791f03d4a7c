//! Combining the files of a directory into one snapshot, the way Traefik's file provider does: files in
//! path order, the first definition of a name wins, later ones are reported and skipped.

use std::collections::BTreeMap;
use std::path::PathBuf;

use switchyard_config::{DynamicConfig, HttpConfig, ProviderConfig, TcpConfig, TlsConfig, UdpConfig};

/// Merges per-file configurations (in path order); returns the snapshot and one message per skipped
/// duplicate.
pub(crate) fn merge_files(files: &BTreeMap<PathBuf, DynamicConfig>) -> (ProviderConfig, Vec<String>) {
    let mut merged = ProviderConfig::default();
    let mut skipped = Vec::new();
    for (path, config) in files {
        let file = path.display().to_string();
        let mut add = Adder {
            file: &file,
            origins: &mut merged.origins,
            skipped: &mut skipped,
        };
        add.http(&mut merged.config.http, &config.http);
        add.tls(&mut merged.config.tls, &config.tls);
        add.tcp(&mut merged.config.tcp, &config.tcp);
        add.udp(&mut merged.config.udp, &config.udp);
    }
    (merged, skipped)
}

/// Adds one file's definitions to the merged configuration, reporting those it skips.
struct Adder<'a> {
    file: &'a str,
    origins: &'a mut BTreeMap<String, String>,
    skipped: &'a mut Vec<String>,
}

impl Adder<'_> {
    fn http(&mut self, into: &mut HttpConfig, from: &HttpConfig) {
        self.map("http.routers", "router", &mut into.routers, &from.routers);
        self.map("http.services", "service", &mut into.services, &from.services);
        self.map(
            "http.middlewares",
            "middleware",
            &mut into.middlewares,
            &from.middlewares,
        );
        self.map(
            "http.serversTransports",
            "servers transport",
            &mut into.servers_transports,
            &from.servers_transports,
        );
    }

    fn tcp(&mut self, into: &mut TcpConfig, from: &TcpConfig) {
        self.map("tcp.routers", "TCP router", &mut into.routers, &from.routers);
        self.map("tcp.services", "TCP service", &mut into.services, &from.services);
        self.map(
            "tcp.middlewares",
            "TCP middleware",
            &mut into.middlewares,
            &from.middlewares,
        );
        self.map(
            "tcp.serversTransports",
            "TCP servers transport",
            &mut into.servers_transports,
            &from.servers_transports,
        );
    }

    fn tls(&mut self, into: &mut TlsConfig, from: &TlsConfig) {
        self.map("tls.options", "TLS options", &mut into.options, &from.options);
        self.map("tls.stores", "TLS store", &mut into.stores, &from.stores);
        for certificate in &from.certificates {
            if into.certificates.contains(certificate) {
                self.skipped.push(format!(
                    "{}: a TLS certificate is configured twice; the copy is skipped",
                    self.file
                ));
            } else {
                into.certificates.push(certificate.clone());
            }
        }
    }

    fn udp(&mut self, into: &mut UdpConfig, from: &UdpConfig) {
        self.map("udp.routers", "UDP router", &mut into.routers, &from.routers);
        self.map("udp.services", "UDP service", &mut into.services, &from.services);
    }

    fn map<T: Clone>(&mut self, section: &str, what: &str, into: &mut BTreeMap<String, T>, from: &BTreeMap<String, T>) {
        for (name, value) in from {
            let key = format!("{section}.{name}");
            if let Some(first) = self.origins.get(&key) {
                self.skipped.push(format!(
                    "{}: {what} `{name}` is already defined in {first}; this definition is skipped",
                    self.file
                ));
            } else {
                self.origins.insert(key, self.file.to_owned());
                into.insert(name.clone(), value.clone());
            }
        }
    }
}
