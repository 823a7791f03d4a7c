//! TLSOptions and TLSStores: named after their object, except those named `default`, which replace the
//! default options or store (and are refused when several namespaces define one).

use switchyard_config::{Certificate, TlsOptions, TlsStore};

use super::read::without;
use super::reference;
use super::spec::{ClientAuth, TlsStoreSpec};
use super::{Crd, Object};
use crate::error::TranslateError;

/// The name of the default TLS options and store.
pub(crate) const DEFAULT: &str = "default";

/// The configuration name of a TLSOption or TLSStore.
pub(crate) fn tls_id(namespace: &str, name: &str) -> String {
    if name == DEFAULT {
        DEFAULT.to_owned()
    } else {
        reference::id(namespace, name)
    }
}

impl Crd<'_> {
    /// Every TLSOption.
    pub(crate) fn tls_options(&mut self) {
        let mut defaults = Vec::new();
        for option in &self.view.tls_options {
            let object = Object::of("TLSOption", option.as_ref());
            match self.tls_option(object, &option.spec) {
                Ok(options) => {
                    if object.name == DEFAULT {
                        defaults.push(object.namespace.to_owned());
                    }
                    let id = tls_id(object.namespace, object.name);
                    self.out.snapshot.config.tls.options.insert(id, options);
                }
                Err(problem) => self.problem(object, problem),
            }
        }
        self.refuse_several_defaults("TLSOption", &defaults, |crd| {
            crd.out.snapshot.config.tls.options.remove(DEFAULT);
        });
    }

    fn tls_option(&mut self, object: Object<'_>, spec: &serde_json::Value) -> Result<TlsOptions, TranslateError> {
        let mut options: TlsOptions = self.read(object, &without(spec, &["clientAuth"]), "spec")?;
        let Some(client_auth) = spec.get("clientAuth") else {
            return Ok(options);
        };
        let client_auth: ClientAuth = self.read(object, client_auth, "spec.clientAuth")?;
        options.client_auth.client_auth_type = client_auth.client_auth_type;
        for (i, secret) in client_auth.secret_names.iter().enumerate() {
            let path = format!("spec.clientAuth.secretNames[{i}]");
            options
                .client_auth
                .ca_files
                .push(self.secrets(&object).ca(secret, &path)?);
        }
        Ok(options)
    }

    /// Every TLSStore, and the certificates it lists.
    pub(crate) fn tls_stores(&mut self) {
        let mut defaults = Vec::new();
        for store in &self.view.tls_stores {
            let object = Object::of("TLSStore", store.as_ref());
            let id = tls_id(object.namespace, object.name);
            match self.tls_store(object, &store.spec, &id) {
                Ok(built) => {
                    if object.name == DEFAULT {
                        defaults.push(object.namespace.to_owned());
                    }
                    self.out.snapshot.config.tls.stores.insert(id, built);
                }
                Err(problem) => self.problem(object, problem),
            }
        }
        self.refuse_several_defaults("TLSStore", &defaults, |crd| {
            crd.out.snapshot.config.tls.stores.remove(DEFAULT);
        });
    }

    fn tls_store(
        &mut self,
        object: Object<'_>,
        spec: &serde_json::Value,
        id: &str,
    ) -> Result<TlsStore, TranslateError> {
        let spec: TlsStoreSpec = self.read(object, spec, "spec")?;
        let mut store = TlsStore {
            default_generated_cert: spec.default_generated_cert,
            ..TlsStore::default()
        };
        if let Some(default) = &spec.default_certificate {
            let path = "spec.defaultCertificate.secretName";
            let (cert, key) = self.secrets(&object).certificate(&default.secret_name, path)?;
            store.default_certificate = Some(Certificate::new(cert, key));
        }
        for (i, certificate) in spec.certificates.iter().enumerate() {
            let path = format!("spec.certificates[{i}].secretName");
            self.certificate(object, &certificate.secret_name, vec![id.to_owned()], &path);
        }
        Ok(store)
    }

    /// Drops a `default` defined in several namespaces, reported against each, as Traefik does.
    fn refuse_several_defaults(&mut self, kind: &'static str, namespaces: &[String], drop: impl FnOnce(&mut Self)) {
        if namespaces.len() < 2 {
            return;
        }
        drop(self);
        for namespace in namespaces {
            let object = Object {
                kind,
                namespace,
                name: DEFAULT,
            };
            let reason = format!("a default {kind} is defined in several namespaces ({namespaces:?}); none is used");
            self.problem(
                object,
                TranslateError::Spec {
                    path: "metadata.name".into(),
                    reason,
                },
            );
        }
    }
}
