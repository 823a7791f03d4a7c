//! `hrw`: highest random weight (rendezvous hashing) of the client IP. Each server scores
//! `weight / -ln(h)` with `h` a hash of the client and the server; the highest wins, and only the clients
//! of a removed server move. Traefik hashes the concatenated client address and URL for each server at
//! each pick; switchyard hashes each URL once per configuration and mixes it with the client's hash,
//! which costs a few nanoseconds per server instead of a string hash (clients therefore land on other
//! servers than under Traefik, with the same stability). `highestRandomWeight` services share the
//! hashing.

use std::net::IpAddr;

use super::ServerSet;

/// `hrw` over the servers with a positive weight.
#[derive(Debug)]
pub(super) struct Rendezvous {
    eligible: Vec<usize>,
    /// Each eligible server's URL hash.
    hashes: Vec<u64>,
    /// Whether all weights are equal (then the largest hash wins, with no logarithm).
    equal: bool,
}

impl Rendezvous {
    pub(super) fn new(servers: &dyn ServerSet, eligible: Vec<usize>) -> Self {
        let first = servers.weight(eligible[0]);
        Self {
            hashes: eligible.iter().map(|&i| name_hash(servers.url(i))).collect(),
            equal: eligible.iter().all(|&i| servers.weight(i) == first),
            eligible,
        }
    }

    pub(super) fn pick(&self, servers: &dyn ServerSet, client: IpAddr) -> Option<usize> {
        let key = client_key(client);
        let mut best: Option<(usize, f64)> = None;
        for (&i, &hash) in self.eligible.iter().zip(&self.hashes) {
            if !servers.stats(i).is_up() {
                continue;
            }
            let unit = mix(key, hash);
            let score = if self.equal {
                unit
            } else {
                weighted_score(unit, servers.weight(i))
            };
            if best.is_none_or(|(_, top)| score > top) {
                best = Some((i, score));
            }
        }
        best.map(|(i, _)| i)
    }
}

/// The rendezvous weight of a client and a target as a number in (0, 1]: their hashes mixed with a
/// finalizer that spreads every input bit over the output (SplitMix64's), so that each target's share
/// of clients is even and a target's removal moves only its own clients.
pub(crate) fn mix(client: u64, target: u64) -> f64 {
    let mut z = client ^ target.rotate_left(32);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    // 53 random bits as a float in (0, 1].
    ((z >> 11) + 1) as f64 / 9_007_199_254_740_992.0
}

/// Weighted rendezvous: `weight / -ln(unit)`, the highest wins (so a server of weight 2 wins twice as
/// many clients as one of weight 1).
pub(crate) fn weighted_score(unit: f64, weight: u32) -> f64 {
    let log = -unit.ln();
    if log <= 0.0 { f64::MAX } else { f64::from(weight) / log }
}

/// The hash of a target's name (a server URL, a service name), to mix with a client's.
pub(crate) fn name_hash(name: &str) -> u64 {
    Fnv1a::new().write(name.as_bytes()).0
}

/// The hash of a client address, to mix with targets' hashes.
pub(crate) fn client_key(client: IpAddr) -> u64 {
    match client.to_canonical() {
        IpAddr::V4(v4) => u64::from(u32::from(v4)).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            ((bits >> 64) as u64 ^ (bits as u64).rotate_left(17)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        }
    }
}

/// 64-bit FNV-1a, the hash Traefik's `hrw` uses.
#[derive(Debug, Clone, Copy)]
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(mut self, bytes: &[u8]) -> Self {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_vectors() {
        assert_eq!(Fnv1a::new().write(b"").0, 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fnv1a::new().write(b"a").0, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Fnv1a::new().write(b"foobar").0, 0x8594_4171_f739_67e8);
    }
}
