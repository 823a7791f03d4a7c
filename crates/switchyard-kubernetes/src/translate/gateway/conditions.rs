//! Status conditions as the Gateway API writes them, keeping a condition's `lastTransitionTime`
//! while its status stays the same, so that an unchanged state produces an identical status (and no
//! write).

use serde_json::{Value, json};

/// One condition to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Condition {
    pub(crate) type_: &'static str,
    pub(crate) status: bool,
    pub(crate) reason: String,
    pub(crate) message: String,
}

impl Condition {
    /// A condition that holds, its reason named after its type.
    pub(crate) fn holds(type_: &'static str) -> Self {
        Self {
            type_,
            status: true,
            reason: type_.to_owned(),
            message: String::new(),
        }
    }

    /// A condition with this status, reason and message.
    pub(crate) fn new(type_: &'static str, status: bool, reason: &str, message: impl Into<String>) -> Self {
        Self {
            type_,
            status,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

/// The conditions as JSON, at `generation`, each with the transition time `previous` (the current
/// conditions of the same element) has for it when its status did not change, else now.
pub(crate) fn render(conditions: &[Condition], generation: i64, previous: &Value) -> Value {
    let now = now();
    let rendered: Vec<Value> = conditions
        .iter()
        .map(|c| {
            let status = if c.status { "True" } else { "False" };
            let earlier = previous
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["type"] == c.type_ && p["status"] == status)
                .and_then(|p| p.get("lastTransitionTime").cloned());
            json!({
                "type": c.type_,
                "status": status,
                "reason": c.reason,
                "message": c.message,
                "observedGeneration": generation,
                "lastTransitionTime": earlier.unwrap_or_else(|| now.clone()),
            })
        })
        .collect();
    Value::Array(rendered)
}

fn now() -> Value {
    let time = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now());
    serde_json::to_value(time).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_times_stay_while_the_status_does() {
        let previous = json!([
            {"type": "Accepted", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
            {"type": "Programmed", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
        ]);
        let conditions = [
            Condition::holds("Accepted"),
            Condition::new("Programmed", false, "Invalid", "no listener"),
        ];
        let rendered = render(&conditions, 3, &previous);
        assert_eq!(rendered[0]["lastTransitionTime"], "2026-01-01T00:00:00Z");
        assert_ne!(rendered[1]["lastTransitionTime"], "2026-01-01T00:00:00Z");
        assert_eq!(rendered[1]["observedGeneration"], 3);
        assert_eq!(rendered[1]["reason"], "Invalid");
    }
}
