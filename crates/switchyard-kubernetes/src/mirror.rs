//! One watch's copy of its objects, replaced whole when the watch lists again.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::Resource;
use kube::runtime::watcher::Event;

use crate::translate::Key;

/// The objects one watch has seen. A re-list builds a new set beside the old one and swaps it in when
/// complete, so the last good state stays in use meanwhile.
#[derive(Debug)]
pub(crate) struct Mirror<K> {
    objects: BTreeMap<Key, Arc<K>>,
    relisting: Option<BTreeMap<Key, Arc<K>>>,
    listed: bool,
}

impl<K> Default for Mirror<K> {
    fn default() -> Self {
        Self {
            objects: BTreeMap::new(),
            relisting: None,
            listed: false,
        }
    }
}

/// The annotation `kubectl apply` keeps a copy of the whole object in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what translation never reads before an object is kept, so that memory follows what routing
/// needs rather than what the cluster stores.
pub(crate) trait Slim: Resource {
    /// Drops the fields of this kind that translation does not read.
    fn slim_kind(&mut self) {}

    /// Whether `newer`, a later version of this object, translates as this one does, so that
    /// receiving it need not trigger a translation (the newer version is kept all the same).
    fn translates_as(&self, _newer: &Self) -> bool {
        false
    }

    /// Drops managed fields, kubectl's copy of the object, and what [`slim_kind`](Self::slim_kind)
    /// drops.
    fn slim(mut self) -> Self
    where
        Self: Sized,
    {
        let meta = self.meta_mut();
        meta.managed_fields = None;
        if let Some(annotations) = &mut meta.annotations {
            annotations.remove(LAST_APPLIED);
        }
        self.slim_kind();
        self
    }
}

impl Slim for Ingress {}
impl Slim for IngressClass {}
impl Slim for Service {}
impl Slim for EndpointSlice {}
impl Slim for Node {}

impl Slim for Secret {
    /// Only a certificate and its key are read: other Secrets (Helm releases, tokens) keep their
    /// names alone.
    fn slim_kind(&mut self) {
        let tls = |key: &String| key == "tls.crt" || key == "tls.key";
        if let Some(data) = &mut self.data {
            data.retain(|key, _| tls(key));
        }
        if let Some(data) = &mut self.string_data {
            data.retain(|key, _| tls(key));
        }
    }
}

fn key<K: Resource>(object: &K) -> Key {
    let meta = object.meta();
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

impl<K: Slim> Mirror<K> {
    /// Applies a watch event; returns whether the objects in use changed.
    pub(crate) fn apply(&mut self, event: Event<K>) -> bool {
        match event {
            Event::Apply(object) => {
                let object = object.slim();
                let key = key(&object);
                let same = self.objects.get(&key).is_some_and(|old| old.translates_as(&object));
                self.objects.insert(key, Arc::new(object));
                self.listed && !same
            }
            Event::Delete(object) => self.objects.remove(&key(&object)).is_some() && self.listed,
            Event::Init => {
                self.relisting = Some(BTreeMap::new());
                false
            }
            Event::InitApply(object) => {
                self.relisting
                    .get_or_insert_with(BTreeMap::new)
                    .insert(key(&object), Arc::new(object.slim()));
                false
            }
            Event::InitDone => {
                self.objects = self.relisting.take().unwrap_or_default();
                self.listed = true;
                true
            }
        }
    }

    /// Whether a first list completed.
    pub(crate) fn listed(&self) -> bool {
        self.listed
    }

    /// The objects in use.
    pub(crate) fn objects(&self) -> impl Iterator<Item = &Arc<K>> {
        self.objects.values()
    }

    /// The object in use named `namespace/name` (empty namespace for cluster-scoped kinds).
    pub(crate) fn get(&self, namespace: &str, name: &str) -> Option<&Arc<K>> {
        self.objects.get(&(namespace.to_owned(), name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Service;

    fn service(name: &str) -> Service {
        let mut service = Service::default();
        service.metadata.name = Some(name.into());
        service.metadata.namespace = Some("default".into());
        service
    }

    #[test]
    fn a_relist_replaces_the_objects_only_when_complete() {
        let mut mirror = Mirror::default();
        assert!(!mirror.apply(Event::Init));
        assert!(!mirror.apply(Event::InitApply(service("a"))));
        assert!(!mirror.listed());
        assert!(mirror.apply(Event::InitDone));
        assert!(mirror.apply(Event::Apply(service("b"))));
        mirror.apply(Event::Init);
        mirror.apply(Event::InitApply(service("c")));
        assert_eq!(
            mirror.objects().count(),
            2,
            "the old objects stay until the list completes"
        );
        mirror.apply(Event::InitDone);
        let names: Vec<_> = mirror.objects().map(|s| s.metadata.name.clone().unwrap()).collect();
        assert_eq!(names, ["c"]);
        assert!(mirror.apply(Event::Delete(service("c"))));
        assert!(!mirror.apply(Event::Delete(service("c"))));
    }

    #[test]
    fn kept_objects_lose_what_translation_does_not_read() {
        use k8s_openapi::ByteString;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

        let mut secret = Secret::default();
        secret.metadata.name = Some("release".into());
        secret.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default()]);
        secret.metadata.annotations = Some([(LAST_APPLIED.to_owned(), "{...}".to_owned())].into());
        secret.data = Some(
            [
                ("tls.crt".to_owned(), ByteString(b"cert".to_vec())),
                ("release".to_owned(), ByteString(vec![0; 4096])),
            ]
            .into(),
        );
        let mut mirror = Mirror::default();
        mirror.apply(Event::Apply(secret));
        let kept = mirror.objects().next().unwrap();
        assert!(kept.metadata.managed_fields.is_none());
        assert_eq!(kept.metadata.annotations.as_ref().map(|a| a.len()), Some(0));
        let keys: Vec<_> = kept.data.as_ref().unwrap().keys().collect();
        assert_eq!(keys, ["tls.crt"]);
    }
}
