//! The shipped CRDs (`deploy/crds.yaml`) as an API server with them installed would apply them: each
//! `traefik.io` object a test applies is checked against its kind's `openAPIV3Schema` (types, enums,
//! required keys, integer-or-string, preserved unknown fields; other unknown keys are refused, as
//! `kubectl --validate=strict` does).

use serde_json::Value;

/// The shipped CRD manifests.
pub const CRDS: &str = include_str!("../../../../deploy/crds.yaml");
/// The shipped RBAC manifests.
pub const RBAC: &str = include_str!("../../../../deploy/rbac.yaml");

/// The YAML documents of a manifest file.
pub fn documents(text: &str) -> Vec<Value> {
    text.split("\n---")
        .map(str::trim)
        .filter(|doc| {
            doc.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|doc| serde_saphyr::from_str::<Value>(doc).expect("a manifest document is valid YAML"))
        .collect()
}

/// Checks an object against the shipped CRD of its kind.
pub fn validate(object: &Value) -> Result<(), String> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let crds = documents(CRDS);
    let crd = crds
        .iter()
        .find(|crd| crd["spec"]["names"]["kind"] == kind)
        .ok_or_else(|| format!("no CRD for kind {kind}"))?;
    let version = object["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let schema = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == version && v["served"] == true)
        .map(|v| &v["schema"]["openAPIV3Schema"])
        .ok_or_else(|| format!("the CRD of {kind} serves no version {version}"))?;
    check(schema, object, "")
}

fn check(schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    if schema["x-kubernetes-int-or-string"] == true {
        return if value.is_i64() || value.is_u64() || value.is_string() {
            Ok(())
        } else {
            Err(format!("{path}: expected an integer or a string, got {value}"))
        };
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err(format!("{path}: {value} is not one of {allowed:?}"));
    }
    let preserve = schema["x-kubernetes-preserve-unknown-fields"] == true;
    match schema["type"].as_str() {
        Some("object") => check_object(schema, value, path, preserve),
        Some("array") => {
            let items = value
                .as_array()
                .ok_or_else(|| format!("{path}: expected an array, got {value}"))?;
            items
                .iter()
                .enumerate()
                .try_for_each(|(i, item)| check(&schema["items"], item, &format!("{path}[{i}]")))
        }
        Some("string") if !value.is_string() => Err(format!("{path}: expected a string, got {value}")),
        Some("integer") if !(value.is_i64() || value.is_u64()) => {
            Err(format!("{path}: expected an integer, got {value}"))
        }
        Some("number") if !value.is_number() => Err(format!("{path}: expected a number, got {value}")),
        Some("boolean") if !value.is_boolean() => Err(format!("{path}: expected a boolean, got {value}")),
        None if !preserve => Err(format!("{path}: the schema gives no type")),
        _ => Ok(()),
    }
}

fn check_object(schema: &Value, value: &Value, path: &str, preserve: bool) -> Result<(), String> {
    let map = value
        .as_object()
        .ok_or_else(|| format!("{path}: expected an object, got {value}"))?;
    if schema.get("properties").is_none() && schema.get("additionalProperties").is_none() {
        // An object the CRD leaves to the API server (`metadata`).
        return Ok(());
    }
    for required in schema["required"].as_array().into_iter().flatten() {
        let key = required.as_str().unwrap_or_default();
        if !map.contains_key(key) {
            return Err(format!("{path}: `{key}` is required"));
        }
    }
    for (key, item) in map {
        let at = format!("{path}.{key}");
        if let Some(property) = schema["properties"].get(key) {
            check(property, item, &at)?;
        } else if schema["additionalProperties"].is_object() {
            check(&schema["additionalProperties"], item, &at)?;
        } else if !preserve {
            return Err(format!("{at}: unknown field"));
        }
    }
    Ok(())
}
