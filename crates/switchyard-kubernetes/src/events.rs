//! Kubernetes Events on the objects the configuration report finds problems with: a `Warning` per
//! problem (its key path and what is wrong), once per problem and object, and a `Normal` one when an
//! object that had problems has none left.
//!
//! Problems come from two places: the provider's own translation (an unknown key, a missing Service)
//! and the report of the compiled configuration, which the gateway hands back through
//! [`ProviderSink::reports`] (a rule that does not parse, a middleware that does not exist); the
//! report's errors are matched to objects by their origin (`IngressRoute default/web spec.routes[0]`).
//!
//! Only what changed is written: a problem already announced for this incarnation of the object (same
//! uid) is not written again, whatever the number of reloads, and every write takes a token of a bucket
//! refilled at [`EVENTS_PER_SECOND`], so that a configuration breaking thousands of objects at once
//! does not flood the API server. With leader election, only the leader writes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Resource;
use switchyard_config::{ConfigError, ProviderSink};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::{KubernetesError, ObjectError};
use crate::mirror::Slim;
use crate::watch::{SharedMirror, lock};

/// The `reportingController` of the Events written.
pub(crate) const CONTROLLER: &str = "switchyard";
/// The reason of a `Warning` Event about a problem.
pub(crate) const REASON_INVALID: &str = "InvalidConfiguration";
/// The reason of the `Normal` Event written once an object's problems are all fixed.
pub(crate) const REASON_VALID: &str = "ConfigurationValid";
/// The `action` of every Event: what switchyard did with the object.
const ACTION: &str = "LoadConfiguration";
/// How many Events may be written per second, over every object, once the burst is used up.
pub(crate) const EVENTS_PER_SECOND: f64 = 5.0;
/// How many Events may be written at once.
const BURST: f64 = 20.0;
/// How many problems of one object are announced (the first ones, in order of their text).
pub(crate) const MAX_PROBLEMS_PER_OBJECT: usize = 10;
/// The longest note the Events API accepts, in bytes.
const MAX_NOTE: usize = 1024;

/// Finds a watched object by kind, namespace and name: its reference with uid and resourceVersion,
/// or `None` when the provider does not watch such an object (any more).
pub(crate) type Lookup = Arc<dyn Fn(&str, &str, &str) -> Option<ObjectReference> + Send + Sync>;

/// The reference of the object named `namespace/name` among those `mirrors` hold.
pub(crate) fn find<K>(mirrors: &[SharedMirror<K>], namespace: &str, name: &str) -> Option<ObjectReference>
where
    K: Slim + Resource<DynamicType = ()>,
{
    mirrors.iter().find_map(|mirror| {
        lock(mirror).get(namespace, name).map(|object| ObjectReference {
            resource_version: object.meta().resource_version.clone(),
            ..object.object_ref(&())
        })
    })
}

/// Hands the problems of a translation to the Event writer, when Events are written and the problems
/// changed.
pub(crate) fn offer(writer: Option<&watch::Sender<Arc<Vec<ObjectError>>>>, problems: &[ObjectError]) {
    if let Some(writer) = writer {
        writer.send_if_modified(|current| {
            let changed = current.as_slice() != problems;
            if changed {
                *current = Arc::new(problems.to_vec());
            }
            changed
        });
    }
}

/// An object, by kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ObjectId {
    kind: String,
    namespace: String,
    name: String,
}

impl ObjectId {
    /// The object an origin names: `Kind namespace/name`, possibly followed by where in it.
    fn from_origin(origin: &str) -> Option<Self> {
        let mut words = origin.split(' ');
        let kind = words.next()?;
        let (namespace, name) = words.next()?.split_once('/')?;
        (!kind.is_empty() && !name.is_empty()).then(|| Self {
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// What was announced about one object.
#[derive(Debug, Default)]
struct Announced {
    /// The uid of the object announced about: another one (recreated) starts afresh.
    uid: Option<String>,
    /// The problems announced and still present.
    problems: BTreeSet<String>,
    /// Whether a Warning was written about this incarnation (so that its fix is announced too).
    warned: bool,
}

/// One Event to write.
enum Action {
    Warning(String),
    Valid,
}

/// Refills at [`EVENTS_PER_SECOND`] up to [`BURST`].
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    fn new() -> Self {
        Self {
            tokens: BURST,
            refilled: Instant::now(),
        }
    }

    /// Takes a token, or says how long until one is there.
    fn take(&mut self) -> Result<(), Duration> {
        self.take_at(Instant::now())
    }

    /// Takes a token at `now`, or says how long until one is there.
    fn take_at(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * EVENTS_PER_SECOND).min(BURST);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / EVENTS_PER_SECOND))
        }
    }
}

/// Writes the Events of one provider run.
pub(crate) struct EventWriter {
    client: kube::Client,
    sink: ProviderSink,
    lookup: Lookup,
    /// Whether this replica leads; `None` without leader election (it always writes).
    leading: Option<watch::Receiver<bool>>,
    instance: String,
    announced: BTreeMap<ObjectId, Announced>,
    bucket: Bucket,
    /// The errors of the latest report that covers the provider's latest snapshot.
    report: Vec<ConfigError>,
    /// The provider's own problems, from its latest translation.
    own: Arc<Vec<ObjectError>>,
    written: u64,
}

impl EventWriter {
    pub(crate) fn new(
        client: kube::Client,
        sink: ProviderSink,
        lookup: Lookup,
        leading: Option<watch::Receiver<bool>>,
    ) -> Self {
        let instance = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .ok()
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| CONTROLLER.to_owned());
        Self {
            client,
            sink,
            lookup,
            leading,
            instance,
            announced: BTreeMap::new(),
            bucket: Bucket::new(),
            report: Vec::new(),
            own: Arc::default(),
            written: 0,
        }
    }

    fn leads(&self) -> bool {
        self.leading.as_ref().is_none_or(|leading| *leading.borrow())
    }

    /// Writes Events as the provider's translations (`own`) and the reports change, until shutdown.
    pub(crate) async fn run(mut self, mut own: watch::Receiver<Arc<Vec<ObjectError>>>) {
        let mut reports = self.sink.reports();
        let mut retry: Option<Instant> = None;
        loop {
            tokio::select! {
                changed = reports.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let report = Arc::clone(&reports.borrow_and_update());
                    // A report about an older snapshot of ours is left for the one that follows.
                    if report.snapshots < self.sink.snapshots_published() {
                        continue;
                    }
                    self.report.clone_from(&report.errors);
                }
                changed = own.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.own = Arc::clone(&own.borrow_and_update());
                }
                () = crate::leader::leadership_changed(self.leading.as_mut()) => {
                    if !self.leads() {
                        // The next leader announces what it finds; should this replica lead again,
                        // it does too.
                        self.announced.clear();
                    }
                }
                () = until(retry) => {}
                () = self.sink.shutdown() => return,
            }
            retry = if self.leads() { self.write().await } else { None };
        }
    }

    /// Every object with problems and its problems (the first [`MAX_PROBLEMS_PER_OBJECT`]).
    fn problems(&self) -> BTreeMap<ObjectId, BTreeSet<String>> {
        let mut problems: BTreeMap<ObjectId, BTreeSet<String>> = BTreeMap::new();
        for error in self.own.iter() {
            let id = ObjectId {
                kind: error.kind.to_owned(),
                namespace: error.namespace.clone(),
                name: error.name.clone(),
            };
            problems.entry(id).or_default().insert(note(error.reason.to_string()));
        }
        for error in &self.report {
            if let Some(id) = error.origin.as_deref().and_then(ObjectId::from_origin) {
                problems.entry(id).or_default().insert(note(error.to_string()));
            }
        }
        for notes in problems.values_mut() {
            while notes.len() > MAX_PROBLEMS_PER_OBJECT {
                notes.pop_last();
            }
        }
        problems
    }

    /// Writes the Events the problems call for; when the bucket runs dry, returns when to go on.
    async fn write(&mut self) -> Option<Instant> {
        let problems = self.problems();
        let ids: BTreeSet<ObjectId> = problems.keys().chain(self.announced.keys()).cloned().collect();
        let none = BTreeSet::new();
        for id in ids {
            let Some(reference) = (self.lookup)(&id.kind, &id.namespace, &id.name) else {
                // Gone, or not an object this provider watches.
                self.announced.remove(&id);
                continue;
            };
            let wanted = problems.get(&id).unwrap_or(&none);
            let announced = self.announced.entry(id.clone()).or_default();
            if announced.uid != reference.uid {
                *announced = Announced {
                    uid: reference.uid.clone(),
                    ..Announced::default()
                };
            }
            announced.problems.retain(|problem| wanted.contains(problem));
            let actions: Vec<Action> = if !wanted.is_empty() {
                wanted
                    .iter()
                    .filter(|problem| !announced.problems.contains(*problem))
                    .map(|problem| Action::Warning(problem.clone()))
                    .collect()
            } else if announced.warned {
                vec![Action::Valid]
            } else {
                self.announced.remove(&id);
                Vec::new()
            };
            for action in actions {
                if let Err(wait) = self.bucket.take() {
                    return Some(Instant::now() + wait);
                }
                self.send(&reference, &action).await;
                match action {
                    Action::Warning(problem) => {
                        let announced = self.announced.entry(id.clone()).or_default();
                        announced.problems.insert(problem);
                        announced.warned = true;
                    }
                    Action::Valid => {
                        self.announced.remove(&id);
                    }
                }
            }
        }
        None
    }

    /// Writes one Event; a failure (no RBAC for Events, say) is logged, and the Event not retried.
    async fn send(&mut self, reference: &ObjectReference, action: &Action) {
        let (type_, reason, note) = match action {
            Action::Warning(problem) => ("Warning", REASON_INVALID, problem.clone()),
            Action::Valid => (
                "Normal",
                REASON_VALID,
                "the configuration has no problems any more".to_owned(),
            ),
        };
        let now = k8s_openapi::jiff::Timestamp::now();
        self.written += 1;
        let base: String = reference
            .name
            .as_deref()
            .unwrap_or(CONTROLLER)
            .chars()
            .take(200)
            .collect();
        let namespace = reference.namespace.clone().unwrap_or_else(|| "default".to_owned());
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{base}.{:x}{:x}", now.as_nanosecond(), self.written)),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            type_: Some(type_.to_owned()),
            reason: Some(reason.to_owned()),
            action: Some(ACTION.to_owned()),
            note: Some(note),
            regarding: Some(reference.clone()),
            reporting_controller: Some(CONTROLLER.to_owned()),
            reporting_instance: Some(self.instance.clone()),
            ..Event::default()
        };
        let events: kube::Api<Event> = kube::Api::namespaced(self.client.clone(), &namespace);
        if let Err(source) = events.create(&kube::api::PostParams::default(), &event).await {
            let error = KubernetesError::Event {
                object: format!(
                    "{} {namespace}/{}",
                    reference.kind.as_deref().unwrap_or_default(),
                    reference.name.as_deref().unwrap_or_default()
                ),
                source,
            };
            tracing::warn!("{error}");
        }
    }
}

/// A note the Events API accepts: at most [`MAX_NOTE`] bytes, cut at a character boundary.
fn note(mut text: String) -> String {
    if text.len() > MAX_NOTE {
        let mut end = MAX_NOTE - 3;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

/// Until `at`; never when `None`.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_name_their_object() {
        let id = ObjectId::from_origin("IngressRoute shop/web spec.routes[0]").unwrap();
        assert_eq!(
            (id.kind.as_str(), id.namespace.as_str(), id.name.as_str()),
            ("IngressRoute", "shop", "web")
        );
        let id = ObjectId::from_origin("Ingress default/app").unwrap();
        assert_eq!((id.kind.as_str(), id.name.as_str()), ("Ingress", "app"));
        assert_eq!(ObjectId::from_origin("conf.d/api.yml"), None);
        assert_eq!(ObjectId::from_origin("Ingress"), None);
    }

    #[test]
    fn notes_are_cut_to_what_the_api_accepts() {
        let long = "é".repeat(1000);
        let cut = note(long);
        assert!(cut.len() <= MAX_NOTE && cut.ends_with("..."));
        assert_eq!(note("short".into()), "short");
    }

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let mut bucket = Bucket::new();
        let start = bucket.refilled;
        for _ in 0..20 {
            assert!(bucket.take_at(start).is_ok());
        }
        let wait = bucket.take_at(start).unwrap_err();
        assert!(wait <= Duration::from_millis(200) && wait > Duration::ZERO);
        let later = start + Duration::from_secs(1);
        for _ in 0..5 {
            assert!(bucket.take_at(later).is_ok());
        }
        assert!(bucket.take_at(later).is_err());
        // A long pause refills the burst, no more.
        let much_later = later + Duration::from_secs(3600);
        for _ in 0..20 {
            assert!(bucket.take_at(much_later).is_ok());
        }
        assert!(bucket.take_at(much_later).is_err());
    }
}
