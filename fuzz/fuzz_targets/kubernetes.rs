//! Arbitrary cluster objects (a JSON array of Ingresses, IngressClasses, Services, EndpointSlices,
//! Secrets, Nodes and Traefik's custom resources) through both Kubernetes translations: never a
//! panic, the same objects always give the same configuration, and every rule the Ingress translation
//! writes from hosts and paths parses (a quoting mistake there is a rule injection).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchyard_kubernetes::fuzzing::{translate_crds, translate_ingresses};
use switchyard_rules::Rule;

fuzz_target!(|data: &[u8]| {
    let Ok(objects) = serde_json::from_slice::<Vec<Value>>(data) else {
        return;
    };
    let ingresses = translate_ingresses(&objects);
    assert_eq!(
        ingresses,
        translate_ingresses(&objects),
        "the Ingress translation is deterministic"
    );
    for (name, router) in &ingresses.config.config.http.routers {
        if let Err(err) = Rule::parse(&router.rule) {
            panic!(
                "router {name}: the translation wrote a rule that does not parse: {:?}: {err}",
                router.rule
            );
        }
    }
    let crds = translate_crds(&objects);
    assert_eq!(crds, translate_crds(&objects), "the CRD translation is deterministic");
});
