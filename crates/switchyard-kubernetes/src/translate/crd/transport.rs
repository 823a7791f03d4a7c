//! ServersTransports: TLS towards pods with CAs and client certificates from Secrets, timeouts, pools.

use switchyard_config::{Certificate, ServersTransport};

use super::read::without;
use super::reference;
use super::spec::TransportSecrets;
use super::{Crd, Object};
use crate::error::TranslateError;

impl Crd<'_> {
    /// Every ServersTransport.
    pub(crate) fn servers_transports(&mut self) {
        for transport in &self.view.servers_transports {
            let object = Object::of("ServersTransport", transport.as_ref());
            match self.servers_transport(object, &transport.spec) {
                Ok(built) => {
                    let key = reference::id(object.namespace, object.name);
                    self.out.snapshot.config.http.servers_transports.insert(key, built);
                }
                Err(problem) => self.problem(object, problem),
            }
        }
    }

    fn servers_transport(
        &mut self,
        object: Object<'_>,
        spec: &serde_json::Value,
    ) -> Result<ServersTransport, TranslateError> {
        let secret_keys = ["rootCAsSecrets", "rootCAs", "certificatesSecrets"];
        let mut transport: ServersTransport = self.read(object, &without(spec, &secret_keys), "spec")?;
        let only_secrets = serde_json::Value::Object(
            spec.as_object()
                .into_iter()
                .flatten()
                .filter(|(key, _)| secret_keys.contains(&key.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        let secrets: TransportSecrets = self.read(object, &only_secrets, "spec")?;
        transport.root_cas = self.root_cas_at(object, &secrets, "spec")?;
        for (i, name) in secrets.certificates_secrets.iter().enumerate() {
            let path = format!("spec.certificatesSecrets[{i}]");
            let (cert, key) = self.secrets(&object).certificate(name, &path)?;
            transport.certificates.push(Certificate::new(cert, key));
        }
        Ok(transport)
    }

    /// The CAs of `rootCAsSecrets` and `rootCAs` found under `at` (Secrets only: ConfigMaps are not
    /// watched).
    pub(crate) fn root_cas_at(
        &self,
        object: Object<'_>,
        secrets: &TransportSecrets,
        at: &str,
    ) -> Result<Vec<String>, TranslateError> {
        let mut cas = Vec::new();
        for (i, name) in secrets.root_cas_secrets.iter().enumerate() {
            cas.push(self.secrets(&object).ca(name, &format!("{at}.rootCAsSecrets[{i}]"))?);
        }
        for (i, root) in secrets.root_cas.iter().enumerate() {
            let path = format!("{at}.rootCAs[{i}]");
            let (Some(secret), None) = (&root.secret, &root.config_map) else {
                let reason = "give a `secret` (ConfigMaps are not watched by switchyard; put the CA in a Secret)";
                return Err(TranslateError::Spec {
                    path,
                    reason: reason.into(),
                });
            };
            cas.push(self.secrets(&object).ca(secret, &format!("{path}.secret"))?);
        }
        Ok(cas)
    }
}
