//! The bounded ring of recent requests' routing inputs.
//!
//! Recording is on the request path, so it takes no lock that can wait and, once every slot has been
//! written, allocates nothing: each slot keeps its buffers and the next request over it reuses their
//! capacity. A slot another thread is writing or the canary is reading is skipped, not waited for.

use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::header::HOST;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use crate::explain::ExplainRequest;

/// Header bytes kept per request; the headers past it are left out of the replay.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// What routing a request depends on, as a connection received it.
pub(crate) struct Recorded<'r> {
    pub(crate) entry_point: usize,
    pub(crate) parts: &'r Parts,
    pub(crate) client_ip: IpAddr,
    pub(crate) tls: bool,
    pub(crate) server_name: Option<&'r str>,
}

/// The last requests' routing inputs, newest overwriting oldest.
#[derive(Debug)]
pub(crate) struct RequestRing {
    slots: Box<[Mutex<Slot>]>,
    next: AtomicUsize,
}

/// One recorded request; buffers keep their capacity from one request to the next.
#[derive(Debug, Default)]
struct Slot {
    filled: bool,
    entry_point: usize,
    method: Option<Method>,
    /// The path and query as received.
    target: String,
    /// The URI's authority, else the `Host` header.
    authority: String,
    /// Header names and values back to back; `lengths` cuts them apart.
    header_bytes: Vec<u8>,
    lengths: Vec<(u16, u32)>,
    client_ip: Option<IpAddr>,
    tls: bool,
    server_name: String,
}

/// A request read back from the ring: the entrypoint's index, and the request to route.
pub(crate) struct Replay {
    pub(crate) entry_point: usize,
    pub(crate) request: ExplainRequest,
    /// What tells it apart from other recorded requests (for counting repeats).
    pub(crate) key: Vec<u8>,
}

impl RequestRing {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            slots: (0..capacity.max(1)).map(|_| Mutex::default()).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// Keeps a request's routing inputs, over the oldest ones.
    pub(crate) fn record(&self, request: &Recorded<'_>) {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        // Never wait on the request path: a slot in use is this request's loss, not its delay.
        let Ok(mut slot) = self.slots[index].try_lock() else {
            return;
        };
        slot.fill(request);
    }

    /// How many slots hold a request.
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.lock().is_ok_and(|s| s.filled)).count()
    }

    /// Every recorded request, to route again.
    pub(crate) fn replays(&self, entry_point_name: impl Fn(usize) -> Option<String>) -> Vec<Replay> {
        let mut out = Vec::with_capacity(self.slots.len());
        for slot in &self.slots[..] {
            let Ok(slot) = slot.lock() else { continue };
            if let Some(replay) = slot.replay(&entry_point_name) {
                out.push(replay);
            }
        }
        out
    }
}

impl Slot {
    fn fill(&mut self, request: &Recorded<'_>) {
        let parts = request.parts;
        self.filled = true;
        self.entry_point = request.entry_point;
        if self.method.as_ref() != Some(&parts.method) {
            self.method = Some(parts.method.clone());
        }
        self.target.clear();
        self.target
            .push_str(parts.uri.path_and_query().map_or("/", |pq| pq.as_str()));
        self.authority.clear();
        match parts.uri.authority() {
            Some(authority) => self.authority.push_str(authority.as_str()),
            None => {
                if let Some(host) = parts.headers.get(HOST).and_then(|h| h.to_str().ok()) {
                    self.authority.push_str(host);
                }
            }
        }
        self.header_bytes.clear();
        self.lengths.clear();
        for (name, value) in &parts.headers {
            if name == HOST {
                continue;
            }
            let (name, value) = (name.as_str().as_bytes(), value.as_bytes());
            if self.header_bytes.len() + name.len() + value.len() > MAX_HEADER_BYTES {
                break;
            }
            self.header_bytes.extend_from_slice(name);
            self.header_bytes.extend_from_slice(value);
            #[allow(clippy::cast_possible_truncation, reason = "both are under MAX_HEADER_BYTES")]
            self.lengths.push((name.len() as u16, value.len() as u32));
        }
        self.client_ip = Some(request.client_ip);
        self.tls = request.tls;
        self.server_name.clear();
        if let Some(name) = request.server_name {
            self.server_name.push_str(name);
        }
    }

    fn replay(&self, entry_point_name: &impl Fn(usize) -> Option<String>) -> Option<Replay> {
        if !self.filled {
            return None;
        }
        let method = self.method.clone()?;
        let uri = Uri::try_from(self.target.as_str()).ok()?;
        let mut headers = HeaderMap::with_capacity(self.lengths.len());
        let mut at = 0;
        for &(name_len, value_len) in &self.lengths {
            let name_end = at + usize::from(name_len);
            let value_end = name_end + value_len as usize;
            let name = HeaderName::from_bytes(&self.header_bytes[at..name_end]).ok()?;
            let value = HeaderValue::from_bytes(&self.header_bytes[name_end..value_end]).ok()?;
            headers.append(name, value);
            at = value_end;
        }
        let request = ExplainRequest::recorded(
            entry_point_name(self.entry_point)?,
            method,
            uri,
            (!self.authority.is_empty()).then(|| self.authority.clone()),
            headers,
            self.client_ip?,
            self.tls,
            (!self.server_name.is_empty()).then(|| self.server_name.clone()),
        );
        let mut key = Vec::with_capacity(64 + self.header_bytes.len());
        for part in [
            &self.entry_point.to_le_bytes()[..],
            self.method.as_ref().map_or(&b""[..], |m| m.as_str().as_bytes()),
            self.target.as_bytes(),
            self.authority.as_bytes(),
            &self.header_bytes,
            self.client_ip.map(|ip| ip.to_string()).unwrap_or_default().as_bytes(),
            &[u8::from(self.tls)],
            self.server_name.as_bytes(),
        ] {
            key.extend_from_slice(&part.len().to_le_bytes());
            key.extend_from_slice(part);
        }
        Some(Replay {
            entry_point: self.entry_point,
            request,
            key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    fn record(ring: &RequestRing, parts: &Parts) {
        ring.record(&Recorded {
            entry_point: 0,
            parts,
            client_ip: "192.0.2.1".parse().unwrap(),
            tls: false,
            server_name: None,
        });
    }

    #[test]
    fn the_ring_keeps_the_latest_requests_and_reads_them_back_whole() {
        let ring = RequestRing::new(3);
        for i in 0..5 {
            let head = parts(
                "POST",
                &format!("/p/{i}?q=1"),
                &[("host", "a.example"), ("x-env", "prod"), ("x-env", "dev")],
            );
            record(&ring, &head);
        }
        assert_eq!(ring.len(), 3);
        let replays = ring.replays(|_| Some("web".into()));
        let mut targets: Vec<String> = replays.iter().map(|r| r.request.uri().to_string()).collect();
        targets.sort();
        assert_eq!(targets, ["/p/2?q=1", "/p/3?q=1", "/p/4?q=1"]);
        let first = &replays[0].request;
        assert_eq!(first.method(), Method::POST);
        assert_eq!(first.host_header(), Some("a.example"));
        let values: Vec<_> = first.headers().get_all("x-env").iter().collect();
        assert_eq!(values, ["prod", "dev"]);
        assert!(first.headers().get(HOST).is_none(), "the host travels apart");
    }

    #[test]
    fn an_http2_request_keeps_its_authority() {
        let ring = RequestRing::new(1);
        record(&ring, &parts("GET", "https://b.example:8443/x", &[]));
        let replay = &ring.replays(|_| Some("websecure".into()))[0];
        assert_eq!(replay.request.host_header(), Some("b.example:8443"));
        assert_eq!(replay.request.uri(), "/x");
    }

    #[test]
    fn headers_past_the_budget_are_left_out() {
        let ring = RequestRing::new(1);
        let big = "v".repeat(MAX_HEADER_BYTES - 10);
        record(&ring, &parts("GET", "/", &[("x-big", &big), ("x-late", "1")]));
        let replay = &ring.replays(|_| Some("web".into()))[0];
        assert!(replay.request.headers().get("x-big").is_some());
        assert!(replay.request.headers().get("x-late").is_none());
    }

    #[test]
    fn repeated_requests_share_a_key_and_others_do_not() {
        let ring = RequestRing::new(3);
        record(&ring, &parts("GET", "/a", &[("host", "a.example")]));
        record(&ring, &parts("GET", "/a", &[("host", "a.example")]));
        record(&ring, &parts("GET", "/a", &[("host", "b.example")]));
        let replays = ring.replays(|_| Some("web".into()));
        assert_eq!(replays[0].key, replays[1].key);
        assert_ne!(replays[0].key, replays[2].key);
    }

    #[test]
    fn a_request_on_an_unknown_entry_point_is_not_replayed() {
        let ring = RequestRing::new(1);
        record(&ring, &parts("GET", "/", &[]));
        assert!(ring.replays(|_| None).is_empty());
    }
}
