//! Secrets as the CRD provider keeps them: every key, since middlewares read users, CAs and plugin
//! values from keys of any name; only Helm's release records, which no reference reads, are dropped.

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::Deserialize;

use crate::mirror::Slim;

/// The type of the Secrets Helm keeps each release in (large, and never referenced by routing).
const HELM_RELEASE: &str = "helm.sh/release.v1";

/// A Secret watched by the CRD provider.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub(crate) struct CrdSecret(pub(crate) Secret);

impl Resource for CrdSecret {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        Secret::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        Secret::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        Secret::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        Secret::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.0.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.0.metadata
    }
}

impl Slim for CrdSecret {
    fn slim_kind(&mut self) {
        if self.0.type_.as_deref() == Some(HELM_RELEASE) {
            self.0.data = None;
            self.0.string_data = None;
        }
    }
}

impl CrdSecret {
    /// The value of one key, from `data` or `stringData`.
    pub(crate) fn value(&self, key: &str) -> Option<Vec<u8>> {
        let data = self.0.data.as_ref().and_then(|d| d.get(key)).map(|b| b.0.clone());
        data.or_else(|| {
            let text = self.0.string_data.as_ref()?.get(key)?;
            Some(text.clone().into_bytes())
        })
    }

    /// Every key with its value.
    pub(crate) fn entries(&self) -> Vec<(String, Vec<u8>)> {
        let data = self.0.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone()));
        let strings = self
            .0
            .string_data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()));
        let mut entries: Vec<_> = data.chain(strings).collect();
        entries.sort();
        entries.dedup_by(|a, b| a.0 == b.0);
        entries
    }
}
