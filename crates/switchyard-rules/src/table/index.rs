//! The index behind [`RouteTable`](super::RouteTable): host buckets, each a radix tree of paths.

use std::collections::HashMap;

use smallvec::SmallVec;

use super::gate::{Field, RegexGate, required_regex};
use super::keys::{HostKey, PathKey, host_keys, path_keys};
use super::radix::Radix;
use crate::expr::Expr;
use crate::matcher::after_first_label;
use crate::request::RequestView;

use super::Rank;

#[derive(Debug, Default)]
pub(super) struct Index {
    exact: HashMap<Box<[u8]>, Paths>,
    wildcard: HashMap<Box<[u8]>, Paths>,
    /// Keyed by reversed host suffixes.
    suffix: Radix<Option<Box<Paths>>>,
    has_suffix: bool,
    any_host: Paths,
    /// Routes with neither host nor path keys, but a required `HostRegexp` or `PathRegexp`.
    host_gate: RegexGate,
    path_gate: RegexGate,
}

/// The routes of one host bucket, by the path they require.
#[derive(Debug, Default)]
struct Paths {
    tree: Radix<Lists>,
}

#[derive(Debug, Default)]
struct Lists {
    /// Routes requiring a path that starts with this node's key.
    prefix: Vec<Rank>,
    /// Routes requiring a path equal to this node's key.
    exact: Vec<Rank>,
}

impl Index {
    /// Indexes expressions given in match order.
    pub(super) fn build<'a>(exprs: impl Iterator<Item = &'a Expr>) -> Self {
        let mut index = Index::default();
        let (mut host_gated, mut path_gated) = (Vec::new(), Vec::new());
        for (rank, expr) in exprs.enumerate() {
            let rank = Rank::try_from(rank).expect("a route table holds fewer than 2^32 routes");
            let paths = path_keys(expr);
            match host_keys(expr) {
                None if paths.is_none() => match required_regex(expr) {
                    Some((Field::Host, re)) => host_gated.push((rank, re)),
                    Some((Field::Path, re)) => path_gated.push((rank, re)),
                    None => index.any_host.insert(rank, None),
                },
                None => index.any_host.insert(rank, paths.as_deref()),
                Some(hosts) => {
                    for host in hosts {
                        index.bucket(host).insert(rank, paths.as_deref());
                    }
                }
            }
        }
        index.host_gate = RegexGate::new(host_gated);
        index.path_gate = RegexGate::new(path_gated);
        index
    }

    fn bucket(&mut self, key: HostKey) -> &mut Paths {
        match key {
            HostKey::Exact(host) => self.exact.entry(host.into()).or_default(),
            HostKey::Wildcard(rest) => self.wildcard.entry(rest.into()).or_default(),
            HostKey::Suffix(mut suffix) => {
                self.has_suffix = true;
                suffix.reverse();
                self.suffix.entry(&suffix).get_or_insert_with(Box::default)
            }
        }
    }

    pub(super) fn gated_len(&self) -> usize {
        self.host_gate.len() + self.path_gate.len()
    }

    pub(super) fn unindexed_len(&self) -> usize {
        let mut root = 0;
        self.any_host.tree.walk(b"", |lists, _| root = lists.prefix.len());
        root
    }

    /// The lowest rank among the candidates for which `matches` holds.
    #[inline]
    pub(super) fn find(&self, req: &RequestView<'_>, matches: impl Fn(Rank) -> bool) -> Option<Rank> {
        let mut best = Rank::MAX;
        let host = req.host();
        let path = req.path();
        let mut probe = |paths: &Paths| paths.find(path, &mut best, &matches);
        self.probe_host_buckets(host, &mut probe);
        probe(&self.any_host);
        self.host_gate.find(host, &mut best, &matches);
        self.path_gate.find(path, &mut best, &matches);
        (best != Rank::MAX).then_some(best)
    }

    /// Probes the buckets of the routes that name `host` (with or without its trailing dot): exactly,
    /// by wildcard, by suffix.
    #[inline]
    fn probe_host_buckets(&self, host: &[u8], probe: &mut impl FnMut(&Paths)) {
        let stripped = host.strip_suffix(b".");
        if !self.exact.is_empty() {
            self.exact.get(host).map(&mut *probe);
            stripped.and_then(|h| self.exact.get(h)).map(&mut *probe);
        }
        if !self.wildcard.is_empty() {
            self.wildcard.get(after_first_label(host)).map(&mut *probe);
            stripped
                .and_then(|h| self.wildcard.get(after_first_label(h)))
                .map(&mut *probe);
        }
        if self.has_suffix {
            let reversed: SmallVec<[u8; 256]> = host.iter().rev().copied().collect();
            self.suffix.walk(&reversed, |paths, _| {
                paths.as_deref().map(&mut *probe);
            });
        }
    }
}

impl Paths {
    fn insert(&mut self, rank: Rank, keys: Option<&[PathKey]>) {
        let Some(keys) = keys else {
            push(&mut self.tree.entry(b"").prefix, rank);
            return;
        };
        for key in keys {
            match key {
                PathKey::Exact(path) => push(&mut self.tree.entry(path).exact, rank),
                PathKey::Prefix(prefix) => push(&mut self.tree.entry(prefix).prefix, rank),
            }
        }
    }

    #[inline]
    fn find(&self, path: &[u8], best: &mut Rank, matches: &impl Fn(Rank) -> bool) {
        self.tree.walk(path, |lists, whole| {
            scan(&lists.prefix, best, matches);
            if whole {
                scan(&lists.exact, best, matches);
            }
        });
    }
}

/// Ranks arrive in ascending order; the same rank twice (from `a || a`) is kept once.
fn push(list: &mut Vec<Rank>, rank: Rank) {
    if list.last() != Some(&rank) {
        list.push(rank);
    }
}

/// Tries the candidates that could still beat `best`, in order; the first that matches is the best.
#[inline]
pub(super) fn scan(list: &[Rank], best: &mut Rank, matches: &impl Fn(Rank) -> bool) {
    for &rank in list {
        if rank >= *best {
            return;
        }
        if matches(rank) {
            *best = rank;
            return;
        }
    }
}
