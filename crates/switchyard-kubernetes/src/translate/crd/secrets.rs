//! What custom resources read from Secrets: certificates, CAs, users, plugin values.

use base64::Engine;
use sha1::Digest;

use super::CrdView;
use crate::crd::CrdSecret;
use crate::error::TranslateError;

/// The Secret type whose `username` and `password` keys make one basicAuth user.
const BASIC_AUTH_TYPE: &str = "kubernetes.io/basic-auth";

/// Secrets of one namespace, as seen by one object's key path.
pub(crate) struct Secrets<'a> {
    pub(crate) view: &'a CrdView,
    pub(crate) namespace: &'a str,
}

impl Secrets<'_> {
    fn get(&self, name: &str, path: &str) -> Result<&CrdSecret, TranslateError> {
        self.view
            .secrets
            .get(&(self.namespace.to_owned(), name.to_owned()))
            .map(AsRef::as_ref)
            .ok_or_else(|| fail(path, format!("Secret `{}/{name}` not found", self.namespace)))
    }

    /// `tls.crt` and `tls.key`, both present and not empty.
    pub(crate) fn certificate(&self, name: &str, path: &str) -> Result<(String, String), TranslateError> {
        let secret = self.get(name, path)?;
        let field = |key: &str| {
            let text = secret
                .value(key)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default();
            if text.trim().is_empty() {
                Err(fail(path, format!("Secret `{}/{name}` has no `{key}`", self.namespace)))
            } else {
                Ok(text)
            }
        };
        Ok((field("tls.crt")?, field("tls.key")?))
    }

    /// A CA: `tls.ca`, else `ca.crt`, else the only key of a Secret with one key (as Traefik reads it).
    pub(crate) fn ca(&self, name: &str, path: &str) -> Result<String, TranslateError> {
        let secret = self.get(name, path)?;
        let entries = secret.entries();
        let found = secret.value("tls.ca").or_else(|| secret.value("ca.crt")).or_else(|| {
            let [(_, only)] = entries.as_slice() else { return None };
            Some(only.clone())
        });
        found
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .ok_or_else(|| {
                fail(
                    path,
                    format!("Secret `{}/{name}` has neither `tls.ca` nor `ca.crt`", self.namespace),
                )
            })
    }

    /// basicAuth users: `username` and `password` of a `kubernetes.io/basic-auth` Secret (the password
    /// hashed as `{SHA}`), else the lines of the Secret's only key.
    pub(crate) fn basic_users(&self, name: &str, path: &str) -> Result<Vec<String>, TranslateError> {
        let secret = self.get(name, path)?;
        if secret.0.type_.as_deref() != Some(BASIC_AUTH_TYPE) {
            return self.users(secret, name, path);
        }
        let (Some(user), Some(password)) = (secret.value("username"), secret.value("password")) else {
            let reason = format!(
                "Secret `{}/{name}` must hold both `username` and `password`",
                self.namespace
            );
            return Err(fail(path, reason));
        };
        let hash = base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(&password));
        Ok(vec![format!("{}:{{SHA}}{hash}", String::from_utf8_lossy(&user))])
    }

    /// digestAuth users: the lines of the Secret's only key.
    pub(crate) fn digest_users(&self, name: &str, path: &str) -> Result<Vec<String>, TranslateError> {
        let secret = self.get(name, path)?;
        self.users(secret, name, path)
    }

    fn users(&self, secret: &CrdSecret, name: &str, path: &str) -> Result<Vec<String>, TranslateError> {
        let entries = secret.entries();
        let [(_, content)] = entries.as_slice() else {
            let reason = format!(
                "Secret `{}/{name}` must hold exactly one key (the users file), not {}",
                self.namespace,
                entries.len()
            );
            return Err(fail(path, reason));
        };
        let users: Vec<String> = String::from_utf8_lossy(content)
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect();
        if users.is_empty() {
            return Err(fail(path, format!("Secret `{}/{name}` holds no user", self.namespace)));
        }
        Ok(users)
    }

    /// The value a plugin option `urn:k8s:secret:NAME:KEY` stands for.
    pub(crate) fn urn(&self, urn: &str, path: &str) -> Result<String, TranslateError> {
        let parts: Vec<&str> = urn.split(':').collect();
        let [_, _, _, name, key] = parts.as_slice() else {
            return Err(fail(path, format!("malformed Secret URN `{urn}`")));
        };
        let secret = self.get(name, path)?;
        let value = secret
            .value(key)
            .ok_or_else(|| fail(path, format!("Secret `{}/{name}` has no `{key}`", self.namespace)))?;
        Ok(String::from_utf8_lossy(&value).into_owned())
    }
}

fn fail(path: &str, reason: String) -> TranslateError {
    TranslateError::Spec {
        path: path.to_owned(),
        reason,
    }
}
