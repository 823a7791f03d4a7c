//! Writing Gateway API statuses (GatewayClasses, Gateways, HTTPRoutes) to the API server.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::api::{DynamicObject, Patch, PatchParams};
use kube::{Api, Client};
use switchyard_config::ProviderSink;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::{Notify, watch};

use crate::error::KubernetesError;
use crate::translate::gateway::StatusWrite;

/// Writes statuses one at a time. Translation asks only for statuses that differ from the objects'
/// (so nothing is written when nothing changed); a status is written at most once per version of an
/// object, since until a write comes back through the watch, translations keep asking for it (with
/// fresh transition times). A different status for the same version (a ReferenceGrant changed before
/// the last write came back) is written: the write's return through the watch does not translate
/// again, so skipping it would leave the object's status stale.
///
/// With leader election only the leader writes; a replica that becomes the leader asks for a new
/// translation, which asks for every status still to write.
pub(crate) struct GatewayStatusWriter {
    client: Client,
    sink: ProviderSink,
    /// By `(plural, namespace, name)`: the version written at, and the status written without its
    /// transition times.
    written: BTreeMap<(String, String, String), (Option<String>, serde_json::Value)>,
    leading: Option<watch::Receiver<bool>>,
    retranslate: Arc<Notify>,
}

impl GatewayStatusWriter {
    pub(crate) fn new(
        client: Client,
        sink: ProviderSink,
        leading: Option<watch::Receiver<bool>>,
        retranslate: Arc<Notify>,
    ) -> Self {
        Self {
            client,
            sink,
            written: BTreeMap::new(),
            leading,
            retranslate,
        }
    }

    fn leads(&self) -> bool {
        self.leading.as_ref().is_none_or(|leading| *leading.borrow())
    }

    /// Writes the statuses it receives until the channel closes or shutdown.
    pub(crate) async fn run(mut self, mut updates: UnboundedReceiver<StatusWrite>) {
        loop {
            let update = tokio::select! {
                update = updates.recv() => update,
                () = crate::leader::leadership_changed(self.leading.as_mut()) => {
                    if self.leads() {
                        self.retranslate.notify_one();
                    }
                    continue;
                }
                () = self.sink.shutdown() => return,
            };
            let Some(update) = update else { return };
            if self.leads() {
                self.write(update).await;
            }
        }
    }

    async fn write(&mut self, update: StatusWrite) {
        let key = (
            update.resource.plural.clone(),
            update.namespace.clone(),
            update.name.clone(),
        );
        let timeless = without_transition_times(&update.status);
        if self
            .written
            .get(&key)
            .is_some_and(|(version, status)| *version == update.version && *status == timeless)
        {
            return;
        }
        let api: Api<DynamicObject> = if update.namespace.is_empty() {
            Api::all_with(self.client.clone(), &update.resource)
        } else {
            Api::namespaced_with(self.client.clone(), &update.namespace, &update.resource)
        };
        let patch = serde_json::json!({"status": update.status});
        match api
            .patch_status(&update.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                self.written.insert(key, (update.version, timeless));
            }
            Err(source) => {
                let object = if update.namespace.is_empty() {
                    format!("{} {}", update.resource.kind, update.name)
                } else {
                    format!("{} {}/{}", update.resource.kind, update.namespace, update.name)
                };
                let error = KubernetesError::GatewayStatus { object, source };
                tracing::warn!("{error}");
                self.sink.report(&error);
            }
        }
    }
}

/// `status` without its conditions' `lastTransitionTime`s, which each translation sets anew.
fn without_transition_times(status: &serde_json::Value) -> serde_json::Value {
    match status {
        serde_json::Value::Object(fields) => fields
            .iter()
            .filter(|(key, _)| key.as_str() != "lastTransitionTime")
            .map(|(key, value)| (key.clone(), without_transition_times(value)))
            .collect(),
        serde_json::Value::Array(items) => items.iter().map(without_transition_times).collect(),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_times_are_left_out_at_every_depth() {
        let status = serde_json::json!({"parents": [{"conditions": [
            {"type": "Accepted", "status": "True", "lastTransitionTime": "2026-12-08T02:38:11Z"}
        ]}]});
        let expected = serde_json::json!({"parents": [{"conditions": [{"type": "Accepted", "status": "True"}]}]});
        assert_eq!(without_transition_times(&status), expected);
    }
}
