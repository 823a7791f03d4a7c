//! Reading the parameters of an `Authorization: Digest` header, as go-http-auth (Traefik's library) does.

use std::collections::HashMap;

/// The parameters of `Digest k=v, k="v", ...`, or `None` when the header is not a Digest one (the scheme
/// is matched case-sensitively, as Traefik does).
pub(super) fn digest_params(authorization: &str) -> Option<HashMap<String, String>> {
    let (scheme, rest) = authorization.split_once(' ')?;
    (scheme == "Digest").then(|| pairs(rest))
}

/// `k=v` items of a comma-separated list; quoted values are unquoted, an item without `=` is a key with an
/// empty value, and a later key replaces an earlier one.
fn pairs(value: &str) -> HashMap<String, String> {
    list(value.trim())
        .into_iter()
        .map(|item| match item.split_once('=') {
            None => (item, String::new()),
            Some((key, value)) => {
                let unquoted = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                (key.to_owned(), unquoted.to_owned())
            }
        })
        .collect()
}

/// Splits a comma-separated list (RFC 2068 §2) on the commas outside quoted strings, trimming items;
/// a backslash inside quotes escapes the next character and is dropped.
fn list(value: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in value.chars() {
        match (escaped, quoted, c) {
            (true, _, _) => {
                current.push(c);
                escaped = false;
            }
            (false, true, '\\') => escaped = true,
            (false, false, ',') => items.push(std::mem::take(&mut current).trim().to_owned()),
            (false, _, '"') => {
                quoted = !quoted;
                current.push(c);
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        items.push(current.trim().to_owned());
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quoted_and_bare_values_with_embedded_commas() {
        let header = r#"Digest username="test", realm="", nonce="FRPnGdb8lvM1UHhi", uri="/css?family=Source+Sans+Pro:400,700|Code", algorithm=MD5, response="fdcd", qop=auth, nc=00000001, cnonce="e76b""#;
        let params = digest_params(header).unwrap();
        assert_eq!(params["uri"], "/css?family=Source+Sans+Pro:400,700|Code");
        assert_eq!(params["username"], "test");
        assert_eq!(params["realm"], "");
        assert_eq!(params["qop"], "auth");
        assert_eq!(params["nc"], "00000001");
        assert_eq!(params["algorithm"], "MD5");
    }

    #[test]
    fn odd_input_does_not_panic() {
        assert!(digest_params("Digest").is_none());
        assert!(
            digest_params("digest username=\"a\"").is_none(),
            "the scheme is case-sensitive"
        );
        assert!(digest_params("Basic abc").is_none());
        let params = digest_params("Digest a=, d, ,").unwrap();
        assert_eq!((params["a"].as_str(), params["d"].as_str()), ("", ""));
        assert_eq!(
            digest_params("Digest b=\"").unwrap()["b"],
            "\"",
            "a lone quote stays as is"
        );
        assert_eq!(digest_params(r#"Digest c="x\"y""#).unwrap()["c"], "x\"y");
        let params = digest_params(r#"Digest e="unterminated, f=1"#).unwrap();
        assert_eq!(params["e"], "\"unterminated, f=1");
        assert!(!params.contains_key("f"), "inside an unterminated quote");
    }
}
