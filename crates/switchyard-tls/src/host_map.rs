//! Lookups by server name: exact names first, then `*.` wildcards covering exactly one label.

use std::collections::HashMap;

/// Values by host name, for SNI: `a.example.com` finds an exact entry first, then a `*.example.com`
/// entry. A wildcard covers exactly one label (`*.example.com` does not match `example.com` nor
/// `a.b.example.com`), as in certificate matching. Names are compared case-insensitively and without
/// a trailing dot.
///
/// ```
/// use switchyard_tls::HostMap;
///
/// let mut map = HostMap::default();
/// map.insert("*.example.com", "wildcard");
/// map.insert("api.example.com", "exact");
/// assert_eq!(map.get("API.example.com."), Some(&"exact"));
/// assert_eq!(map.get("www.example.com"), Some(&"wildcard"));
/// assert_eq!(map.get("a.b.example.com"), None);
/// assert_eq!(map.get("example.com"), None);
/// ```
#[derive(Debug, Clone)]
pub struct HostMap<T> {
    exact: HashMap<Box<str>, T>,
    /// Keyed by what follows `*.`.
    wildcard: HashMap<Box<str>, T>,
}

impl<T> Default for HostMap<T> {
    fn default() -> Self {
        Self {
            exact: HashMap::new(),
            wildcard: HashMap::new(),
        }
    }
}

impl<T> HostMap<T> {
    /// Adds a name (`host` or `*.suffix`) unless it is already present; returns whether it was added.
    pub fn insert(&mut self, name: &str, value: T) -> bool {
        let name = normalize(name).into_owned();
        let (map, key) = match name.strip_prefix("*.") {
            Some(suffix) => (&mut self.wildcard, suffix.to_owned()),
            None => (&mut self.exact, name),
        };
        match map.entry(key.into_boxed_str()) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(value);
                true
            }
        }
    }

    /// The entry for a name written exactly as inserted (`*.example.com` finds the wildcard entry).
    pub fn get_mut(&mut self, name: &str) -> Option<&mut T> {
        let name = normalize(name);
        match name.strip_prefix("*.") {
            Some(suffix) => self.wildcard.get_mut(suffix),
            None => self.exact.get_mut(name.as_ref()),
        }
    }

    /// The value for a server name: its exact entry, else the wildcard entry for its parent.
    pub fn get(&self, name: &str) -> Option<&T> {
        let name = normalize(name);
        if let Some(value) = self.exact.get(name.as_ref()) {
            return Some(value);
        }
        let (_, parent) = name.split_once('.')?;
        self.wildcard.get(parent)
    }

    /// Whether nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty()
    }

    /// Every entry, exact names as inserted and wildcards with their `*.`.
    pub fn iter(&self) -> impl Iterator<Item = (String, &T)> {
        let exact = self.exact.iter().map(|(k, v)| (k.to_string(), v));
        exact.chain(self.wildcard.iter().map(|(k, v)| (format!("*.{k}"), v)))
    }
}

/// Lowercase without a trailing dot; borrows when the name already is.
fn normalize(name: &str) -> std::borrow::Cow<'_, str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(name.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_insert_wins() {
        let mut map = HostMap::default();
        assert!(map.insert("A.test", 1));
        assert!(!map.insert("a.test", 2));
        assert_eq!(map.get("a.test"), Some(&1));
        *map.get_mut("a.TEST").unwrap() = 3;
        assert_eq!(map.get("a.test"), Some(&3));
        assert!(map.get("").is_none());
        assert!(map.get("test").is_none());
    }
}
