//! Typed path templates (`/users/{id}`, `/static/{*file}`), matched by `matchit`.

use std::fmt;

/// A path template with named parameters: `{name}` matches one segment, `{*name}` the rest of the
/// path. Literal braces are written `{{` and `}}`.
///
/// Traefik rules cannot capture parts of a path; a route written in code (or with the switchyard
/// extension `PathTemplate(...)`) can, and the [`RouteTable`](crate::RouteTable) hands the captured
/// values back with the match.
///
/// ```
/// use switchyard_rules::PathTemplate;
///
/// let t = PathTemplate::new("/users/{id}/posts/{*rest}").unwrap();
/// let params = t.params("/users/42/posts/2024/hello").unwrap();
/// assert_eq!(params.get("id"), Some("42"));
/// assert_eq!(params.get("rest"), Some("2024/hello"));
/// assert!(t.params("/users/42").is_none());
/// ```
#[derive(Clone)]
pub struct PathTemplate {
    source: String,
    router: matchit::Router<()>,
}

impl PathTemplate {
    /// Compiles a template; it must start with `/`.
    pub fn new(template: &str) -> Result<Self, String> {
        if !template.starts_with('/') {
            return Err(format!("path template `{template}` does not start with a '/'"));
        }
        let mut router = matchit::Router::new();
        router
            .insert(template, ())
            .map_err(|e| format!("invalid path template `{template}`: {e}"))?;
        Ok(Self {
            source: template.to_owned(),
            router,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `path` fits the template.
    pub fn matches(&self, path: &[u8]) -> bool {
        std::str::from_utf8(path).is_ok_and(|p| self.router.at(p).is_ok())
    }

    /// The parameters captured from `path`, if it fits.
    pub fn params<'t, 'p>(&'t self, path: &'p str) -> Option<matchit::Params<'t, 'p>> {
        self.router.at(path).ok().map(|m| m.params)
    }

    /// The literal text every matching path starts with (up to the first parameter).
    pub(crate) fn literal_prefix(&self) -> &str {
        let end = self.source.find(['{', '}']).unwrap_or(self.source.len());
        &self.source[..end]
    }
}

impl fmt::Debug for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PathTemplate").field(&self.source).finish()
    }
}

impl PartialEq for PathTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for PathTemplate {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefix_stops_at_first_brace() {
        assert_eq!(PathTemplate::new("/users/{id}").unwrap().literal_prefix(), "/users/");
        assert_eq!(PathTemplate::new("/a/{{lit}}/{x}").unwrap().literal_prefix(), "/a/");
        assert_eq!(PathTemplate::new("/static").unwrap().literal_prefix(), "/static");
    }

    #[test]
    fn rejects_bad_templates() {
        assert!(
            PathTemplate::new("users/{id}")
                .unwrap_err()
                .contains("does not start with")
        );
        assert!(
            PathTemplate::new("/users/{id")
                .unwrap_err()
                .contains("invalid path template")
        );
    }
}
