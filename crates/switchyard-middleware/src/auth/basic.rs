//! `basicAuth`: HTTP Basic authentication (RFC 7617) against htpasswd entries.
//!
//! A request whose `Authorization: Basic` credentials match an entry goes on, with the user name in
//! `headerField` when set and without `Authorization` when `removeHeader` is set; any other request is
//! answered `401` with `WWW-Authenticate: Basic realm="<realm>"`, as Traefik does.
//!
//! The answer does not tell a wrong password from an unknown user, by content or by time: the user is
//! looked up by comparing the name with every entry in constant time, and an unknown user's password is
//! still checked, against the costliest hash of the list (Traefik picks an arbitrary one). When the
//! list mixes hash formats a known user with a cheap hash still answers faster than an unknown one;
//! keep one format per list. bcrypt checks run on tokio's blocking threads, so that they do not hold up
//! the connections served by the same worker. Unlike Traefik, concurrent checks of the same credentials
//! are not merged into one.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;
use http::{HeaderName, HeaderValue, Request};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use switchyard_config::BasicAuth;

use super::gate::{BoxFuture, Gate, Verdict, gate};
use super::htpasswd::Hash;
use super::{ClientUsername, challenge_value, header_field, unauthorized, users};
use crate::{MiddlewareError, MiddlewareLayer, RequestBody};

/// A built `basicAuth` middleware.
pub(crate) struct Basic {
    users: Vec<(String, Hash)>,
    /// The hash checked for an unknown user, so that it costs as much as a known one.
    decoy: Hash,
    challenge: HeaderValue,
    header_field: Option<HeaderName>,
    remove_header: bool,
}

/// One `user:hash` entry, checked; the name must fit in a header when `headerField` is set.
fn user_entry(entry: &users::Entry, has_header_field: bool) -> Result<(&str, Hash), MiddlewareError> {
    let mut parts = entry.text.split(':');
    let (Some(name), Some(hash), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(entry.error("is not `user:hash` (a user name, one `:`, an htpasswd password hash)"));
    };
    let hash = Hash::parse(hash).map_err(|e| entry.error(format_args!("user `{name}`: {e}")))?;
    if has_header_field && HeaderValue::from_str(name).is_err() {
        return Err(entry.error(format_args!(
            "user `{name}` cannot be written in `headerField`: it has control characters"
        )));
    }
    Ok((name, hash))
}

/// Builds `basicAuth`.
pub(crate) fn build(config: &BasicAuth) -> Result<MiddlewareLayer, MiddlewareError> {
    Ok(gate(Basic::new(config)?))
}

impl Basic {
    fn new(config: &BasicAuth) -> Result<Self, MiddlewareError> {
        let header_field = header_field(&config.header_field)?;
        let mut users: Vec<(String, Hash)> = Vec::new();
        for entry in users::load(&config.users, &config.users_file)? {
            let (name, hash) = user_entry(&entry, header_field.is_some())?;
            // Later entries win, as in Traefik's map.
            match users.iter_mut().find(|(known, _)| known == name) {
                Some(slot) => slot.1 = hash,
                None => users.push((name.to_owned(), hash)),
            }
        }
        let decoy = users
            .iter()
            .map(|(_, hash)| hash)
            .max_by_key(|hash| hash.work())
            .cloned()
            .ok_or_else(|| no_users(config))?;
        Ok(Self {
            users,
            decoy,
            challenge: challenge_value("Basic", &config.realm)?,
            header_field,
            remove_header: config.remove_header,
        })
    }

    /// The entry of `user`, found without revealing by timing which entry (if any) matched.
    fn lookup(&self, user: &[u8]) -> Option<&Hash> {
        let mut found = Choice::from(0);
        let mut index = 0u64;
        for (i, (name, _)) in self.users.iter().enumerate() {
            let matches = name.as_bytes().ct_eq(user);
            index = u64::conditional_select(&index, &(i as u64), matches);
            found |= matches;
        }
        let index = usize::try_from(index).ok()?;
        bool::from(found).then(|| self.users.get(index).map(|(_, hash)| hash))?
    }

    /// Lets an authenticated request through as Traefik does.
    fn admit(&self, req: &mut Request<RequestBody>, user: String) {
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
    }
}

fn no_users(config: &BasicAuth) -> MiddlewareError {
    if config.users_file.is_empty() {
        MiddlewareError::invalid("users", "no users: set `users` or `usersFile`")
    } else {
        MiddlewareError::invalid("usersFile", format!("no users found in `{}`", config.users_file))
    }
}

/// The user and password of `Authorization: Basic`, as Go's `Request.BasicAuth` reads them.
fn credentials(req: &Request<RequestBody>) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = req.headers().get(AUTHORIZATION)?.as_bytes();
    let (scheme, encoded) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"Basic ") {
        return None;
    }
    let mut decoded = STANDARD.decode(encoded).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let password = decoded.split_off(colon + 1);
    decoded.truncate(colon);
    Some((decoded, password))
}

impl Gate for Basic {
    fn decide(self: Arc<Self>, mut req: Request<RequestBody>) -> BoxFuture<Verdict> {
        Box::pin(async move {
            let Some((user, password)) = credentials(&req) else {
                return Verdict::Answer(unauthorized(&self.challenge));
            };
            let entry = self.lookup(&user);
            let hash = entry.unwrap_or(&self.decoy).clone();
            let matched = verify(hash, password).await;
            match String::from_utf8(user) {
                Ok(user) if matched && entry.is_some() => {
                    self.admit(&mut req, user);
                    Verdict::Pass(req, None)
                }
                _ => Verdict::Answer(unauthorized(&self.challenge)),
            }
        })
    }
}

/// Checks a password, on a blocking thread when the hash is slow and a tokio runtime is at hand.
async fn verify(hash: Hash, password: Vec<u8>) -> bool {
    if hash.is_slow() {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            return runtime
                .spawn_blocking(move || hash.verify(&password))
                .await
                .unwrap_or(false);
        }
    }
    hash.verify(&password)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use http::StatusCode;
    use http_body_util::BodyExt;

    use super::*;

    const TEST: &str = "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/";
    const TEST2: &str = "test2:$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0";
    const BCRYPT: &str = "bob:$2b$05$abcdefghijklmnopqrstuuMceFj4VbmHOj8C7PetMxzZkwre/z.Ri";

    fn config(users: &[&str]) -> BasicAuth {
        BasicAuth {
            users: users.iter().map(|u| (*u).to_owned()).collect(),
            ..BasicAuth::default()
        }
    }

    fn request(authorization: Option<&str>) -> Request<RequestBody> {
        let mut builder = Request::builder().uri("/");
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value);
        }
        builder.body(RequestBody::empty()).unwrap()
    }

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
    }

    async fn decide(auth: &Arc<Basic>, authorization: Option<&str>) -> Result<Request<RequestBody>, StatusCode> {
        match Arc::clone(auth).decide(request(authorization)).await {
            Verdict::Pass(req, _) => Ok(req),
            Verdict::Answer(response) => Err(response.status()),
        }
    }

    #[tokio::test]
    async fn accepts_known_users_with_the_right_password_only() {
        let auth = Arc::new(Basic::new(&config(&[TEST, TEST2, BCRYPT])).unwrap());
        let req = decide(&auth, Some(&basic("test", "test"))).await.unwrap();
        assert_eq!(req.extensions().get::<ClientUsername>().unwrap().0, "test");
        assert_eq!(req.headers()[AUTHORIZATION], basic("test", "test"), "kept by default");
        let user = async |authorization: String| {
            let req = decide(&auth, Some(&authorization)).await.unwrap();
            req.extensions().get::<ClientUsername>().unwrap().0.clone()
        };
        assert_eq!(user(basic("test2", "test2")).await, "test2");
        assert_eq!(user(basic("bob", "test")).await, "bob");
        assert_eq!(user(basic("bob", "test").replace("Basic", "bAsIc")).await, "bob");

        for refused in [
            None,
            Some(basic("test", "test2")),
            Some(basic("nobody", "test")),
            Some(basic("tes", "t")),
            Some(basic("", "")),
            Some("Basic".to_owned()),
            Some("Basic !!!".to_owned()),
            Some(format!("Basic {}", STANDARD.encode("test"))),
            Some(basic("test", "test").replace("Basic ", "Bearer ")),
        ] {
            assert_eq!(decide(&auth, refused.as_deref()).await.unwrap_err(), 401, "{refused:?}");
        }
    }

    #[tokio::test]
    async fn the_challenge_is_traefiks() {
        let auth = Arc::new(Basic::new(&config(&[TEST])).unwrap());
        let Verdict::Answer(response) = Arc::clone(&auth).decide(request(None)).await else {
            panic!("let through")
        };
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], r#"Basic realm="traefik""#);
        assert_eq!(response.headers()["content-type"], "text/plain");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "401 Unauthorized\n");

        let mut custom = config(&[TEST]);
        custom.realm = r#"my "realm""#.into();
        let auth = Basic::new(&custom).unwrap();
        assert_eq!(auth.challenge, r#"Basic realm="my \"realm\"""#);
    }

    #[tokio::test]
    async fn header_field_and_remove_header() {
        let mut with_options = config(&[TEST]);
        with_options.header_field = "X-WebAuth-User".into();
        with_options.remove_header = true;
        let auth = Arc::new(Basic::new(&with_options).unwrap());
        let mut forged = request(Some(&basic("test", "test")));
        forged
            .headers_mut()
            .append("x-webauth-user", HeaderValue::from_static("admin"));
        let Verdict::Pass(req, _) = Arc::clone(&auth).decide(forged).await else {
            panic!("refused")
        };
        let values: Vec<_> = req.headers().get_all("x-webauth-user").iter().collect();
        assert_eq!(values, ["test"]);
        assert!(!req.headers().contains_key(AUTHORIZATION));
    }

    #[test]
    fn later_entries_win_and_the_decoy_is_the_costliest_hash() {
        let auth = Basic::new(&config(&[TEST, BCRYPT, "test:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M="])).unwrap();
        assert_eq!(auth.users.len(), 2);
        assert!(auth.lookup(b"test").unwrap().verify(b"test"));
        assert!(matches!(auth.lookup(b"test"), Some(Hash::Sha1(_))));
        assert!(auth.lookup(b"Test").is_none());
        assert!(matches!(auth.decoy, Hash::Bcrypt { .. }));
    }

    #[test]
    fn the_file_is_merged_under_the_inline_users() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "# users\n{TEST2}\ntest:{{SHA}}qUqP5cyxm6YcTAhz05Hph5gvu9M=").unwrap();
        let mut both = config(&[TEST]);
        both.users_file = file.path().to_str().unwrap().to_owned();
        let auth = Basic::new(&both).unwrap();
        assert_eq!(auth.users.len(), 2);
        assert!(
            matches!(auth.lookup(b"test"), Some(Hash::Md5Crypt { .. })),
            "inline wins"
        );
        assert!(auth.lookup(b"test2").is_some());
    }

    #[test]
    fn bad_options_name_their_field() {
        let error = |config: &BasicAuth| Basic::new(config).err().unwrap();
        assert_eq!(error(&config(&[])).field(), "users");
        assert_eq!(error(&config(&[TEST, "test"])).field(), "users[1]");
        assert_eq!(error(&config(&["a:b:c"])).field(), "users[0]");
        let plain = error(&config(&[TEST, "admin:secret"]));
        assert_eq!(plain.field(), "users[1]");
        assert!(plain.to_string().contains("user `admin`"), "{plain}");
        assert!(
            !plain.to_string().contains("secret"),
            "the error does not echo the hash: {plain}"
        );

        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "{TEST}\n\nbroken-line").unwrap();
        let mut from_file = config(&[]);
        from_file.users_file = file.path().to_str().unwrap().to_owned();
        let bad_line = error(&from_file);
        assert_eq!(
            (bad_line.field(), bad_line.to_string().starts_with("line 3:")),
            ("usersFile", true)
        );

        let empty = tempfile::NamedTempFile::new().unwrap();
        from_file.users_file = empty.path().to_str().unwrap().to_owned();
        assert_eq!(error(&from_file).field(), "usersFile");

        let mut bad_header = config(&[TEST]);
        bad_header.header_field = "bad header".into();
        assert_eq!(error(&bad_header).field(), "headerField");
        let mut bad_realm = config(&[TEST]);
        bad_realm.realm = "line\nbreak".into();
        assert_eq!(error(&bad_realm).field(), "realm");
    }
}
