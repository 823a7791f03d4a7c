//! One route: a named rule, its ordering keys and what it routes to.

use crate::rule::Rule;

/// A rule with a name, its ordering keys and a value (typically the service to call).
///
/// ```
/// use switchyard_rules::{Route, Rule};
///
/// let rule = Rule::parse("PathPrefix(`/api`)").unwrap();
/// let route = Route::new("api@file", rule, 7).with_provider_rank(1);
/// assert_eq!(route.priority(), 18); // the rule's length, as in Traefik
/// assert_eq!(route.with_priority(100).priority(), 100);
/// ```
#[derive(Debug, Clone)]
pub struct Route<T> {
    name: String,
    rule: Rule,
    priority: i64,
    provider_rank: u32,
    value: T,
}

impl<T> Route<T> {
    /// A route with Traefik's default priority (the rule's length) and provider rank 0.
    pub fn new(name: impl Into<String>, rule: Rule, value: T) -> Self {
        Self {
            name: name.into(),
            priority: rule.default_priority(),
            rule,
            provider_rank: 0,
            value,
        }
    }

    /// Sets an explicit priority; higher is tried first.
    #[must_use]
    pub fn with_priority(mut self, priority: i64) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the provider rank that breaks priority ties; lower is tried first (the position of the
    /// route's provider in the configured precedence list).
    #[must_use]
    pub fn with_provider_rank(mut self, rank: u32) -> Self {
        self.provider_rank = rank;
        self
    }

    /// The route's name (a router name such as `api@file`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rule.
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// The priority.
    pub fn priority(&self) -> i64 {
        self.priority
    }

    /// The provider rank.
    pub fn provider_rank(&self) -> u32 {
        self.provider_rank
    }

    /// The value the route leads to.
    pub fn value(&self) -> &T {
        &self.value
    }
}
