//! The canary of a change: before a new configuration replaces the live one, the routing inputs of
//! the latest requests (kept in a bounded ring, never a body) are routed through both, and the
//! requests that would now go elsewhere are reported in the log and at `/api/canary`. With `hold`, a
//! configuration that moves any of them waits for an operator's confirmation.
//!
//! Configured by the static `canary` section ([`switchyard_config::Canary`]); reached by an
//! application through [`RunningGateway::canary`](crate::RunningGateway::canary).

mod ring;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{Notify, watch};

pub(crate) use ring::{Recorded, RequestRing};

use crate::snapshot::Snapshot;

/// The distinct moved requests a report lists (it counts them all).
const LISTED_DIFFERENCES: usize = 100;

/// The canary of a running gateway: its ring of recent requests, its last report, and the decision on
/// a held configuration.
///
/// ```no_run
/// # async fn run(gateway: switchyard_proxy::RunningGateway) {
/// let canary = gateway.canary().expect("the static configuration has a `canary` section");
/// let mut reports = canary.subscribe();
/// reports.changed().await.unwrap();
/// let report = canary.report().unwrap();
/// for moved in &report.differences {
///     println!("{} {}{}: {:?} -> {:?}", moved.request.method, moved.request.host, moved.request.path,
///         moved.before.router, moved.after.router);
/// }
/// if report.state == switchyard_proxy::CanaryState::Held {
///     canary.confirm(Some(report.candidate_generation)).unwrap();
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Canary {
    ring: RequestRing,
    hold: bool,
    reports: watch::Sender<Option<Arc<CanaryReport>>>,
    /// The decision on the held configuration of this generation.
    decision: Mutex<Option<(u64, Decision)>>,
    decided: Notify,
}

/// What the canary found about one new configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CanaryReport {
    /// The generation of the configuration live when it was checked.
    pub live_generation: u64,
    /// The generation of the new configuration.
    pub candidate_generation: u64,
    /// When it was checked, in seconds since the Unix epoch.
    pub checked_at: u64,
    /// How many recorded requests were routed through both.
    pub replayed: usize,
    /// How many of them would go elsewhere (repeats counted).
    pub moved: usize,
    /// How many distinct requests would go elsewhere.
    pub distinct_moved: usize,
    /// The distinct moved requests, most frequent first (at most 100).
    pub differences: Vec<MovedRequest>,
    /// What became of the new configuration.
    pub state: CanaryState,
}

/// What became of a checked configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum CanaryState {
    /// It went live when checked (it moved nothing, or `hold` is off).
    Applied,
    /// It waits for a confirmation: the live configuration keeps serving.
    Held,
    /// It was held, then confirmed, and went live.
    Confirmed,
    /// It was held, then discarded: it stays out until the providers publish a newer configuration.
    Discarded,
    /// It was held when a newer configuration arrived, which was checked in its place.
    Superseded,
}

/// A recorded request that the new configuration routes differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MovedRequest {
    /// The request.
    pub request: ReplayedRequest,
    /// How many times it was recorded.
    pub times: usize,
    /// Where the live configuration sends it.
    pub before: RoutedTo,
    /// Where the new configuration would send it.
    pub after: RoutedTo,
}

/// A recorded request, as the report shows it (its headers are not listed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ReplayedRequest {
    /// The entrypoint it arrived on.
    pub entry_point: String,
    /// Its method.
    pub method: String,
    /// Its `Host` (or HTTP/2 authority).
    pub host: String,
    /// Its path and query, as received.
    pub path: String,
    /// Whether it came over TLS.
    pub tls: bool,
    /// The client's address.
    pub client_ip: IpAddr,
}

/// Where a configuration sends a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RoutedTo {
    /// The router that takes it.
    pub router: Option<String>,
    /// Its router's service.
    pub service: Option<String>,
    /// The middlewares in front of the service, outermost first.
    pub middlewares: Vec<String>,
    /// When the entrypoint answers it itself (404: no router matches), the status.
    pub status: Option<u16>,
}

/// Why a held configuration cannot be confirmed or discarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CanaryError {
    /// No configuration is held.
    #[error("no configuration is held")]
    NothingHeld,
    /// The held configuration is not the one named (a newer one replaced it).
    #[error("the held configuration is generation {held}, not {asked}")]
    OtherGeneration {
        /// The held one.
        held: u64,
        /// The one named.
        asked: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Confirm,
    Discard,
}

/// What the compile loop does with a checked configuration.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Make it live.
    Swap,
    /// Keep the live one; wait for the next change.
    Keep,
    /// A newer configuration arrived while it was held: compile that one.
    Superseded,
    /// The providers are gone.
    Closed,
}

impl Canary {
    pub(crate) fn new(settings: &switchyard_config::Canary) -> Self {
        Self {
            ring: RequestRing::new(settings.requests),
            hold: settings.hold,
            reports: watch::Sender::new(None),
            decision: Mutex::new(None),
            decided: Notify::new(),
        }
    }

    /// Whether configurations that move recorded requests wait for a confirmation (`canary.hold`).
    pub fn holds(&self) -> bool {
        self.hold
    }

    /// How many requests the ring holds now.
    pub fn recorded(&self) -> usize {
        self.ring.len()
    }

    /// The report on the latest configuration checked, if any was.
    pub fn report(&self) -> Option<Arc<CanaryReport>> {
        self.reports.borrow().clone()
    }

    /// Each new report (and each change of a held configuration's state), as it is made.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<CanaryReport>>> {
        self.reports.subscribe()
    }

    /// Lets the held configuration go live; with `generation`, only if it is the one held. Returns the
    /// generation confirmed.
    pub fn confirm(&self, generation: Option<u64>) -> Result<u64, CanaryError> {
        self.decide(generation, Decision::Confirm)
    }

    /// Drops the held configuration: the live one keeps serving until the providers publish a newer
    /// one. Returns the generation discarded.
    pub fn discard(&self, generation: Option<u64>) -> Result<u64, CanaryError> {
        self.decide(generation, Decision::Discard)
    }

    fn decide(&self, generation: Option<u64>, decision: Decision) -> Result<u64, CanaryError> {
        let mut slot = self.decision.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let held = self
            .report()
            .filter(|r| r.state == CanaryState::Held)
            .map(|r| r.candidate_generation)
            .ok_or(CanaryError::NothingHeld)?;
        if let Some(asked) = generation.filter(|asked| *asked != held) {
            return Err(CanaryError::OtherGeneration { held, asked });
        }
        *slot = Some((held, decision));
        self.decided.notify_one();
        Ok(held)
    }

    /// Keeps a request's routing inputs.
    pub(crate) fn record(&self, request: &Recorded<'_>) {
        self.ring.record(request);
    }

    /// Routes every recorded request through the live and the new configuration.
    pub(crate) fn compare(&self, live: &Snapshot, candidate: &Snapshot) -> CanaryReport {
        let names = |index: usize| live.entry_points.get(index).map(|ep| ep.name.clone());
        let replays = self.ring.replays(names);
        let mut moved = 0;
        let mut distinct: Vec<MovedRequest> = Vec::new();
        let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut replayed = 0;
        for replay in replays {
            let (Ok(before), Ok(after)) = (live.routing_of(&replay.request), candidate.routing_of(&replay.request))
            else {
                continue;
            };
            replayed += 1;
            if before == after {
                continue;
            }
            moved += 1;
            if let Some(&at) = seen.get(&replay.key) {
                distinct[at].times += 1;
                continue;
            }
            seen.insert(replay.key, distinct.len());
            let request = &replay.request;
            distinct.push(MovedRequest {
                request: ReplayedRequest {
                    entry_point: live.entry_points[replay.entry_point].name.clone(),
                    method: request.method().to_string(),
                    host: request.host_header().unwrap_or_default().to_owned(),
                    path: request.uri().to_string(),
                    tls: request.is_tls(),
                    client_ip: request.client(),
                },
                times: 1,
                before,
                after,
            });
        }
        let distinct_moved = distinct.len();
        distinct.sort_by_key(|d| std::cmp::Reverse(d.times));
        distinct.truncate(LISTED_DIFFERENCES);
        CanaryReport {
            live_generation: live.generation,
            candidate_generation: candidate.generation,
            checked_at: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            replayed,
            moved,
            distinct_moved,
            differences: distinct,
            state: CanaryState::Applied,
        }
    }

    /// Checks a new configuration against the live one, reports, and (with `hold`, when it moves a
    /// recorded request) waits for a decision or a newer configuration.
    pub(crate) async fn vet<T>(
        self: &Arc<Self>,
        live: Arc<Snapshot>,
        candidate: Arc<Snapshot>,
        updates: &mut watch::Receiver<T>,
    ) -> Verdict {
        // Before the first configuration nothing was routed: there is nothing to compare.
        if live.generation == 0 {
            return Verdict::Swap;
        }
        let canary = Arc::clone(self);
        let checked = tokio::task::spawn_blocking(move || canary.compare(&live, &candidate)).await;
        let Ok(mut report) = checked else {
            return Verdict::Swap;
        };
        let held = self.hold && report.moved > 0;
        if held {
            report.state = CanaryState::Held;
        }
        log(&report);
        let generation = report.candidate_generation;
        self.publish(report);
        if !held {
            return Verdict::Swap;
        }
        loop {
            tokio::select! {
                () = self.decided.notified() => {
                    let decision = self.decision.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
                    match decision {
                        Some((decided, Decision::Confirm)) if decided == generation => {
                            self.set_state(CanaryState::Confirmed);
                            tracing::info!(target: "switchyard::canary", generation, "held configuration confirmed; it goes live");
                            return Verdict::Swap;
                        }
                        Some((decided, Decision::Discard)) if decided == generation => {
                            self.set_state(CanaryState::Discarded);
                            tracing::info!(target: "switchyard::canary", generation, "held configuration discarded; the live one keeps serving");
                            return Verdict::Keep;
                        }
                        _ => {}
                    }
                }
                changed = updates.changed() => {
                    self.set_state(CanaryState::Superseded);
                    return if changed.is_ok() { Verdict::Superseded } else { Verdict::Closed };
                }
            }
        }
    }

    fn publish(&self, report: CanaryReport) {
        self.reports.send_replace(Some(Arc::new(report)));
    }

    fn set_state(&self, state: CanaryState) {
        self.reports.send_modify(|report| {
            if let Some(report) = report {
                Arc::make_mut(report).state = state;
            }
        });
    }
}

/// One log line per checked configuration: a warning with the first moved requests when any moved.
fn log(report: &CanaryReport) {
    let (live, candidate) = (report.live_generation, report.candidate_generation);
    if report.moved == 0 {
        tracing::info!(target: "switchyard::canary", live, candidate, replayed = report.replayed,
            "the new configuration routes every recent request as the live one does");
        return;
    }
    let mut examples = String::new();
    for difference in report.differences.iter().take(3) {
        let request = &difference.request;
        let _ = write!(
            examples,
            "; {} {}{} on {}: {} -> {}",
            request.method,
            request.host,
            request.path,
            request.entry_point,
            destination(&difference.before),
            destination(&difference.after)
        );
    }
    let held = if report.state == CanaryState::Held {
        " (held: confirm with POST /api/canary/confirm or discard with POST /api/canary/discard)"
    } else {
        ""
    };
    tracing::warn!(target: "switchyard::canary", live, candidate, replayed = report.replayed, moved = report.moved,
        "{} of {} recent requests ({} distinct) would route differently{held}{examples}",
        report.moved, report.replayed, report.distinct_moved);
}

fn destination(routing: &RoutedTo) -> String {
    match (&routing.router, routing.status) {
        (Some(router), _) => format!("router {router}"),
        (None, Some(status)) => format!("the entrypoint's {status}"),
        (None, None) => "nowhere".into(),
    }
}
