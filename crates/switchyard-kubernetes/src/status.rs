//! Writing Ingress statuses to the API server (the address itself is computed in
//! `translate::address`).

use k8s_openapi::api::networking::v1::Ingress;

/// Writes Ingress statuses one at a time. An update is written once per version of the Ingress: until
/// the write comes back through the watch, translations keep asking for it.
pub(crate) struct StatusWriter {
    client: kube::Client,
    sink: switchyard_config::ProviderSink,
    written: std::collections::BTreeMap<(String, String), Option<String>>,
}

impl StatusWriter {
    pub(crate) fn new(client: kube::Client, sink: switchyard_config::ProviderSink) -> Self {
        Self {
            client,
            sink,
            written: std::collections::BTreeMap::new(),
        }
    }

    /// Writes the updates it receives until the channel closes or shutdown.
    pub(crate) async fn run(
        mut self,
        mut updates: tokio::sync::mpsc::UnboundedReceiver<crate::translate::StatusUpdate>,
    ) {
        loop {
            let update = tokio::select! {
                update = updates.recv() => update,
                () = self.sink.shutdown() => return,
            };
            let Some(update) = update else { return };
            self.write(update).await;
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
