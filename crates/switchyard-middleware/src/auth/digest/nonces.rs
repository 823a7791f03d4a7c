//! The nonces a `digestAuth` middleware handed out, with the highest nonce count seen for each.
//!
//! As in go-http-auth, every challenge issues a new nonce, and the table keeps about a thousand: when it
//! grows past 1,100 entries, the 200 least recently used are forgotten (their clients are challenged
//! again). Nonces do not expire otherwise.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const CACHE_SIZE: usize = 1000;
const CACHE_TOLERANCE: usize = 100;

/// What a nonce count says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Count {
    /// A count above the last one: the request is new.
    Fresh,
    /// A nonce this middleware did not issue, or no longer remembers.
    Unknown,
    /// The last count again, or a count of zero: a replay.
    Replayed,
    /// A count below the last one: pipelined requests arriving out of order. The client may retry
    /// with a new nonce without asking its user again.
    Stale,
}

struct Client {
    count: u64,
    last_seen: Instant,
}

/// The issued nonces.
#[derive(Default)]
pub(super) struct Nonces {
    clients: Mutex<HashMap<String, Client>>,
}

impl Nonces {
    /// Issues a new nonce: 12 random bytes in base64.
    pub(super) fn issue(&self) -> Result<String, getrandom::Error> {
        let nonce = random_key()?;
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if clients.len() > CACHE_SIZE + CACHE_TOLERANCE {
            forget_oldest(&mut clients, CACHE_TOLERANCE * 2);
        }
        clients.insert(
            nonce.clone(),
            Client {
                count: 0,
                last_seen: Instant::now(),
            },
        );
        Ok(nonce)
    }

    /// Checks the nonce count `count` of `nonce`, and records it when it is fresh.
    ///
    /// go-http-auth accepts a count of zero, and then any count again while the last one is zero; here a
    /// count must be above the last one, and counts start at 1 (RFC 7616 §3.4).
    pub(super) fn check(&self, nonce: &str, count: u64) -> Count {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(client) = clients.get_mut(nonce) else {
            return Count::Unknown;
        };
        if count < client.count {
            return Count::Stale;
        }
        if count == client.count {
            return Count::Replayed;
        }
        client.count = count;
        client.last_seen = Instant::now();
        Count::Fresh
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

fn forget_oldest(clients: &mut HashMap<String, Client>, count: usize) {
    let mut by_age: Vec<(Instant, String)> = clients.iter().map(|(k, c)| (c.last_seen, k.clone())).collect();
    by_age.sort_unstable();
    for (_, nonce) in by_age.into_iter().take(count) {
        clients.remove(&nonce);
    }
}

/// 12 random bytes in base64 (16 characters), as go-http-auth's nonces and opaque values.
pub(super) fn random_key() -> Result<String, getrandom::Error> {
    let mut key = [0u8; 12];
    getrandom::fill(&mut key)?;
    Ok(STANDARD.encode(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_must_grow() {
        let nonces = Nonces::default();
        let nonce = nonces.issue().unwrap();
        assert_eq!(nonce.len(), 16);
        assert_eq!(nonces.check("unknown", 1), Count::Unknown);
        assert_eq!(nonces.check(&nonce, 0), Count::Replayed, "counts start at 1");
        assert_eq!(nonces.check(&nonce, 1), Count::Fresh);
        assert_eq!(nonces.check(&nonce, 1), Count::Replayed);
        assert_eq!(nonces.check(&nonce, 3), Count::Fresh);
        assert_eq!(nonces.check(&nonce, 2), Count::Stale);
        assert_eq!(nonces.check(&nonce, 4), Count::Fresh);
    }

    #[test]
    fn the_table_is_bounded_and_keeps_recent_nonces() {
        let nonces = Nonces::default();
        let first = nonces.issue().unwrap();
        let used = nonces.issue().unwrap();
        for _ in 0..CACHE_SIZE + CACHE_TOLERANCE - 1 {
            nonces.issue().unwrap();
        }
        assert_eq!(nonces.check(&used, 1), Count::Fresh, "using a nonce makes it recent");
        nonces.issue().unwrap();
        assert_eq!(nonces.len(), CACHE_SIZE + CACHE_TOLERANCE + 2 - CACHE_TOLERANCE * 2);
        assert_eq!(nonces.check(&first, 1), Count::Unknown, "the oldest are forgotten");
        assert_eq!(nonces.check(&used, 2), Count::Fresh);
    }
}
