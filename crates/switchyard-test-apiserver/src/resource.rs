//! Resource types: which kind lives under which group, version and plural name.

/// A resource type as the API serves it: `apis/{group}/{version}/{plural}`.
///
/// ```
/// use switchyard_test_apiserver::ResourceType;
///
/// let ingresses = ResourceType::of("networking.k8s.io/v1", "Ingress");
/// assert_eq!(ingresses.plural, "ingresses");
/// assert!(ingresses.namespaced);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceType {
    /// The API group; empty for the core group (`/api/v1`).
    pub group: String,
    /// The version (`v1`).
    pub version: String,
    /// The kind of one object (`Ingress`).
    pub kind: String,
    /// The plural name in paths (`ingresses`).
    pub plural: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
}

/// Kinds whose plural or scope the default rule (lower case, `s`, namespaced) gets wrong.
const IRREGULAR: &[(&str, &str, bool)] = &[
    ("Ingress", "ingresses", true),
    ("IngressClass", "ingressclasses", false),
    ("Endpoints", "endpoints", true),
    ("Namespace", "namespaces", false),
    ("Node", "nodes", false),
    ("GatewayClass", "gatewayclasses", false),
    ("CustomResourceDefinition", "customresourcedefinitions", false),
];

impl ResourceType {
    /// The resource type of objects with this `apiVersion` and `kind`: the plural is the kind in lower
    /// case with an `s` (`Service` → `services`), except for the kinds Kubernetes spells otherwise.
    pub fn of(api_version: &str, kind: &str) -> Self {
        let (group, version) = match api_version.split_once('/') {
            Some((group, version)) => (group, version),
            None => ("", api_version),
        };
        let (plural, namespaced) = IRREGULAR.iter().find(|(known, _, _)| *known == kind).map_or_else(
            || (format!("{}s", kind.to_lowercase()), true),
            |(_, plural, ns)| ((*plural).to_owned(), *ns),
        );
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            plural,
            namespaced,
        }
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}
