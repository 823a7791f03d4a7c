//! The Kubernetes providers for switchyard: Traefik's `providers.kubernetesIngress` ([`IngressProvider`]),
//! `providers.kubernetesCRD` ([`CrdProvider`]) and `providers.kubernetesGateway` ([`GatewayProvider`]).
//!
//! [`IngressProvider`] watches `networking.k8s.io/v1` Ingresses and IngressClasses, Services,
//! `discovery.k8s.io/v1` EndpointSlices and TLS Secrets with kube-rs watchers, and publishes their
//! translation into the dynamic configuration: one router per Ingress path, one load balancer per
//! Service port, one certificate per TLS Secret. Names follow Traefik (`default-whoami-80@kubernetes`).
//!
//! ```no_run
//! use switchyard_config::Aggregator;
//! use switchyard_kubernetes::IngressProvider;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let running = Aggregator::new().provider(IngressProvider::new()).start()?;
//! let mut updates = running.subscribe();
//! while updates.changed().await.is_ok() {
//!     let published = updates.borrow_and_update().clone();
//!     println!("{} routers", published.runtime.rules.len());
//! }
//! # Ok(()) }
//! ```
//!
//! # What is translated
//!
//! - **Which Ingresses**: those whose `spec.ingressClassName` names an IngressClass of our controller
//!   (`traefik.io/ingress-controller` unless [`IngressProvider::controller_name`] says otherwise, and
//!   the configured `ingressClass` if any); without a class, those whose legacy
//!   `kubernetes.io/ingress.class` annotation equals `ingressClass` (empty: absent or `traefik`).
//! - **Rules**: `Host` (a `*.example.com` wildcard matches one label), and paths by type: `Exact` is
//!   `Path`, `Prefix` matches whole path elements (`/foo` matches `/foo/bar`, not `/foobar`),
//!   `ImplementationSpecific` is Traefik's `PathPrefix` or the `router.pathmatcher` annotation.
//! - **Precedence** follows the Ingress specification, encoded in router priorities: a precise host,
//!   then a wildcard host, then no host; then the longest path; at equal length `Exact` before
//!   `Prefix`; a `defaultBackend` serves what nothing else matches. A `defaultBackend` gets 1, a path
//!   without host 2 plus twice its length (plus 1 for `Exact`), a wildcard host adds 1,000,000 and a
//!   precise host 2,000,000. The `router.priority` annotation outranks that order, as an explicit
//!   priority outranks the default in Traefik: a positive value N becomes 3,000,000 + N (for the
//!   `defaultBackend` too), so it beats every computed priority and other annotated ones keep their
//!   order; 0 means unset and a negative value is kept as it is (below everything). Routers of other
//!   providers keep their own priorities (by default their rule's length) and interleave by these
//!   numbers.
//! - **Backends**: a Service port by name or number; servers are the ready, not terminating endpoints
//!   of every EndpointSlice of the Service (IPv4 and IPv6), or the ClusterIP with `service.nativelb`
//!   (or `nativeLBByDefault`), or the external name of an ExternalName Service when allowed.
//! - **Annotations**: `router.entrypoints`, `router.middlewares`, `router.priority`, `router.tls`
//!   (and `.certresolver`, `.options`, `.domains.N.main/.sans`), `router.pathmatcher`,
//!   `router.rulesyntax`, `router.observability.*` on the Ingress; `service.sticky.cookie` (and
//!   `.name`, `.secure`, `.httponly`, `.samesite`, `.maxage`, `.path`, `.domain`),
//!   `service.passhostheader`, `service.serversscheme`, `service.serverstransport`, `service.nativelb`
//!   on the Service. All under `traefik.ingress.kubernetes.io/`.
//! - **TLS**: every `spec.tls[].secretName` becomes a `tls.certificates` entry with the Secret's
//!   `tls.crt` and `tls.key` PEM inlined.
//! - **Status**: with an `ingressEndpoint` (IP, hostname, or the address of a published LoadBalancer,
//!   ClusterIP, NodePort or ExternalName Service) or `reportNodeInternalIPs`, handled Ingresses get it
//!   in `status.loadBalancer.ingress`. With several replicas, [`LeaderElection`] on a
//!   `coordination.k8s.io/v1` Lease lets exactly one of them write it, and hands over when it dies.
//!
//! # Resilience
//!
//! Nothing is published before every watch has listed once. When the API server goes away, a watch
//! ends or answers `410 Gone`, the watches list again and resume, and the last snapshot stays live
//! meanwhile; a watch whose start keeps failing is restarted from a fresh list. Objects that cannot be
//! translated (a missing Service, a bad annotation, a bad Secret) are logged and shown as warnings of
//! the provider, and only they are left out.

//!
//! # Traefik's custom resources
//!
//! [`CrdProvider`] watches the `traefik.io/v1alpha1` kinds ([`TRAEFIK_KINDS`]) with the Services,
//! EndpointSlices, Secrets and Nodes they refer to, and publishes them under the provider name
//! `kubernetescrd`, named as Traefik names them: a route of IngressRoute `ns/name` is the router
//! `ns-name-<hash>` (the first ten bytes of the SHA-256 of its `match`, in hexadecimal), a Service
//! reference the load balancer `ns-service-port`, and Middlewares, TraefikServices, ServersTransports,
//! TLSOptions and TLSStores `ns-name` (`default` TLS options and stores keep that name). So
//! `ns-name@kubernetescrd` references from files keep working.
//!
//! ```no_run
//! use switchyard_config::Aggregator;
//! use switchyard_kubernetes::CrdProvider;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = CrdProvider::new().namespaces(["shop"]).allow_cross_namespace(false);
//! let running = Aggregator::new().provider(provider).start()?;
//! # Ok(()) }
//! ```
//!
//! - **IngressRoute**: `entryPoints`, `routes[]` (`match`, `kind: Rule`, `priority`, `syntax`,
//!   `middlewares`, `observability`, `services[]`) and `tls` (`secretName`, `options`, `store`,
//!   `certResolver`, `domains`). A route with several services gets a weighted service named after its
//!   router. A service reference names a Service (`port` by name or number; `scheme`, `strategy`,
//!   `passHostHeader`, `sticky`, `responseForwarding`, `serversTransport`, `nativeLB`, `nodePortLB`,
//!   `healthCheck` for ExternalName Services, `passiveHealthCheck`, `middlewares`, `weight`) or a
//!   TraefikService (`kind: TraefikService`), or another provider's service (`name@file`).
//! - **Middleware**: every type of the dynamic configuration; `basicAuth` and `digestAuth` read their
//!   users from a Secret (the lines of its only key, or `username`/`password` of a
//!   `kubernetes.io/basic-auth` Secret), `forwardAuth.tls` its CA and client certificate from Secrets,
//!   `errors.service` is a service reference, `chain` names Middlewares, and plugin options
//!   `urn:k8s:secret:NAME:KEY` are replaced by the Secret's value.
//! - **TraefikService**: `weighted` (with `sticky`), `mirroring`, `highestRandomWeight` and `failover`,
//!   nesting TraefikServices and Services.
//! - **ServersTransport** (CAs from `rootCAsSecrets` or `rootCAs[].secret`, client certificates from
//!   `certificatesSecrets`, timeouts, pools), **TLSOption** (`clientAuth.secretNames`), **TLSStore**
//!   (`defaultCertificate` and `certificates` from Secrets).
//! - **IngressRouteTCP**: `entryPoints`, `routes[]` (`match` in the TCP rule language, `priority`,
//!   `syntax`, `middlewares` naming MiddlewareTCPs, `services[]`) and `tls` (`passthrough`, else
//!   termination with `secretName`; `options`, `store`, `certResolver`, `domains`). A service names a
//!   Service (`port`, `weight`, `tls` to the pods, `proxyProtocol`, `terminationDelay`,
//!   `serversTransport` naming a ServersTransportTCP, `nativeLB`, `nodePortLB`); several make a weighted
//!   service.
//! - **IngressRouteUDP**: `entryPoints` and `routes[].services[]` (`port`, `weight`, `nativeLB`,
//!   `nodePortLB`).
//! - **MiddlewareTCP** (`ipAllowList`, `ipWhiteList`, `inFlightConn`) and **ServersTransportTCP**
//!   (`dialTimeout`, `dialKeepAlive`, `terminationDelay`, `proxyProtocol`, and `tls` with CAs and client
//!   certificates from Secrets as for ServersTransports).
//! - **Safety**: references to other namespaces are refused (reported with their key path, the route
//!   or object left out) unless `allowCrossNamespace`; `name@kubernetescrd` references need it too;
//!   `crossProviderNamespaces` limits which namespaces may name other providers' elements;
//!   ExternalName Services need `allowExternalNameServices`.
//! - **Reports**: specs are read at translation, so a malformed object costs only itself: errors and
//!   unknown keys are warnings of the provider naming the object and the key path
//!   (``IngressRoute shop/web: `spec.routes[0].services[0]`: Service `api`: has no port grpc``),
//!   and the aggregator's report gives each router the origin `IngressRoute ns/name spec.routes[i]`.
//!
//! # Events on the objects
//!
//! Both providers write what is wrong with an object back to it as an `events.k8s.io/v1` Event: a
//! `Warning` (reason `InvalidConfiguration`, reporting controller `switchyard`) per problem their
//! translation finds or the gateway's report finds (matched by origin, through
//! [`ProviderSink::reports`](switchyard_config::ProviderSink::reports)), naming the key path and the
//! problem, once per problem and object whatever the number of reloads; a `Normal` one (reason
//! `ConfigurationValid`) once its problems are fixed; at most 20 at once and 5 a second overall; only
//! the leader with [`IngressProvider::leader_election`]. [`IngressProvider::object_events`] and
//! [`CrdProvider::object_events`] (`disableObjectEvents`) turn them off. They need `create` on
//! `events.k8s.io` `events`.
//!
//! The CRD definitions (`deploy/crds.yaml`), the ClusterRoles with exactly the verbs each provider uses
//! (`deploy/rbac.yaml`) and an example Deployment (`deploy/deployment.yaml`) ship with the repository.
//!
//! # The Gateway API
//!
//! [`GatewayProvider`] watches the Standard channel's kinds ([`GATEWAY_KINDS`]; ReferenceGrants in
//! `v1`, or `v1beta1` where only that is served) with the Services, EndpointSlices, Secrets and
//! Namespaces they refer to. The listeners of Gateways of our GatewayClasses serve on the entrypoints
//! with their port; each match of an attached HTTPRoute or GRPCRoute rule becomes a router per
//! hostname left once the route's and the listener's hostnames are intersected, with priorities that
//! encode the specification's precedence over every route. Statuses are written back with
//! `observedGeneration`, only when they differ from the objects' own.
//!
//! ```no_run
//! use switchyard_config::Aggregator;
//! use switchyard_kubernetes::GatewayProvider;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = GatewayProvider::new().entry_point("web", 80).entry_point("websecure", 443);
//! let running = Aggregator::new().provider(provider).start()?;
//! # Ok(()) }
//! ```
//!
//! # Where it differs from Traefik
//!
//! - `Prefix` paths always match whole path elements, as the specification says (Traefik does so only
//!   with `strictPrefixMatching`), and priorities follow the specification's precedence rather than
//!   rule length.
//! - Every handled Ingress's `defaultBackend` is served, below all paths (Traefik keeps one for the
//!   whole cluster).
//! - A TLS Secret that cannot be used costs only its certificate; the Ingress's routers still go live.
//! - CRDs: unknown keys and routes that cannot be built are reported (Traefik logs some and drops others
//!   silently); a route without services is refused rather than published without one; endpoints are
//!   the ready, not terminating ones (Traefik also keeps serving terminating endpoints for sticky
//!   sessions); `rootCAs[].configMap` is reported, since ConfigMaps are not watched; an IngressRoute's
//!   `tls.store` puts its certificate in that store (Traefik reads the field but does not use it).

mod client;
mod crd;
mod crd_provider;
mod error;
mod events;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod gateway_api;
mod gateway_provider;
mod gateway_status;
mod leader;
mod mirror;
mod options;
mod provider;
mod publish;
mod status;
mod translate;
mod watch;

pub use crd::{GROUP as TRAEFIK_GROUP, TRAEFIK_KINDS, VERSION as TRAEFIK_VERSION};
pub use crd_provider::CrdProvider;
pub use error::{KubernetesError, ObjectError, TranslateError};
pub use gateway_api::{GATEWAY_KINDS, GROUP as GATEWAY_GROUP};
pub use gateway_provider::{DEFAULT_GATEWAY_CONTROLLER, GatewayProvider};
pub use leader::LeaderElection;
pub use options::DEFAULT_CONTROLLER;
pub use provider::IngressProvider;
