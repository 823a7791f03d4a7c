//! Middlewares: every HTTP middleware type of the dynamic configuration, with the Kubernetes-specific
//! parts read from the cluster: users and TLS material from Secrets, `errors.service` as a service
//! reference, `chain` by Middleware name, Secret values in plugin options.

use serde_json::{Value, json};
use switchyard_config::{BasicAuth, Chain, ClientTls, DigestAuth, ErrorPage, ForwardAuth, Middleware};

use super::read::without;
use super::reference;
use super::spec::{self, AuthSecret, ClientTlsSecrets};
use super::{Crd, Object};
use crate::error::TranslateError;

/// The prefix of plugin option values that stand for a Secret's value.
const SECRET_URN: &str = "urn:k8s:secret:";

impl Crd<'_> {
    /// Every Middleware: each is reported alone when it cannot be translated.
    pub(crate) fn middlewares(&mut self) {
        for middleware in &self.view.middlewares {
            let object = Object::of("Middleware", middleware.as_ref());
            let key = reference::id(object.namespace, object.name);
            match self.middleware(object, &middleware.spec, &key) {
                Ok(built) => {
                    self.out.snapshot.config.http.middlewares.insert(key.clone(), built);
                    self.origin(format!("http.middlewares.{key}"), object, "");
                }
                Err(problem) => self.problem(object, problem),
            }
        }
    }

    fn middleware(&mut self, object: Object<'_>, spec: &Value, key: &str) -> Result<Middleware, TranslateError> {
        let empty = serde_json::Map::new();
        let fields = spec.as_object().unwrap_or(&empty);
        let mut types = fields.iter();
        let (Some((kind, value)), None) = (types.next(), types.next()) else {
            let found: Vec<&String> = fields.keys().collect();
            let reason = format!("a Middleware has exactly one type (such as `stripPrefix`), found {found:?}");
            return Err(TranslateError::Spec {
                path: "spec".into(),
                reason,
            });
        };
        let path = format!("spec.{kind}");
        match kind.as_str() {
            "basicAuth" => self.basic_auth(object, value, &path),
            "digestAuth" => self.digest_auth(object, value, &path),
            "forwardAuth" => self.forward_auth(object, value, &path),
            "errors" => self.errors(object, value, &path, key),
            "chain" => self.chain(object, value, &path),
            "plugin" => self.plugin(object, value, &path),
            _ => self.read(object, &json!({ kind: value }), "spec"),
        }
    }

    fn basic_auth(&mut self, object: Object<'_>, value: &Value, path: &str) -> Result<Middleware, TranslateError> {
        let auth: AuthSecret = self.read(object, value, path)?;
        let users = self
            .secrets(&object)
            .basic_users(&auth.secret, &format!("{path}.secret"))?;
        let defaults = BasicAuth::default();
        Ok(Middleware::BasicAuth(BasicAuth {
            users,
            realm: or_default(auth.realm, defaults.realm.clone()),
            remove_header: auth.remove_header,
            header_field: auth.header_field,
            ..defaults
        }))
    }

    fn digest_auth(&mut self, object: Object<'_>, value: &Value, path: &str) -> Result<Middleware, TranslateError> {
        let auth: AuthSecret = self.read(object, value, path)?;
        let users = self
            .secrets(&object)
            .digest_users(&auth.secret, &format!("{path}.secret"))?;
        let defaults = DigestAuth::default();
        Ok(Middleware::DigestAuth(DigestAuth {
            users,
            realm: or_default(auth.realm, defaults.realm.clone()),
            remove_header: auth.remove_header,
            header_field: auth.header_field,
            ..defaults
        }))
    }

    fn forward_auth(&mut self, object: Object<'_>, value: &Value, path: &str) -> Result<Middleware, TranslateError> {
        let mut auth: ForwardAuth = self.read(object, &without(value, &["tls"]), path)?;
        if let Some(tls) = value.get("tls") {
            let at = format!("{path}.tls");
            let secrets: ClientTlsSecrets = self.read(object, tls, &at)?;
            let mut client = ClientTls {
                insecure_skip_verify: secrets.insecure_skip_verify,
                ca_optional: secrets.ca_optional,
                ..ClientTls::default()
            };
            if !secrets.ca_secret.is_empty() {
                client.ca = self
                    .secrets(&object)
                    .ca(&secrets.ca_secret, &format!("{at}.caSecret"))?;
            }
            if !secrets.cert_secret.is_empty() {
                let (cert, key) = self
                    .secrets(&object)
                    .certificate(&secrets.cert_secret, &format!("{at}.certSecret"))?;
                (client.cert, client.key) = (cert, key);
            }
            auth.tls = Some(client);
        }
        Ok(Middleware::ForwardAuth(auth))
    }

    /// `errors`: the error-page service is a service reference; a Kubernetes Service gets the load
    /// balancer `<middleware>-errorpage-service`, as in Traefik.
    fn errors(
        &mut self,
        object: Object<'_>,
        value: &Value,
        path: &str,
        key: &str,
    ) -> Result<Middleware, TranslateError> {
        let mut page: ErrorPage = self.read(object, &without(value, &["service"]), path)?;
        let service = value.get("service").cloned().unwrap_or(Value::Null);
        let name = format!("{key}-errorpage-service");
        (page.service, _) = self.backend(object, &service, &format!("{path}.service"), Some(name))?;
        Ok(Middleware::Errors(page))
    }

    fn chain(&mut self, object: Object<'_>, value: &Value, path: &str) -> Result<Middleware, TranslateError> {
        let chain: spec::Chain = self.read(object, value, path)?;
        let middlewares = self.middleware_references(object, &chain.middlewares, &format!("{path}.middlewares"))?;
        Ok(Middleware::Chain(Chain { middlewares }))
    }

    /// `plugin`: options as given, with `urn:k8s:secret:NAME:KEY` strings replaced by the Secret's value.
    fn plugin(&mut self, object: Object<'_>, value: &Value, path: &str) -> Result<Middleware, TranslateError> {
        let mut value = value.clone();
        self.reveal(object, &mut value, path)?;
        let plugins = self.read(object, &value, path)?;
        Ok(Middleware::Plugin(plugins))
    }

    fn reveal(&self, object: Object<'_>, value: &mut Value, path: &str) -> Result<(), TranslateError> {
        match value {
            Value::String(text) if text.starts_with(SECRET_URN) => {
                *text = self.secrets(&object).urn(text, path)?;
            }
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.reveal(object, item, &format!("{path}[{i}]"))?;
                }
            }
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    self.reveal(object, item, &format!("{path}.{key}"))?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// An empty realm means the default one, as in Traefik.
fn or_default(value: String, default: String) -> String {
    if value.is_empty() { default } else { value }
}
