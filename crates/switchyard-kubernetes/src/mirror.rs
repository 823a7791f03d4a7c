//! One watch's copy of its objects, replaced whole when the watch lists again.

use std::collections::BTreeMap;
use std::sync::Arc;

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

fn key<K: Resource>(object: &K) -> Key {
    let meta = object.meta();
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

impl<K: Resource> Mirror<K> {
    /// Applies a watch event; returns whether the objects in use changed.
    pub(crate) fn apply(&mut self, event: Event<K>) -> bool {
        match event {
            Event::Apply(object) => {
                self.objects.insert(key(&object), Arc::new(object));
                self.listed
            }
            Event::Delete(object) => self.objects.remove(&key(&object)).is_some() && self.listed,
            Event::Init => {
                self.relisting = Some(BTreeMap::new());
                false
            }
            Event::InitApply(object) => {
                self.relisting
                    .get_or_insert_with(BTreeMap::new)
                    .insert(key(&object), Arc::new(object));
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
}
