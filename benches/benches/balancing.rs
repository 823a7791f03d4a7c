//! What one pick costs per strategy, from 2 to 1,000 servers: `wrr` with equal weights (a lock-free
//! rotation) and with unequal ones (the earliest-deadline heap), `p2c`, `hrw` (a hash per server) and
//! `leasttime` (a score per server, each server with a latency already observed). `p2c` and `leasttime`
//! picks include counting the request in flight.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use switchyard_config::Strategy;
use switchyard_proxy::balancing::{Candidate, Picker, ServerStats};

fn main() {
    divan::main();
}

const SIZES: [usize; 4] = [2, 10, 100, 1_000];

struct Backend {
    url: String,
    weight: u32,
    stats: Arc<ServerStats>,
}

impl Candidate for Backend {
    fn weight(&self) -> u32 {
        self.weight
    }

    fn url(&self) -> &str {
        &self.url
    }

    fn stats(&self) -> &Arc<ServerStats> {
        &self.stats
    }
}

fn backends(n: usize, weighted: bool) -> Vec<Backend> {
    (0..n)
        .map(|i| Backend {
            url: format!("http://10.0.{}.{}:8080", i / 256, i % 256),
            weight: if weighted { 1 + (i % 5) as u32 } else { 1 },
            stats: Arc::default(),
        })
        .collect()
}

fn run(bencher: divan::Bencher, n: usize, strategy: Strategy, weighted: bool) {
    let servers = backends(n, weighted);
    // Servers that have answered before, each at its own pace, as under load.
    for (i, server) in servers.iter().enumerate() {
        server.stats.observe(std::time::Duration::from_micros(200 + i as u64));
    }
    let picker = Picker::new(&strategy, &servers);
    let client = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
    let tracks = picker.tracks_load();
    bencher.bench_local(|| {
        let index = picker.pick(&servers, divan::black_box(client));
        if let (true, Some(i)) = (tracks, index) {
            drop(servers[i].stats.start());
        }
        index
    });
}

#[divan::bench(args = SIZES)]
fn wrr_equal(bencher: divan::Bencher, n: usize) {
    run(bencher, n, Strategy::Wrr, false);
}

#[divan::bench(args = SIZES)]
fn wrr_weighted(bencher: divan::Bencher, n: usize) {
    run(bencher, n, Strategy::Wrr, true);
}

#[divan::bench(args = SIZES)]
fn p2c(bencher: divan::Bencher, n: usize) {
    run(bencher, n, Strategy::P2c, false);
}

#[divan::bench(args = SIZES)]
fn hrw(bencher: divan::Bencher, n: usize) {
    run(bencher, n, Strategy::Hrw, false);
}

#[divan::bench(args = SIZES)]
fn leasttime(bencher: divan::Bencher, n: usize) {
    run(bencher, n, Strategy::LeastTime, false);
}
