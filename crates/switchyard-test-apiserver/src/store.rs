//! The objects, their resource versions, the history watches replay from, and the open watches.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::resource::ResourceType;
use crate::selector::Selector;

/// Changes kept for watches that resume from a resource version; older versions get `410 Gone`.
const HISTORY: usize = 200_000;

/// `(group, plural)`: how objects of one resource type are found, whatever their version.
pub(crate) type TypeKey = (String, String);

/// Where one object is stored.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ObjectKey {
    pub(crate) resource: TypeKey,
    pub(crate) namespace: String,
    pub(crate) name: String,
}

/// One change, as history keeps it: the object before and after.
#[derive(Debug)]
pub(crate) struct Change {
    pub(crate) revision: u64,
    pub(crate) key: ObjectKey,
    pub(crate) before: Option<Value>,
    pub(crate) after: Option<Value>,
}

/// What a watch asked for.
#[derive(Debug, Clone)]
pub(crate) struct WatchFilter {
    pub(crate) resource: TypeKey,
    pub(crate) namespace: Option<String>,
    pub(crate) selector: Selector,
    pub(crate) bookmarks: bool,
}

impl WatchFilter {
    fn selects(&self, key: &ObjectKey, object: &Value) -> bool {
        key.resource == self.resource
            && self.namespace.as_ref().is_none_or(|ns| *ns == key.namespace)
            && self.selector.matches(object)
    }

    /// The event this watch sees for a change, if any: an object that stops matching the selector is
    /// `DELETED` for it, one that starts matching is `ADDED`.
    fn event(&self, change: &Change) -> Option<Bytes> {
        let before = change.before.as_ref().filter(|o| self.selects(&change.key, o));
        let after = change.after.as_ref().filter(|o| self.selects(&change.key, o));
        match (before, after) {
            (None, Some(object)) => Some(event_line("ADDED", object)),
            (Some(_), Some(object)) => Some(event_line("MODIFIED", object)),
            (Some(object), None) => {
                // The deletion is at the change's revision.
                let mut object = object.clone();
                object["metadata"]["resourceVersion"] = json!(change.revision.to_string());
                Some(event_line("DELETED", &object))
            }
            (None, None) => None,
        }
    }
}

/// Whether an update changes what `metadata.generation` counts: everything but the metadata and the
/// status, as for custom resources with a status subresource.
fn spec_changed(before: &Value, after: &Value) -> bool {
    let desired = |object: &Value| -> Vec<(String, Value)> {
        let Some(fields) = object.as_object() else {
            return Vec::new();
        };
        let mut kept: Vec<(String, Value)> = fields
            .iter()
            .filter(|(key, _)| !matches!(key.as_str(), "metadata" | "status" | "apiVersion" | "kind"))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        kept
    };
    desired(before) != desired(after)
}

/// The creation time of the `n`-th object created: one second after the one before, from
/// 2026-01-01T00:00:00Z, so that objects created one after another sort by age as in a cluster.
fn creation_timestamp(n: u64) -> String {
    let seconds = n.saturating_sub(1);
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (month, day) = (1 + days / 28, 1 + days % 28);
    format!(
        "2026-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60
    )
}

/// One line of a watch stream.
pub(crate) fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

struct Watch {
    filter: WatchFilter,
    events: mpsc::UnboundedSender<Bytes>,
}

/// Everything the server knows.
#[derive(Default)]
pub(crate) struct Store {
    objects: BTreeMap<ObjectKey, Value>,
    types: BTreeMap<TypeKey, ResourceType>,
    revision: u64,
    history: VecDeque<Arc<Change>>,
    /// Watches from a version below this one get `410 Gone`.
    oldest: u64,
    watches: Vec<Watch>,
    uids: u64,
}

impl Store {
    pub(crate) fn revision(&self) -> u64 {
        self.revision
    }

    pub(crate) fn register(&mut self, resource: ResourceType) {
        self.types
            .entry((resource.group.clone(), resource.plural.clone()))
            .or_insert(resource);
    }

    pub(crate) fn types(&self) -> impl Iterator<Item = &ResourceType> {
        self.types.values()
    }

    pub(crate) fn resource(&self, key: &TypeKey) -> Option<&ResourceType> {
        self.types.get(key)
    }

    pub(crate) fn resource_of_kind(&self, kind: &str) -> Option<&ResourceType> {
        self.types.values().find(|t| t.kind == kind)
    }

    pub(crate) fn get(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(key)
    }

    /// The objects of one type, optionally in one namespace, that the selector selects.
    pub(crate) fn list(&self, resource: &TypeKey, namespace: Option<&str>, selector: &Selector) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(key, object)| {
                key.resource == *resource && namespace.is_none_or(|ns| ns == key.namespace) && selector.matches(object)
            })
            .map(|(_, object)| object.clone())
            .collect()
    }

    /// Creates or replaces an object, stamping a new resource version (and a uid and creation time on
    /// creation). A replacement without `status` keeps the stored status, as `kubectl apply` does.
    pub(crate) fn put(&mut self, key: ObjectKey, mut object: Value) -> Value {
        let before = self.objects.get(&key).cloned();
        self.revision += 1;
        let revision = self.revision;
        let meta = &mut object["metadata"];
        meta["resourceVersion"] = json!(revision.to_string());
        match &before {
            Some(old) => {
                meta["uid"] = old["metadata"]["uid"].clone();
                meta["creationTimestamp"] = old["metadata"]["creationTimestamp"].clone();
                let generation = old["metadata"]["generation"].as_u64().unwrap_or(1);
                if object.get("status").is_none()
                    && let Some(status) = old.get("status")
                {
                    object["status"] = status.clone();
                }
                let bumped = generation + u64::from(spec_changed(old, &object));
                object["metadata"]["generation"] = json!(bumped);
            }
            None => {
                self.uids += 1;
                if meta.get("uid").is_none() {
                    meta["uid"] = json!(format!("00000000-0000-0000-0000-{:012}", self.uids));
                }
                if meta.get("creationTimestamp").is_none() {
                    meta["creationTimestamp"] = json!(creation_timestamp(self.uids));
                }
                meta["generation"] = json!(1);
            }
        }
        self.objects.insert(key.clone(), object.clone());
        self.record(Change {
            revision,
            key,
            before,
            after: Some(object.clone()),
        });
        object
    }

    /// Deletes an object; `None` when there was none.
    pub(crate) fn remove(&mut self, key: &ObjectKey) -> Option<Value> {
        let before = self.objects.remove(key)?;
        self.revision += 1;
        self.record(Change {
            revision: self.revision,
            key: key.clone(),
            before: Some(before.clone()),
            after: None,
        });
        Some(before)
    }

    fn record(&mut self, change: Change) {
        let change = Arc::new(change);
        self.watches.retain(|watch| match watch.filter.event(&change) {
            Some(line) => watch.events.send(line).is_ok(),
            None => !watch.events.is_closed(),
        });
        self.history.push_back(change);
        while self.history.len() > HISTORY {
            if let Some(dropped) = self.history.pop_front() {
                self.oldest = dropped.revision;
            }
        }
    }

    /// Starts a watch: replays what it missed since `from` (every matching object as `ADDED` when
    /// `from` is `None` or 0), then follows changes. A `from` older than the history is `410 Gone`.
    pub(crate) fn watch(
        &mut self,
        filter: WatchFilter,
        from: Option<u64>,
    ) -> Result<mpsc::UnboundedReceiver<Bytes>, ApiError> {
        let (events, receiver) = mpsc::unbounded_channel();
        match from {
            None | Some(0) => {
                for (key, object) in &self.objects {
                    if filter.selects(key, object) {
                        let _ = events.send(event_line("ADDED", object));
                    }
                }
            }
            Some(from) if from < self.oldest => {
                return Err(ApiError::Expired {
                    requested: from,
                    oldest: self.oldest,
                });
            }
            Some(from) => {
                for change in self.history.iter().filter(|c| c.revision > from) {
                    if let Some(line) = filter.event(change) {
                        let _ = events.send(line);
                    }
                }
            }
        }
        self.watches.push(Watch { filter, events });
        Ok(receiver)
    }

    /// Sends a bookmark at the current revision to every watch that asked for bookmarks.
    pub(crate) fn bookmark(&mut self) {
        let revision = self.revision.to_string();
        let types = &self.types;
        self.watches.retain(|watch| {
            if !watch.filter.bookmarks {
                return !watch.events.is_closed();
            }
            let (kind, api_version) = types
                .get(&watch.filter.resource)
                .map(|t| (t.kind.clone(), t.api_version()))
                .unwrap_or_default();
            let object = json!({
                "kind": kind,
                "apiVersion": api_version,
                "metadata": {"resourceVersion": revision, "annotations": {"k8s.io/initial-events-end": "true"}},
            });
            watch.events.send(event_line("BOOKMARK", &object)).is_ok()
        });
    }

    /// Ends every open watch (their streams finish after what was already queued).
    pub(crate) fn drop_watches(&mut self) {
        self.watches.clear();
    }

    pub(crate) fn open_watches(&mut self) -> usize {
        self.watches.retain(|watch| !watch.events.is_closed());
        self.watches.len()
    }

    /// Forgets history: a watch resuming from any version before now gets `410 Gone`.
    pub(crate) fn compact(&mut self) {
        self.history.clear();
        self.oldest = self.revision;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            resource: ("gateway.networking.k8s.io".into(), "httproutes".into()),
            namespace: "default".into(),
            name: name.into(),
        }
    }

    #[test]
    fn generation_counts_spec_changes_only() {
        let mut store = Store::default();
        let route = json!({"metadata": {"name": "a"}, "spec": {"hostnames": ["a.test"]}});
        let stored = store.put(key("a"), route.clone());
        assert_eq!(stored["metadata"]["generation"], 1);
        let mut with_status = stored.clone();
        with_status["status"] = json!({"parents": []});
        assert_eq!(store.put(key("a"), with_status)["metadata"]["generation"], 1);
        let mut relabelled = route.clone();
        relabelled["metadata"]["labels"] = json!({"team": "x"});
        assert_eq!(store.put(key("a"), relabelled)["metadata"]["generation"], 1);
        let changed = json!({"metadata": {"name": "a"}, "spec": {"hostnames": ["b.test"]}});
        let stored = store.put(key("a"), changed);
        assert_eq!(stored["metadata"]["generation"], 2);
        assert_eq!(stored["status"], json!({"parents": []}), "the status is kept");
    }

    #[test]
    fn objects_are_created_one_second_apart() {
        let mut store = Store::default();
        let first = store.put(key("a"), json!({"metadata": {"name": "a"}}));
        let second = store.put(key("b"), json!({"metadata": {"name": "b"}}));
        assert_eq!(first["metadata"]["creationTimestamp"], "2026-01-01T00:00:00Z");
        assert_eq!(second["metadata"]["creationTimestamp"], "2026-01-01T00:00:01Z");
        assert_eq!(creation_timestamp(86_401), "2026-01-02T00:00:00Z");
        let again = store.put(key("a"), json!({"metadata": {"name": "a"}, "spec": {}}));
        assert_eq!(again["metadata"]["creationTimestamp"], "2026-01-01T00:00:00Z");
    }
}
