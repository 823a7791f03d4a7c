//! Reading a spec (or part of one) into its typed form: errors carry the key path, and keys the types
//! do not know are collected so that they are reported rather than silently dropped.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::TranslateError;

/// A value read, with the paths of the keys it ignored.
pub(crate) struct Read<T> {
    pub(crate) value: T,
    pub(crate) unknown: Vec<String>,
}

/// Reads `value`, found at `at` (`spec`, `spec.routes[0]`), as a `T`.
pub(crate) fn read<T: DeserializeOwned>(value: &Value, at: &str) -> Result<Read<T>, TranslateError> {
    let mut unknown = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let tracked = serde_path_to_error::Deserializer::new(value, &mut track);
    let result = serde_ignored::deserialize(tracked, |path| unknown.push(join(at, &ignored(&path))));
    match result {
        Ok(value) => Ok(Read { value, unknown }),
        Err(error) => Err(TranslateError::Spec {
            path: join(at, &track.path().to_string()),
            reason: error.to_string(),
        }),
    }
}

/// A path serde_ignored reports, written as serde_path_to_error writes paths (`routes[0].colour`).
fn ignored(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", ignored(parent)),
        Path::Map { parent, key } => format!("{}.{key}", ignored(parent)),
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => ignored(parent),
    }
}

/// `at` followed by a relative path as serde prints it (`routes[0].match`, `.`, `?`).
pub(crate) fn join(at: &str, path: &str) -> String {
    let path = path.trim_start_matches('.');
    if path.is_empty() || path == "?" {
        at.to_owned()
    } else if path.starts_with('[') {
        format!("{at}{path}")
    } else {
        format!("{at}.{path}")
    }
}

/// `value` without the keys named: the parts of a spec that are read separately.
pub(crate) fn without(value: &Value, keys: &[&str]) -> Value {
    let mut value = value.clone();
    if let Value::Object(map) = &mut value {
        for key in keys {
            map.remove(*key);
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Route {
        #[serde(rename = "match")]
        rule: String,
        #[serde(default)]
        #[allow(dead_code, reason = "read to check the error path")]
        priority: i64,
    }

    #[derive(Debug, Deserialize)]
    struct Spec {
        routes: Vec<Route>,
    }

    #[test]
    fn errors_and_unknown_keys_carry_their_paths() {
        let good = serde_json::json!({"routes": [{"match": "Host(`a`)", "colour": "blue"}], "extra": 1});
        let parsed: Read<Spec> = read(&good, "spec").unwrap();
        assert_eq!(parsed.value.routes[0].rule, "Host(`a`)");
        assert_eq!(parsed.unknown, ["spec.extra", "spec.routes[0].colour"]);
        let bad = serde_json::json!({"routes": [{"match": "x"}, {"match": "y", "priority": "high"}]});
        let error = read::<Spec>(&bad, "spec").err().unwrap();
        assert!(
            error.to_string().starts_with("`spec.routes[1].priority`: invalid type"),
            "{error}"
        );
    }
}
