//! The terms of earlier routes, filed by the host and then the path they require, so that a later
//! term is compared only with the terms that could cover it.

use std::collections::HashMap;

use super::term::{self, HostKey, Term};
use crate::matcher::Matcher;

/// The terms seen so far, each with the position of its route.
#[derive(Debug, Default)]
pub(super) struct Candidates<'a> {
    any_host: Paths<'a>,
    exact: HashMap<&'a [u8], Paths<'a>>,
    wildcard: HashMap<&'a [u8], Paths<'a>>,
}

type Owned<'a> = Vec<(usize, Term<'a>)>;

/// The terms of one host bucket, by the path they require.
#[derive(Debug, Default)]
struct Paths<'a> {
    any: Owned<'a>,
    exact: HashMap<&'a [u8], Owned<'a>>,
    prefix: HashMap<&'a [u8], Owned<'a>>,
}

impl<'a> Candidates<'a> {
    /// Files a term of route `owner` under the first host and the first path it requires.
    pub(super) fn insert(&mut self, owner: usize, term: Term<'a>) {
        let host = term.iter().find_map(|l| match term::matcher(l) {
            Some(Matcher::Host(h)) if h != "*" => Some(term::host_key(h)),
            _ => None,
        });
        let paths = match host {
            None => &mut self.any_host,
            Some(HostKey::Exact(h)) => self.exact.entry(h).or_default(),
            Some(HostKey::Wildcard(suffix)) => self.wildcard.entry(suffix).or_default(),
        };
        paths.insert(owner, term);
    }

    /// Calls `f` with every filed term that could cover `later`, until it returns `false`.
    pub(super) fn for_each(&self, later: &Term<'_>, f: &mut dyn FnMut(usize, &Term<'a>) -> bool) {
        // Most specific first, so that the bound on comparisons cuts the least likely candidates.
        let mut buckets: Vec<&Paths<'a>> = Vec::new();
        for literal in later {
            let Some(Matcher::Host(h)) = term::matcher(literal) else {
                continue;
            };
            match term::host_key(h) {
                HostKey::Exact(host) => {
                    buckets.extend(self.exact.get(host));
                    buckets.extend(self.wildcard.get(term::wildcard_suffix_of(host)));
                }
                HostKey::Wildcard(suffix) => buckets.extend(self.wildcard.get(suffix)),
            }
        }
        buckets.push(&self.any_host);
        dedup_by_address(&mut buckets);
        let keys = path_keys(later);
        for paths in buckets {
            if !paths.for_each(&keys, f) {
                return;
            }
        }
    }
}

impl<'a> Paths<'a> {
    fn insert(&mut self, owner: usize, term: Term<'a>) {
        let path = term.iter().find_map(|l| match term::matcher(l) {
            Some(Matcher::Path(p)) => Some((true, p.as_bytes())),
            Some(Matcher::PathPrefix(p)) => Some((false, p.as_bytes())),
            _ => None,
        });
        let list = match path {
            None => &mut self.any,
            Some((true, p)) => self.exact.entry(p).or_default(),
            Some((false, p)) => self.prefix.entry(p).or_default(),
        };
        list.push((owner, term));
    }

    /// Visits the terms filed under no path, under one of `keys`' exact paths, or under a prefix of
    /// one of them; `false` once `f` asked to stop.
    fn for_each(&self, keys: &[PathKey], f: &mut dyn FnMut(usize, &Term<'a>) -> bool) -> bool {
        let mut lists: Vec<&Owned<'a>> = Vec::new();
        for key in keys {
            if key.exact {
                lists.extend(self.exact.get(key.path.as_slice()));
            }
            if !self.prefix.is_empty() {
                let longest_first = (0..=key.path.len()).rev();
                lists.extend(longest_first.filter_map(|end| self.prefix.get(&key.path[..end])));
            }
        }
        lists.push(&self.any);
        dedup_by_address(&mut lists);
        lists.into_iter().flatten().all(|(owner, term)| f(*owner, term))
    }
}

/// A path the later term requires: exactly, or as a prefix.
struct PathKey {
    exact: bool,
    path: Vec<u8>,
}

/// The paths a later term requires, from its path matchers (regexps and templates by their literal
/// prefixes).
fn path_keys(later: &Term<'_>) -> Vec<PathKey> {
    let mut keys = Vec::new();
    for m in later.iter().filter_map(|l| term::matcher(l)) {
        match m {
            Matcher::Path(p) => keys.push(PathKey {
                exact: true,
                path: p.as_bytes().to_vec(),
            }),
            Matcher::PathPrefix(p) => keys.push(PathKey {
                exact: false,
                path: p.as_bytes().to_vec(),
            }),
            Matcher::PathRegexp(_) | Matcher::PathTemplate(_) => {
                let prefixes = m.path_prefixes().unwrap_or_default();
                keys.extend(prefixes.into_iter().map(|path| PathKey { exact: false, path }));
            }
            _ => {}
        }
    }
    keys
}

/// Drops repeated references (the same bucket found under two spellings of a host).
fn dedup_by_address<T>(items: &mut Vec<&T>) {
    let mut seen: Vec<*const T> = Vec::with_capacity(items.len());
    items.retain(|item| {
        let address: *const T = *item;
        let fresh = !seen.contains(&address);
        seen.push(address);
        fresh
    });
}
