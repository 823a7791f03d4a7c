//! The Kubernetes provider for switchyard: Traefik's `providers.kubernetesIngress`.
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
//!   in `status.loadBalancer.ingress`.
//!
//! # Resilience
//!
//! Nothing is published before every watch has listed once. When the API server goes away, a watch
//! ends or answers `410 Gone`, the watches list again and resume, and the last snapshot stays live
//! meanwhile; a watch whose start keeps failing is restarted from a fresh list. Objects that cannot be
//! translated (a missing Service, a bad annotation, a bad Secret) are logged and shown as warnings of
//! the provider, and only they are left out.

//!
//! # Where it differs from Traefik
//!
//! - `Prefix` paths always match whole path elements, as the specification says (Traefik does so only
//!   with `strictPrefixMatching`), and priorities follow the specification's precedence rather than
//!   rule length.
//! - Every handled Ingress's `defaultBackend` is served, below all paths (Traefik keeps one for the
//!   whole cluster).
//! - A TLS Secret that cannot be used costs only its certificate; the Ingress's routers still go live.

mod client;
mod crd;
mod crd_provider;
mod error;
mod mirror;
mod options;
mod provider;
mod publish;
mod status;
mod translate;
mod watch;

pub use error::{KubernetesError, ObjectError, TranslateError};
pub use options::DEFAULT_CONTROLLER;
pub use crd::{GROUP as TRAEFIK_GROUP, TRAEFIK_KINDS, VERSION as TRAEFIK_VERSION};
pub use crd_provider::CrdProvider;
pub use provider::IngressProvider;
