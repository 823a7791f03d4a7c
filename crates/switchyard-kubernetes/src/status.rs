//! Writing Ingress statuses to the API server (the address itself is computed in
//! `translate::address`).

use k8s_openapi::api::networking::v1::Ingress;

/// Writes Ingress statuses one at a time. An update is written once per version of the Ingress: until
/// the write comes back through the watch, translations keep asking for it.
///
/// With leader election, only the leader writes: a follower drops the updates, and a replica that
/// becomes the leader asks for a new translation, which asks for every status still to write.
pub(crate) struct StatusWriter {
    client: kube::Client,
    sink: switchyard_config::ProviderSink,
    written: std::collections::BTreeMap<(String, String), Option<String>>,
    /// Whether this replica leads; `None` without leader election (it always writes).
    leading: Option<tokio::sync::watch::Receiver<bool>>,
    /// Signalled to have the watches' content translated again.
    retranslate: std::sync::Arc<tokio::sync::Notify>,
}

impl StatusWriter {
    pub(crate) fn new(
        client: kube::Client,
        sink: switchyard_config::ProviderSink,
        leading: Option<tokio::sync::watch::Receiver<bool>>,
        retranslate: std::sync::Arc<tokio::sync::Notify>,
    ) -> Self {
        Self {
            client,
            sink,
            written: std::collections::BTreeMap::new(),
            leading,
            retranslate,
        }
    }

    fn leads(&self) -> bool {
        self.leading.as_ref().is_none_or(|leading| *leading.borrow())
    }

    /// Writes the updates it receives until the channel closes or shutdown.
    pub(crate) async fn run(
        mut self,
        mut updates: tokio::sync::mpsc::UnboundedReceiver<crate::translate::StatusUpdate>,
    ) {
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

    /// Writes one update, unless this version of the Ingress has it already; a failure is reported.
    async fn write(&mut self, update: crate::translate::StatusUpdate) {
        let key = (update.namespace.clone(), update.name.clone());
        if self.written.get(&key) == Some(&update.version) {
            return;
        }
        let api: kube::Api<Ingress> = kube::Api::namespaced(self.client.clone(), &update.namespace);
        let patch = serde_json::json!({"status": {"loadBalancer": {"ingress": update.ingress}}});
        let params = kube::api::PatchParams::default();
        match api
            .patch_status(&update.name, &params, &kube::api::Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                self.written.insert(key, update.version);
            }
            Err(source) => self.report_failure(update.namespace, update.name, source),
        }
    }

    fn report_failure(&self, namespace: String, name: String, source: kube::Error) {
        let error = crate::error::KubernetesError::Status {
            namespace,
            name,
            source,
        };
        tracing::warn!("{error}");
        self.sink.report(&error);
    }
}
