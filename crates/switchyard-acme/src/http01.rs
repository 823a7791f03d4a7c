//! HTTP-01: the key authorizations entrypoints answer at `/.well-known/acme-challenge/<token>`.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

/// The path prefix of HTTP-01 challenges.
pub const HTTP01_PREFIX: &str = "/.well-known/acme-challenge/";

/// Pending HTTP-01 challenges by token, read lock-free by the entrypoints that answer them.
///
/// ```
/// use switchyard_acme::Http01Tokens;
///
/// let tokens = Http01Tokens::default();
/// tokens.insert("tok", "tok.thumbprint");
/// assert_eq!(tokens.answer("/.well-known/acme-challenge/tok").as_deref(), Some("tok.thumbprint"));
/// assert_eq!(tokens.answer("/.well-known/acme-challenge/other"), None);
/// tokens.remove("tok");
/// assert_eq!(tokens.answer("/.well-known/acme-challenge/tok"), None);
/// ```
#[derive(Debug, Default)]
pub struct Http01Tokens {
    tokens: ArcSwap<HashMap<String, Arc<str>>>,
}

impl Http01Tokens {
    /// Answers `token` with `key_authorization`.
    pub fn insert(&self, token: &str, key_authorization: &str) {
        let value: Arc<str> = Arc::from(key_authorization);
        self.tokens.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.insert(token.to_owned(), Arc::clone(&value));
            next
        });
    }

    /// Stops answering `token`.
    pub fn remove(&self, token: &str) {
        self.tokens.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.remove(token);
            next
        });
    }

    /// The key authorization for a request path, when it is a pending challenge's.
    pub fn answer(&self, path: &str) -> Option<Arc<str>> {
        let token = path.strip_prefix(HTTP01_PREFIX)?;
        let tokens = self.tokens.load();
        tokens.get(token).cloned()
    }
}
