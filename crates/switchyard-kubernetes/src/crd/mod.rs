//! Traefik's custom resources (`traefik.io/v1alpha1`) as the watches keep them: the metadata, and the
//! spec as JSON, read into typed specs only at translation so that one malformed object is reported
//! with its key path instead of breaking the list it arrives in.

mod secret;

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::Deserialize;

use crate::mirror::Slim;
pub(crate) use secret::CrdSecret;

/// The API group of Traefik's custom resources.
///
/// ```
/// assert_eq!(switchyard_kubernetes::TRAEFIK_GROUP, "traefik.io");
/// ```
pub const GROUP: &str = "traefik.io";
/// The version of Traefik's custom resources handled.
pub const VERSION: &str = "v1alpha1";

/// Declares one namespaced kind of `traefik.io/v1alpha1`.
macro_rules! traefik_kind {
    ($($(#[$doc:meta])* $kind:ident => $plural:literal,)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Default, Deserialize)]
        pub(crate) struct $kind {
            /// The object's metadata.
            pub(crate) metadata: ObjectMeta,
            /// The spec, read at translation.
            #[serde(default)]
            pub(crate) spec: serde_json::Value,
        }

        impl Resource for $kind {
            type DynamicType = ();
            type Scope = NamespaceResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(stringify!($kind))
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(GROUP)
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(VERSION)
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

        impl Slim for $kind {}
    )*};
}

traefik_kind! {
    /// `IngressRoute`: HTTP routes.
    IngressRoute => "ingressroutes",
    /// `Middleware`: an HTTP middleware.
    Middleware => "middlewares",
    /// `TraefikService`: weighted or mirroring services over other services.
    TraefikService => "traefikservices",
    /// `ServersTransport`: how to reach backends.
    ServersTransport => "serverstransports",
    /// `TLSOption`: a named set of TLS options.
    TLSOption => "tlsoptions",
    /// `TLSStore`: a certificate store.
    TLSStore => "tlsstores",
    /// `IngressRouteTCP`: TCP routes (by SNI, client IP or ALPN), TLS passthrough or termination.
    IngressRouteTCP => "ingressroutetcps",
    /// `IngressRouteUDP`: UDP routes.
    IngressRouteUDP => "ingressrouteudps",
    /// `MiddlewareTCP`: a TCP middleware (`ipAllowList`, `inFlightConn`).
    MiddlewareTCP => "middlewaretcps",
    /// `ServersTransportTCP`: how to reach TCP backends.
    ServersTransportTCP => "serverstransporttcps",
}

/// The `traefik.io/v1alpha1` kinds [`CrdProvider`](crate::CrdProvider) watches, as `(kind, plural)`:
/// what the shipped CRDs define and the shipped ClusterRole lets it list and watch.
///
/// ```
/// assert!(switchyard_kubernetes::TRAEFIK_KINDS.contains(&("IngressRoute", "ingressroutes")));
/// ```
pub const TRAEFIK_KINDS: &[(&str, &str)] = &[
    ("IngressRoute", "ingressroutes"),
    ("Middleware", "middlewares"),
    ("TraefikService", "traefikservices"),
    ("ServersTransport", "serverstransports"),
    ("TLSOption", "tlsoptions"),
    ("TLSStore", "tlsstores"),
    ("IngressRouteTCP", "ingressroutetcps"),
    ("IngressRouteUDP", "ingressrouteudps"),
    ("MiddlewareTCP", "middlewaretcps"),
    ("ServersTransportTCP", "serverstransporttcps"),
];
