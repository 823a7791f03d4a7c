//! Combining the files of a directory into one snapshot, the way Traefik's file provider does: files in
//! path order, the first definition of a name wins, later ones are reported and skipped.

use std::collections::BTreeMap;
use std::path::PathBuf;

use switchyard_config::{DynamicConfig, ProviderConfig};

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
        let http = &mut merged.config.http;
        add.map("http.routers", "router", &mut http.routers, &config.http.routers);
        add.map("http.services", "service", &mut http.services, &config.http.services);
        add.map(
            "http.middlewares",
            "middleware",
            &mut http.middlewares,
            &config.http.middlewares,
        );
        add.map(
            "http.serversTransports",
            "servers transport",
            &mut http.servers_transports,
            &config.http.servers_transports,
        );
        let tls = &mut merged.config.tls;
        add.map("tls.options", "TLS options", &mut tls.options, &config.tls.options);
        add.map("tls.stores", "TLS store", &mut tls.stores, &config.tls.stores);
        for certificate in &config.tls.certificates {
            if tls.certificates.contains(certificate) {
                skipped.push(format!(
                    "{file}: a TLS certificate is configured twice; the copy is skipped"
                ));
            } else {
                tls.certificates.push(certificate.clone());
            }
        }
        for (section, mine, theirs) in [
            ("tcp", &mut merged.config.tcp, &config.tcp),
            ("udp", &mut merged.config.udp, &config.udp),
        ] {
            match (mine.is_some(), theirs) {
                (false, Some(value)) => *mine = Some(value.clone()),
                (true, Some(_)) => skipped.push(format!(
                    "{file}: the `{section}` section is already defined in another file; this one is skipped"
                )),
                _ => {}
            }
        }
    }
    (merged, skipped)
}

struct Adder<'a> {
    file: &'a str,
    origins: &'a mut BTreeMap<String, String>,
    skipped: &'a mut Vec<String>,
}

impl Adder<'_> {
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
