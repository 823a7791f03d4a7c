//! `digestAuth`: HTTP Digest authentication (RFC 2617, MD5, `qop=auth`) against htdigest entries, as
//! go-http-auth does it for Traefik.
//!
//! A request without valid credentials is answered `401` with a challenge carrying a new nonce, the
//! middleware's opaque value, `algorithm="MD5"` and `qop="auth"`; `stale="true"` is added when the
//! credentials were right but their nonce count went backwards (pipelined requests out of order), so
//! that the client retries without asking its user again. Only entries of the configured realm count.
//!
//! Where this differs from Traefik, it is on the safe side:
//! - go-http-auth computes the expected response of an *unknown* user from an empty HA1 and does not
//!   refuse it, so anyone can compute a response it accepts for a name that is not in the list; here an
//!   unknown user is always refused (after the same amount of work, against a random HA1).
//! - go-http-auth also accepts a digest whose `uri` is only a path prefix of the request's; here the
//!   `uri` must be the request target, or its path when the digest `uri` has no query (as some clients
//!   send it).
//! - Nonce counts must start at 1 and grow (go-http-auth lets a count of zero be replayed).
//! - An HA1 that is not 32 lowercase hexadecimal digits, which can never match, and a list without any
//!   user are refused when the middleware is built (Traefik builds a middleware that refuses them, or
//!   everyone).

mod nonces;
mod params;

use std::collections::HashMap;

use http::header::AUTHORIZATION;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use md5::{Digest as _, Md5};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use switchyard_config::DigestAuth;

use self::nonces::{Count, Nonces, random_key};
use self::params::digest_params;
use super::{ClientUsername, header_field, quoted, realm_or_default, unauthorized, users};
use crate::stack::{OnRequest, on_request};
use crate::{MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody, error_response};

/// A built `digestAuth` middleware.
pub(crate) struct Digest {
    /// `user:realm` and HA1 (`MD5(user:realm:password)` in lowercase hex) of each entry.
    users: Vec<(String, String)>,
    /// The HA1 an unknown user's response is checked against.
    decoy: String,
    realm: String,
    opaque: String,
    nonces: Nonces,
    header_field: Option<HeaderName>,
    remove_header: bool,
}

/// What checking a request's credentials found.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Authenticated(String),
    Stale,
    Refused,
}

/// Builds `digestAuth`.
pub(crate) fn build(config: &DigestAuth) -> Result<MiddlewareLayer, MiddlewareError> {
    Ok(on_request(Digest::new(config)?))
}

impl Digest {
    fn new(config: &DigestAuth) -> Result<Self, MiddlewareError> {
        let header_field = header_field(&config.header_field)?;
        let users = load_users(config, header_field.is_some())?;
        let realm = realm_or_default(&config.realm).to_owned();
        if HeaderValue::from_str(&realm).is_err() {
            return Err(MiddlewareError::invalid(
                "realm",
                "the realm cannot contain control characters",
            ));
        }
        let random = |what: &str| {
            random_key().map_err(|e| MiddlewareError::invalid("", format!("no randomness for the {what}: {e}")))
        };
        Ok(Self {
            users,
            decoy: md5_hex(&random("decoy hash")?),
            realm,
            opaque: random("opaque value")?,
            nonces: Nonces::default(),
            header_field,
            remove_header: config.remove_header,
        })
    }

    /// The HA1 of `user` in the configured realm, found without revealing by timing which entry matched.
    fn ha1(&self, user: &str) -> Option<&str> {
        let key = format!("{user}:{}", self.realm);
        let mut found = Choice::from(0);
        let mut index = 0u64;
        for (i, (known, _)) in self.users.iter().enumerate() {
            let matches = known.as_bytes().ct_eq(key.as_bytes());
            index = u64::conditional_select(&index, &(i as u64), matches);
            found |= matches;
        }
        let index = usize::try_from(index).ok()?;
        bool::from(found).then(|| self.users.get(index).map(|(_, ha1)| ha1.as_str()))?
    }

    fn check(&self, req: &Request<RequestBody>) -> Outcome {
        let Some(auth) = authorization_params(req) else {
            return Outcome::Refused;
        };
        let param = |name: &str| auth.get(name).map_or("", String::as_str);
        if !self.scheme_matches(&auth) || !uri_matches(param("uri"), req) {
            return Outcome::Refused;
        }
        let user = param("username");
        if !self.response_matches(user, req, &auth) {
            return Outcome::Refused;
        }

        let Some(count) = parse_count(param("nc")) else {
            return Outcome::Refused;
        };
        match self.nonces.check(param("nonce"), count) {
            Count::Fresh => Outcome::Authenticated(user.to_owned()),
            Count::Stale => Outcome::Stale,
            Count::Unknown | Count::Replayed => Outcome::Refused,
        }
    }

    /// Whether the digest is of this middleware (its opaque value) and of the only kind it speaks (MD5,
    /// `qop=auth`).
    fn scheme_matches(&self, auth: &HashMap<String, String>) -> bool {
        let param = |name: &str| auth.get(name).map_or("", String::as_str);
        let algorithm = auth.get("algorithm").map_or("MD5", String::as_str);
        param("opaque") == self.opaque && algorithm == "MD5" && param("qop") == "auth"
    }

    /// Whether the digest's `response` is the one `user`'s entry gives; an unknown user is refused after
    /// the same work, done with the decoy.
    fn response_matches(&self, user: &str, req: &Request<RequestBody>, auth: &HashMap<String, String>) -> bool {
        let ha1 = self.ha1(user);
        let expected = response(ha1.unwrap_or(&self.decoy), req.method().as_str(), auth);
        let given = auth.get("response").map_or("", String::as_str);
        let matches: bool = expected.as_bytes().ct_eq(given.as_bytes()).into();
        matches && ha1.is_some()
    }

    /// The `401` with a new nonce; `stale` tells the client its credentials were right.
    fn challenge(&self, stale: bool) -> Response<ResponseBody> {
        let Ok(nonce) = self.nonces.issue() else {
            return error_response(StatusCode::INTERNAL_SERVER_ERROR);
        };
        let stale = if stale { r#"stale="true", "# } else { "" };
        let value = format!(
            r#"Digest realm="{}", nonce="{nonce}", opaque="{}", {stale}algorithm="MD5", qop="auth""#,
            quoted(&self.realm),
            self.opaque,
        );
        match HeaderValue::from_str(&value) {
            Ok(value) => unauthorized(&value),
            Err(_) => error_response(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

/// The entries of `users` and `usersFile` as `user:realm` and HA1, the last of a duplicate winning; at
/// least one.
fn load_users(config: &DigestAuth, has_header_field: bool) -> Result<Vec<(String, String)>, MiddlewareError> {
    let mut users: Vec<(String, String)> = Vec::new();
    for entry in users::load(&config.users, &config.users_file)? {
        let (key, ha1) = user_entry(&entry, has_header_field)?;
        match users.iter_mut().find(|(known, _)| *known == key) {
            Some(slot) => slot.1 = ha1,
            None => users.push((key, ha1)),
        }
    }
    if users.is_empty() {
        return Err(if config.users_file.is_empty() {
            MiddlewareError::invalid("users", "no users: set `users` or `usersFile`")
        } else {
            MiddlewareError::invalid("usersFile", format!("no users found in `{}`", config.users_file))
        });
    }
    Ok(users)
}

/// One `user:realm:hash` entry as `user:realm` and its HA1, checked; the name must fit in a header when
/// `headerField` is set.
fn user_entry(entry: &users::Entry, has_header_field: bool) -> Result<(String, String), MiddlewareError> {
    let mut parts = entry.text.split(':');
    let (Some(name), Some(realm), Some(ha1), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(entry.error("is not `user:realm:hash` (as `htdigest` writes them)"));
    };
    if ha1.len() != 32 || !ha1.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(entry.error(format_args!(
            "user `{name}`: the hash is not an htdigest MD5 (32 lowercase hexadecimal digits)"
        )));
    }
    if has_header_field && HeaderValue::from_str(name).is_err() {
        return Err(entry.error(format_args!(
            "user `{name}` cannot be written in `headerField`: it has control characters"
        )));
    }
    Ok((format!("{name}:{realm}"), ha1.to_owned()))
}

/// The parameters of a `Digest` `Authorization` header.
fn authorization_params(req: &Request<RequestBody>) -> Option<HashMap<String, String>> {
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(digest_params)
}

impl OnRequest for Digest {
    fn on_request(&self, req: &mut Request<RequestBody>) -> Result<(), Response<ResponseBody>> {
        match self.check(req) {
            Outcome::Authenticated(user) => {
                if let Some(field) = &self.header_field {
                    if let Ok(value) = HeaderValue::from_str(&user) {
                        req.headers_mut().insert(field.clone(), value);
                    }
                }
                if self.remove_header {
                    req.headers_mut().remove(AUTHORIZATION);
                }
                if let Some(record) = crate::RequestRecord::of(req.extensions()) {
                    record.set_username(&user);
                }
                req.extensions_mut().insert(ClientUsername(user));
                Ok(())
            }
            Outcome::Stale => Err(self.challenge(true)),
            Outcome::Refused => Err(self.challenge(false)),
        }
    }
}

/// Whether the digest's `uri` names the request: its target as received, or its path when the digest
/// `uri` carries no query.
fn uri_matches(uri: &str, req: &Request<RequestBody>) -> bool {
    let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    uri == target
        || (!uri.contains('?') && uri == req.uri().path())
        || (req.uri().scheme().is_some() && req.uri() == uri)
}

/// A nonce count: eight hexadecimal digits (Go's `ParseUint(nc, 16, 64)`, so no sign).
fn parse_count(nc: &str) -> Option<u64> {
    if nc.starts_with('+') {
        return None;
    }
    u64::from_str_radix(nc, 16).ok()
}

/// The expected `response`: `KD(HA1, nonce:nc:cnonce:qop:HA2)` with `HA2 = MD5(method:uri)`.
fn response(ha1: &str, method: &str, auth: &HashMap<String, String>) -> String {
    let param = |name: &str| auth.get(name).map_or("", String::as_str);
    let ha2 = md5_hex(&format!("{method}:{}", param("uri")));
    md5_hex(&format!(
        "{ha1}:{}:{}:{}:{}:{ha2}",
        param("nonce"),
        param("nc"),
        param("cnonce"),
        param("qop")
    ))
}

/// MD5 in lowercase hexadecimal, digest authentication's `H`.
fn md5_hex(data: &str) -> String {
    use std::fmt::Write;
    Md5::digest(data.as_bytes())
        .iter()
        .fold(String::with_capacity(32), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    /// `htdigest` for user `test`, realm `traefik`, password `test`.
    const TEST: &str = "test:traefik:a2688e031edb4be6a3797f3882655c05";

    fn digest_auth(users: &[&str]) -> Digest {
        let config = DigestAuth {
            users: users.iter().map(|u| (*u).to_owned()).collect(),
            ..DigestAuth::default()
        };
        Digest::new(&config).unwrap()
    }

    /// The nonce of a challenge.
    fn nonce_of(response: &Response<ResponseBody>) -> String {
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        digest_params(challenge).unwrap()["nonce"].clone()
    }

    /// An `Authorization` header as a client computes it.
    fn authorization(auth: &Digest, user: &str, password: &str, uri: &str, nonce: &str, nc: u32) -> String {
        let ha1 = md5_hex(&format!("{user}:{}:{password}", auth.realm));
        let ha2 = md5_hex(&format!("GET:{uri}"));
        let nc = format!("{nc:08x}");
        let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:0a4f113b:auth:{ha2}"));
        format!(
            r#"Digest username="{user}", realm="{}", nonce="{nonce}", uri="{uri}", algorithm=MD5, response="{response}", opaque="{}", qop=auth, nc={nc}, cnonce="0a4f113b""#,
            auth.realm, auth.opaque
        )
    }

    fn run(
        auth: &Digest,
        uri: &str,
        header: Option<&str>,
    ) -> Result<Request<RequestBody>, Box<Response<ResponseBody>>> {
        let mut builder = Request::get(uri);
        if let Some(header) = header {
            builder = builder.header(AUTHORIZATION, header);
        }
        let mut req = builder.body(RequestBody::empty()).unwrap();
        auth.on_request(&mut req).map(|()| req).map_err(Box::new)
    }

    #[test]
    fn htdigest_ha1_is_md5_of_user_realm_password() {
        assert_eq!(md5_hex("test:traefik:test"), "a2688e031edb4be6a3797f3882655c05");
        // RFC 2617 §3.5's example.
        let auth: HashMap<String, String> = [
            ("nonce", "dcd98b7102dd2f0e8b11d0f600bfb0c093"),
            ("nc", "00000001"),
            ("cnonce", "0a4f113b"),
            ("qop", "auth"),
            ("uri", "/dir/index.html"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let ha1 = md5_hex("Mufasa:testrealm@host.com:Circle Of Life");
        assert_eq!(response(&ha1, "GET", &auth), "6629fae49393a05397450978507c4ef1");
    }

    #[tokio::test]
    async fn challenge_then_response() {
        let auth = digest_auth(&[TEST]);
        let challenge = run(&auth, "/a?b=c", None).unwrap_err();
        assert_eq!(challenge.status(), 401);
        let header = challenge.headers()["www-authenticate"].to_str().unwrap().to_owned();
        let nonce = nonce_of(&challenge);
        assert_eq!(
            header,
            format!(
                r#"Digest realm="traefik", nonce="{nonce}", opaque="{}", algorithm="MD5", qop="auth""#,
                auth.opaque
            )
        );
        assert_eq!(challenge.headers()["content-type"], "text/plain");
        let body = challenge.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "401 Unauthorized\n");

        let req = run(
            &auth,
            "/a?b=c",
            Some(&authorization(&auth, "test", "test", "/a?b=c", &nonce, 1)),
        )
        .unwrap();
        assert_eq!(req.extensions().get::<ClientUsername>().unwrap().0, "test");
        assert!(req.headers().contains_key(AUTHORIZATION));
        let next = authorization(&auth, "test", "test", "/a?b=c", &nonce, 2);
        let req = run(&auth, "/a?b=c", Some(&next)).expect("the nonce is reused with the next count");
        assert_eq!(req.extensions().get::<ClientUsername>().unwrap().0, "test");
    }

    #[test]
    fn refusals() {
        let auth = digest_auth(&[TEST]);
        let nonce = nonce_of(&run(&auth, "/", None).unwrap_err());
        let refused = |uri: &str, header: &str| {
            let response = run(&auth, uri, Some(header)).unwrap_err();
            assert_eq!(response.status(), 401);
            assert_ne!(nonce_of(&response), nonce, "a new nonce with each challenge");
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("stale")
        };
        assert!(!refused("/", &authorization(&auth, "test", "wrong", "/", &nonce, 1)));
        assert!(!refused("/", &authorization(&auth, "nobody", "test", "/", &nonce, 1)));
        assert!(!refused(
            "/",
            &authorization(&auth, "test", "test", "/", "not-issued", 1)
        ));
        assert!(!refused("/", &authorization(&auth, "test", "test", "/", &nonce, 0)));
        assert!(
            !refused("/admin", &authorization(&auth, "test", "test", "/", &nonce, 1)),
            "uri"
        );
        let good = authorization(&auth, "test", "test", "/", &nonce, 1);
        assert!(!refused("/", &good.replace("opaque=\"", "opaque=\"x")));
        assert!(!refused("/", &good.replace("qop=auth", "qop=auth-int")));
        assert!(!refused("/", &good.replace("algorithm=MD5", "algorithm=SHA-256")));

        assert!(run(&auth, "/", Some(&authorization(&auth, "test", "test", "/", &nonce, 5))).is_ok());
        assert!(
            !refused("/", &authorization(&auth, "test", "test", "/", &nonce, 5)),
            "a replay"
        );
        assert!(
            refused("/", &authorization(&auth, "test", "test", "/", &nonce, 4)),
            "out of order: stale"
        );
    }

    #[test]
    fn an_unknown_user_is_refused_even_with_the_empty_ha1_response() {
        let auth = digest_auth(&[TEST]);
        let nonce = nonce_of(&run(&auth, "/", None).unwrap_err());
        let ha2 = md5_hex("GET:/");
        let forged = md5_hex(&format!(":{nonce}:00000001:c:auth:{ha2}"));
        let header = format!(
            r#"Digest username="mallory", nonce="{nonce}", uri="/", response="{forged}", opaque="{}", qop=auth, nc=00000001, cnonce="c""#,
            auth.opaque
        );
        assert_eq!(run(&auth, "/", Some(&header)).unwrap_err().status(), 401);
    }

    #[test]
    fn uri_may_omit_the_query_but_not_name_another_path() {
        let auth = digest_auth(&[TEST]);
        let nonce = nonce_of(&run(&auth, "/", None).unwrap_err());
        assert!(
            run(
                &auth,
                "/a?q=1",
                Some(&authorization(&auth, "test", "test", "/a", &nonce, 1))
            )
            .is_ok()
        );
        assert!(
            run(
                &auth,
                "/a/b",
                Some(&authorization(&auth, "test", "test", "/a", &nonce, 2))
            )
            .is_err()
        );
    }

    #[test]
    fn only_the_configured_realm_counts_and_options_apply() {
        let other_realm = format!("test:other:{}", md5_hex("test:other:secret"));
        let config = DigestAuth {
            users: vec![TEST.into(), other_realm],
            realm: "other".into(),
            header_field: "X-User".into(),
            remove_header: true,
            ..DigestAuth::default()
        };
        let auth = Digest::new(&config).unwrap();
        let nonce = nonce_of(&run(&auth, "/", None).unwrap_err());
        let realm_traefik_password = authorization(&auth, "test", "test", "/", &nonce, 1);
        let refused = run(&auth, "/", Some(&realm_traefik_password)).unwrap_err();
        assert_eq!(refused.status(), 401, "the password of the other realm");
        let req = run(
            &auth,
            "/",
            Some(&authorization(&auth, "test", "secret", "/", &nonce, 2)),
        )
        .unwrap();
        assert_eq!(req.headers()["x-user"], "test");
        assert!(!req.headers().contains_key(AUTHORIZATION));

        let elsewhere = DigestAuth {
            users: vec![TEST.into()],
            realm: "other".into(),
            ..DigestAuth::default()
        };
        let auth = Digest::new(&elsewhere).unwrap();
        let nonce = nonce_of(&run(&auth, "/", None).unwrap_err());
        assert!(auth.ha1("test").is_none(), "an entry of another realm");
        let refused = run(&auth, "/", Some(&authorization(&auth, "test", "test", "/", &nonce, 1))).unwrap_err();
        assert_eq!(refused.status(), 401);
    }

    #[test]
    fn bad_options_name_their_field() {
        let error = |users: &[&str]| {
            let config = DigestAuth {
                users: users.iter().map(|u| (*u).to_owned()).collect(),
                ..DigestAuth::default()
            };
            Digest::new(&config).err().unwrap()
        };
        assert_eq!(error(&[]).field(), "users");
        assert_eq!(error(&[TEST, "test:traefik"]).field(), "users[1]");
        assert_eq!(
            error(&["test:traefik:A2688E031EDB4BE6A3797F3882655C05"]).field(),
            "users[0]"
        );
        assert_eq!(error(&["test:traefik:plain"]).field(), "users[0]");
    }
}
