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
/// (so nothing is written when nothing changed); each version of an object is written at most once,
/// since until a write comes back through the watch, translations keep asking for it (with fresh
/// transition times).
///
/// With leader election only the leader writes; a replica that becomes the leader asks for a new
/// translation, which asks for every status still to write.
pub(crate) struct GatewayStatusWriter {
    client: Client,
    sink: ProviderSink,
    /// By `(plural, namespace, name)`: the version written at.
    written: BTreeMap<(String, String, String), Option<String>>,
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

    async fn leadership_changed(leading: Option<&mut watch::Receiver<bool>>) {
        match leading {
            Some(leading) => {
                if leading.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
    }

    /// Writes the statuses it receives until the channel closes or shutdown.
    pub(crate) async fn run(mut self, mut updates: UnboundedReceiver<StatusWrite>) {
        loop {
            let update = tokio::select! {
                update = updates.recv() => update,
                () = Self::leadership_changed(self.leading.as_mut()) => {
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
        if self.written.get(&key) == Some(&update.version) {
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
                self.written.insert(key, update.version);
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
