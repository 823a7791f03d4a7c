//! The Gateway API kinds (`gateway.networking.k8s.io`) as the watches keep them: the metadata, and the
//! spec and status as JSON. Specs are read into typed forms only at translation (see
//! `translate::gateway::spec`), so that one malformed object is reported with its key path instead of
//! breaking the list it arrives in; statuses are kept to compare with what translation wants, so that
//! nothing is written when nothing changed.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use kube::Resource;
use serde::Deserialize;

use crate::mirror::Slim;

/// The API group of the Gateway API.
///
/// ```
/// assert_eq!(switchyard_kubernetes::GATEWAY_GROUP, "gateway.networking.k8s.io");
/// ```
pub const GROUP: &str = "gateway.networking.k8s.io";

/// The Gateway API kinds [`GatewayProvider`](crate::GatewayProvider) watches, as
/// `(apiVersion, kind)`. ReferenceGrants are watched in `v1` when the API server serves it, else in
/// `v1beta1`.
///
/// ```
/// assert!(switchyard_kubernetes::GATEWAY_KINDS.contains(&("gateway.networking.k8s.io/v1", "HTTPRoute")));
/// ```
pub const GATEWAY_KINDS: &[(&str, &str)] = &[
    ("gateway.networking.k8s.io/v1", "GatewayClass"),
    ("gateway.networking.k8s.io/v1", "Gateway"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("gateway.networking.k8s.io/v1", "GRPCRoute"),
    ("gateway.networking.k8s.io/v1", "ReferenceGrant"),
];

/// Declares the struct of one Gateway API kind: with its status when translation writes one.
macro_rules! gateway_struct {
    ($(#[$doc:meta])* $kind:ident, status) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, Deserialize)]
        pub(crate) struct $kind {
            /// The object's metadata.
            pub(crate) metadata: ObjectMeta,
            /// The spec, read at translation.
            #[serde(default)]
            pub(crate) spec: serde_json::Value,
            /// The status as last written, compared with what translation wants.
            #[serde(default)]
            pub(crate) status: serde_json::Value,
        }
    };
    ($(#[$doc:meta])* $kind:ident, spec) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, Deserialize)]
        pub(crate) struct $kind {
            /// The object's metadata.
            pub(crate) metadata: ObjectMeta,
            /// The spec, read at translation.
            #[serde(default)]
            pub(crate) spec: serde_json::Value,
        }
    };
}

/// Declares one Gateway API kind.
macro_rules! gateway_kind {
    ($($(#[$doc:meta])* $kind:ident ($name:literal, $version:literal, $plural:literal, $scope:ty, $parts:ident),)*) => {$(
        gateway_struct!($(#[$doc])* $kind, $parts);

        impl Resource for $kind {
            type DynamicType = ();
            type Scope = $scope;

            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($name)
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(GROUP)
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($version)
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }

        impl Slim for $kind {
            /// A status written (by us, as a rule) leaves the generation as it was: nothing to
            /// translate again. The kept object has the new status, which the next translation
            /// compares with the one it wants.
            fn translates_as(&self, newer: &Self) -> bool {
                let (old, new) = (&self.metadata, &newer.metadata);
                old.generation.is_some() && old.generation == new.generation && old.labels == new.labels
            }
        }
    )*};
}

gateway_kind! {
    /// `GatewayClass`: which controller handles the Gateways of a class (cluster-scoped).
    GatewayClass("GatewayClass", "v1", "gatewayclasses", ClusterResourceScope, status),
    /// `Gateway`: listeners on ports, with hostnames, protocols and certificates.
    Gateway("Gateway", "v1", "gateways", NamespaceResourceScope, status),
    /// `HTTPRoute`: HTTP routing rules attached to Gateways.
    HttpRoute("HTTPRoute", "v1", "httproutes", NamespaceResourceScope, status),
    /// `GRPCRoute`: gRPC routing rules attached to Gateways.
    GrpcRoute("GRPCRoute", "v1", "grpcroutes", NamespaceResourceScope, status),
    /// `ReferenceGrant` (`v1`): lets objects of other namespaces refer to objects of this one.
    ReferenceGrant("ReferenceGrant", "v1", "referencegrants", NamespaceResourceScope, spec),
    /// `ReferenceGrant` as clusters before Gateway API 1.5 serve it (`v1beta1`).
    ReferenceGrantV1beta1("ReferenceGrant", "v1beta1", "referencegrants", NamespaceResourceScope, spec),
}

impl From<ReferenceGrantV1beta1> for ReferenceGrant {
    fn from(grant: ReferenceGrantV1beta1) -> Self {
        Self {
            metadata: grant.metadata,
            spec: grant.spec,
        }
    }
}

#[cfg(test)]
mod tests {
    use kube::runtime::watcher::Event;

    use super::HttpRoute;
    use crate::mirror::Mirror;

    fn route(generation: i64, status: serde_json::Value) -> HttpRoute {
        serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "default", "name": "web", "generation": generation},
            "spec": {}, "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn a_status_write_is_kept_without_asking_for_a_translation() {
        let mut mirror = Mirror::default();
        mirror.apply(Event::Init);
        mirror.apply(Event::InitDone);
        assert!(mirror.apply(Event::Apply(route(1, serde_json::Value::Null))));
        let written = serde_json::json!({"parents": []});
        assert!(!mirror.apply(Event::Apply(route(1, written.clone()))));
        assert_eq!(mirror.objects().next().unwrap().status, written);
        assert!(
            mirror.apply(Event::Apply(route(2, written))),
            "a spec change is translated"
        );
    }
}
