//! Compiling the `udp` section: services, and per UDP entrypoint the one router's service. When
//! several routers claim an entrypoint, the one whose name sorts last serves it, as in Traefik; the
//! others are told so.

use std::collections::HashMap;

use switchyard_config::{Problem, Published};

use super::findings::Findings;
use crate::snapshot::EntryPointInfo;
use crate::udp::UdpService;

/// The service of each entrypoint's UDP router, by entrypoint index (an empty list without any).
pub(crate) fn build(
    published: &Published,
    entry_points: &[EntryPointInfo],
    findings: &mut Findings<'_>,
) -> Vec<Option<UdpService>> {
    let udp = &published.runtime.config.udp;
    if udp.routers.is_empty() {
        return Vec::new();
    }
    let services = services(published, findings);
    let mut chosen: Vec<Option<(&str, UdpService)>> = entry_points.iter().map(|_| None).collect();
    // Names in descending order: the first router to claim an entrypoint keeps it.
    for (name, router) in udp.routers.iter().rev() {
        let Some(service) = services.get(&router.service) else {
            findings.udp_router(name, "service", Problem::DisabledService(router.service.clone()), true);
            continue;
        };
        let mut on_one = false;
        for (index, info) in entry_points.iter().enumerate() {
            let named = router.entry_points.contains(&info.name);
            if !(named || router.entry_points.is_empty() && info.udp) {
                continue;
            }
            if !info.udp {
                let problem = Problem::Invalid(format!("entryPoint `{}` does not listen for UDP", info.name));
                findings.udp_router(name, "entryPoints", problem, false);
                continue;
            }
            match &chosen[index] {
                Some((first, _)) => {
                    let problem = Problem::Conflict(format!(
                        "UDP router `{first}` already serves entryPoint `{}`: an entrypoint has one UDP router",
                        info.name
                    ));
                    findings.udp_router(name, "entryPoints", problem, false);
                }
                None => {
                    chosen[index] = Some((name.as_str(), service.clone()));
                    on_one = true;
                }
            }
        }
        if !on_one {
            let problem = Problem::Invalid("the router serves no UDP entrypoint".into());
            findings.udp_router(name, "entryPoints", problem, false);
        }
    }
    chosen.into_iter().map(|c| c.map(|(_, service)| service)).collect()
}

/// Every live UDP service, children before parents.
fn services(published: &Published, findings: &mut Findings<'_>) -> HashMap<String, UdpService> {
    let definitions = &published.runtime.config.udp.services;
    let mut built: HashMap<String, UdpService> = HashMap::new();
    for name in &published.runtime.udp_service_order {
        let Some(definition) = definitions.get(name) else {
            continue;
        };
        let service = if let Some(lb) = &definition.load_balancer {
            Some(UdpService::balancer(
                lb.servers.iter().map(|s| s.address.clone()).collect(),
            ))
        } else if let Some(weighted) = &definition.weighted {
            let children: Option<Vec<UdpService>> =
                weighted.services.iter().map(|s| built.get(&s.name).cloned()).collect();
            match children {
                Some(children) => Some(UdpService::weighted(
                    children,
                    weighted.services.iter().map(|s| s.weight).collect(),
                )),
                None => {
                    findings.udp_service(
                        name,
                        "weighted.services",
                        Problem::Invalid("a service it names cannot serve".into()),
                    );
                    None
                }
            }
        } else {
            None
        };
        if let Some(service) = service {
            built.insert(name.clone(), service);
        }
    }
    built
}
