//! Sticky sessions: a cookie that sends a client back to the server it first reached.
//!
//! The cookie holds the first 16 hex digits of the SHA-256 of the server's URL, as Traefik writes it, so
//! sessions survive a move between Traefik and switchyard; the older forms Traefik still reads (the URL
//! itself, its FNV hashes) are read too and rewritten. The value does not spell the address, but it is
//! a plain hash: a client that can guess the backends' URLs can tell them apart. A sticky server that
//! can no longer take requests (gone, weight 0, unhealthy) is replaced transparently by the strategy's
//! next pick and the cookie rewritten.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use sha1::Digest as _;
use switchyard_config::Cookie;

/// A load balancer's sticky cookie and the servers it can name.
#[derive(Debug)]
pub(crate) struct Sticky {
    name: String,
    /// Attributes after the value (`; Path=/; HttpOnly`), without `Expires`, which is set per response.
    attributes: String,
    expires: Option<Duration>,
    /// Cookie value → server index, for the current values and the legacy ones.
    servers: HashMap<String, usize>,
    /// Server index → the value to write.
    values: Vec<String>,
}

impl Sticky {
    /// The cookie of the service `service` (its qualified name names the cookie when the configuration
    /// does not) over servers with these URLs.
    pub(crate) fn new<'a>(config: &Cookie, service: &str, urls: impl IntoIterator<Item = &'a str>) -> Self {
        let name = if config.name.is_empty() {
            generated_name(service)
        } else {
            sanitize(&config.name)
        };
        let expires = u64::try_from(config.expires)
            .ok()
            .filter(|s| *s > 0)
            .map(Duration::from_secs);
        let (servers, values) = server_values(urls);
        Self {
            name,
            attributes: attributes(config),
            expires,
            servers,
            values,
        }
    }

    /// The server the request's cookie names, if any, and whether its value must be rewritten (a legacy
    /// form).
    pub(crate) fn server(&self, headers: &HeaderMap) -> Option<(usize, bool)> {
        let value = cookie_value(headers, &self.name)?;
        let index = *self.servers.get(value)?;
        Some((index, self.values.get(index).is_none_or(|v| v != value)))
    }

    /// Sets the cookie naming server `index` on a response.
    pub(crate) fn write(&self, headers: &mut HeaderMap, index: usize) {
        let Some(value) = self.values.get(index) else { return };
        let (before, after) = self.attributes.split_once('\u{0}').unwrap_or((&self.attributes, ""));
        let mut cookie = format!("{}={value}{before}", self.name);
        if let Some(expires) = self.expires {
            let _ = write!(
                cookie,
                "; Expires={}",
                httpdate::fmt_http_date(SystemTime::now() + expires)
            );
        }
        cookie.push_str(after);
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(SET_COOKIE, value);
        }
    }
}

/// The value of cookie `name` in a request's `Cookie` headers.
fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// The cookie's attributes: those written before `Expires`, a NUL, then those written after it.
fn attributes(config: &Cookie) -> String {
    let mut attributes = String::new();
    if !config.path.is_empty() {
        let _ = write!(attributes, "; Path={}", config.path);
    }
    if !config.domain.is_empty() {
        let _ = write!(attributes, "; Domain={}", config.domain.trim_start_matches('.'));
    }
    attributes.push('\u{0}');
    match config.max_age {
        age if age > 0 => {
            let _ = write!(attributes, "; Max-Age={age}");
        }
        age if age < 0 => attributes.push_str("; Max-Age=0"),
        _ => {}
    }
    if config.http_only {
        attributes.push_str("; HttpOnly");
    }
    if config.secure {
        attributes.push_str("; Secure");
    }
    match config.same_site.to_ascii_lowercase().as_str() {
        "none" => attributes.push_str("; SameSite=None"),
        "lax" => attributes.push_str("; SameSite=Lax"),
        "strict" => attributes.push_str("; SameSite=Strict"),
        _ => {}
    }
    attributes
}

/// Cookie value → server index (current and legacy values), and server index → the value to write.
fn server_values<'a>(urls: impl IntoIterator<Item = &'a str>) -> (HashMap<String, usize>, Vec<String>) {
    let mut servers = HashMap::new();
    let mut values = Vec::new();
    for (index, url) in urls.into_iter().enumerate() {
        let value = sha256_prefix(url);
        let fnv = fnv64(url);
        for legacy in [url.to_owned(), fnv64(&fnv), fnv] {
            servers.entry(legacy).or_insert(index);
        }
        servers.insert(value.clone(), index);
        values.push(value);
    }
    (servers, values)
}

/// Traefik's generated cookie name: `_` and the first five hex digits of SHA-1 of the service name.
fn generated_name(service: &str) -> String {
    let digest = sha1::Sha1::digest(format!("_TRAEFIK_BACKEND_{service}").as_bytes());
    let mut name = String::from("_");
    for byte in digest.iter().take(3) {
        let _ = write!(name, "{byte:02x}");
    }
    name.truncate(6);
    name
}

/// Replaces characters a cookie name may not hold with `_`, as Traefik does.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "!#$%&'*+-.^`|~".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn sha256_prefix(url: &str) -> String {
    let digest = sha2::Sha256::digest(url.as_bytes());
    let mut hex = String::with_capacity(16);
    for byte in digest.iter().take(8) {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Go's 64-bit FNV-1 (not 1a) in hex, the legacy cookie value.
fn fnv64(input: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in input.as_bytes() {
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        hash ^= u64::from(b);
    }
    format!("{hash:x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie(change: impl FnOnce(&mut Cookie)) -> Cookie {
        let mut cookie = Cookie::default();
        change(&mut cookie);
        cookie
    }

    #[test]
    fn values_are_traefiks_hashes_and_never_the_address() {
        let sticky = Sticky::new(
            &cookie(|c| c.name = "lb".into()),
            "app@file",
            ["http://10.0.0.1:80", "http://10.0.0.2:80"],
        );
        let mut headers = HeaderMap::new();
        sticky.write(&mut headers, 1);
        let set = headers[SET_COOKIE].to_str().unwrap().to_owned();
        assert_eq!(set, format!("lb={}; Path=/", sha256_prefix("http://10.0.0.2:80")));
        assert!(!set.contains("10.0.0.2"));
        assert_eq!(sha256_prefix("http://10.0.0.2:80").len(), 16);

        let mut request = HeaderMap::new();
        request.insert(
            COOKIE,
            HeaderValue::from_str(&format!("a=b; {}", &set[..set.find(';').unwrap()])).unwrap(),
        );
        assert_eq!(sticky.server(&request), Some((1, false)));
        request.insert(COOKIE, HeaderValue::from_static("lb=http://10.0.0.1:80"));
        assert_eq!(
            sticky.server(&request),
            Some((0, true)),
            "the legacy form is read and rewritten"
        );
        request.insert(COOKIE, HeaderValue::from_static("lb=unknown"));
        assert_eq!(sticky.server(&request), None);
    }

    #[test]
    fn attributes_follow_gos_order() {
        let config = cookie(|c| {
            c.name = "s id".into();
            c.secure = true;
            c.http_only = true;
            c.same_site = "Lax".into();
            c.max_age = 60;
            c.domain = "example.com".into();
        });
        let sticky = Sticky::new(&config, "x", ["http://a"]);
        let mut headers = HeaderMap::new();
        sticky.write(&mut headers, 0);
        let expected = format!(
            "s_id={}; Path=/; Domain=example.com; Max-Age=60; HttpOnly; Secure; SameSite=Lax",
            sha256_prefix("http://a")
        );
        assert_eq!(headers[SET_COOKIE], expected.as_str());
    }

    #[test]
    fn generated_names_are_six_characters() {
        assert_eq!(
            generated_name("/my/BACKEND-v1.0~rc1"),
            "_5f7bc",
            "Traefik's own test vector"
        );
        assert_eq!(sanitize("/my/BACKEND-v1.0~rc1"), "_my_BACKEND-v1.0~rc1");
    }
}
