//! Compiling services over services: `weighted`, `highestRandomWeight`, `mirroring` and `failover`,
//! built after their children (validation hands over the order) and kept while their definition and
//! children stay the same.

use std::collections::HashMap;
use std::sync::Arc;

use switchyard_config::{Failover as FailoverConfig, FixedAnswer, Mirroring as MirroringConfig, Problem, ServiceKind};
use switchyard_middleware::CodeRanges;

use super::findings::Findings;
use crate::service::{Child, Failover, Fixed, Mirror, Mirroring, Node, Sticky, Weighted};

/// A service over other services, and what it was built from.
#[derive(Debug)]
struct Compiled {
    definition: ServiceKind,
    children: Vec<Node>,
    node: Node,
}

/// The services over services of the live snapshot, kept for the next compilation.
#[derive(Debug, Default)]
pub(crate) struct Parents {
    built: HashMap<String, Compiled>,
}

/// What one compilation built.
#[derive(Debug, Default)]
pub(crate) struct ParentRound {
    built: HashMap<String, Compiled>,
}

/// Why a parent cannot be built: the key path below the service, and the problem.
type Failure = (String, Problem);

impl Parents {
    /// The previous compilation's service `name`, if neither its definition nor its children changed.
    fn unchanged(&self, name: &str, kind: &ServiceKind, children: &[Node]) -> Option<&Compiled> {
        self.built.get(name).filter(|p| {
            p.definition == *kind
                && p.children.len() == children.len()
                && p.children.iter().zip(children).all(|(a, b)| a.same(b))
        })
    }

    /// The service `name` over `nodes` already built (its children come first in validation's order);
    /// `None`, reported, when a child is missing or the definition cannot be run.
    pub(crate) fn build(
        &self,
        name: &str,
        kind: &ServiceKind,
        nodes: &HashMap<String, Node>,
        round: &mut ParentRound,
        findings: &mut Findings<'_>,
    ) -> Option<Node> {
        let result = children(kind, nodes).and_then(|children| {
            let node = match self.unchanged(name, kind, &children) {
                Some(previous) => previous.node.clone(),
                None => parent_node(name, kind, &children)?,
            };
            Ok((children, node))
        });
        match result {
            Ok((children, node)) => {
                let compiled = Compiled {
                    definition: kind.clone(),
                    children,
                    node: node.clone(),
                };
                round.built.insert(name.to_owned(), compiled);
                Some(node)
            }
            Err((field, problem)) => {
                findings.service(name, &field, problem, true);
                None
            }
        }
    }

    /// Keeps this round's services; the others are dropped with the old snapshot.
    pub(crate) fn finish(&mut self, round: ParentRound) {
        self.built = round.built;
    }
}

/// The children of a parent, in [`Service::referenced_services`](switchyard_config::Service) order.
fn children(kind: &ServiceKind, nodes: &HashMap<String, Node>) -> Result<Vec<Node>, Failure> {
    let names: Vec<&str> = match kind {
        ServiceKind::LoadBalancer(_) | ServiceKind::Fixed(_) => Vec::new(),
        ServiceKind::Weighted(w) => w.services.iter().map(|s| s.name.as_str()).collect(),
        ServiceKind::HighestRandomWeight(h) => h.services.iter().map(|s| s.name.as_str()).collect(),
        ServiceKind::Mirroring(m) => std::iter::once(m.service.as_str())
            .chain(m.mirrors.iter().map(|s| s.name.as_str()))
            .collect(),
        ServiceKind::Failover(f) => vec![f.service.as_str(), f.fallback.as_str()],
    };
    names
        .iter()
        .enumerate()
        .map(|(index, child)| {
            nodes
                .get(*child)
                .cloned()
                .ok_or_else(|| (child_field(kind, index), Problem::DisabledService((*child).to_owned())))
        })
        .collect()
}

/// The key path, below the service, of its `index`-th child reference.
fn child_field(kind: &ServiceKind, index: usize) -> String {
    match kind {
        ServiceKind::LoadBalancer(_) | ServiceKind::Fixed(_) => String::new(),
        ServiceKind::Weighted(_) => format!("weighted.services[{index}]"),
        ServiceKind::HighestRandomWeight(_) => format!("highestRandomWeight.services[{index}]"),
        ServiceKind::Mirroring(_) if index == 0 => "mirroring.service".into(),
        ServiceKind::Mirroring(_) => format!("mirroring.mirrors[{}]", index - 1),
        ServiceKind::Failover(_) if index == 0 => "failover.service".into(),
        ServiceKind::Failover(_) => "failover.fallback".into(),
    }
}

/// Builds a service over `children`.
fn parent_node(name: &str, kind: &ServiceKind, children: &[Node]) -> Result<Node, Failure> {
    Ok(match kind {
        ServiceKind::LoadBalancer(_) => {
            return Err((
                String::new(),
                Problem::Invalid("a load balancer has no children".into()),
            ));
        }
        ServiceKind::Weighted(w) => weighted(name, &w.services, children, w.sticky.as_ref(), w.health_check.is_some()),
        ServiceKind::HighestRandomWeight(h) => {
            let node = Weighted::new(name, named(&h.services, children), true, None, h.health_check.is_some());
            Node::Weighted(Arc::new(node))
        }
        ServiceKind::Mirroring(m) => mirroring(name, m, children)?,
        ServiceKind::Failover(f) => failover(name, f, children)?,
        ServiceKind::Fixed(answer) => {
            let fixed =
                Fixed::new(*answer).map_err(|e| (FixedAnswer::KEY.to_owned(), Problem::Invalid(e.to_string())))?;
            Node::Fixed(Arc::new(fixed))
        }
    })
}

fn named(services: &[switchyard_config::WeightedService], children: &[Node]) -> Vec<Child> {
    services
        .iter()
        .zip(children)
        .map(|(s, node)| Child {
            name: s.name.clone(),
            weight: s.weight,
            node: node.clone(),
        })
        .collect()
}

/// `weighted`: round robin over the children by weight, with an optional sticky cookie.
fn weighted(
    name: &str,
    services: &[switchyard_config::WeightedService],
    children: &[Node],
    sticky: Option<&switchyard_config::Sticky>,
    checks_health: bool,
) -> Node {
    let sticky = sticky
        .and_then(|s| s.cookie.as_ref())
        .map(|cookie| Sticky::new(cookie, name, services.iter().map(|s| s.name.as_str())));
    let node = Weighted::new(name, named(services, children), false, sticky, checks_health);
    Node::Weighted(Arc::new(node))
}

/// `mirroring`: the main service and each mirror's share (0 to 100 percent).
fn mirroring(name: &str, config: &MirroringConfig, children: &[Node]) -> Result<Node, Failure> {
    let mut mirrors = Vec::with_capacity(config.mirrors.len());
    for (index, (mirror, node)) in config.mirrors.iter().zip(&children[1..]).enumerate() {
        if mirror.percent > 100 {
            let problem = Problem::Invalid(format!("percent must be between 0 and 100, got {}", mirror.percent));
            return Err((format!("mirroring.mirrors[{index}].percent"), problem));
        }
        mirrors.push(Mirror {
            node: node.clone(),
            percent: mirror.percent,
        });
    }
    let node = Mirroring::new(
        name,
        children[0].clone(),
        mirrors,
        config.mirror_body,
        config.max_body_size,
        config.health_check.is_some(),
    );
    Ok(Node::Mirroring(Arc::new(node)))
}

/// `failover`: the main service, the fallback, and the statuses that send a request over.
fn failover(name: &str, config: &FailoverConfig, children: &[Node]) -> Result<Node, Failure> {
    check_failover_health(name, config, &children[0], &children[1])?;
    let on_status = match &config.errors {
        Some(errors) => {
            let ranges = CodeRanges::parse(&errors.status, "status").map_err(|e| {
                (
                    format!("failover.errors.{}", e.field()),
                    Problem::Invalid(e.to_string()),
                )
            })?;
            Some((ranges, u64::try_from(errors.max_request_body_bytes).ok()))
        }
        None => None,
    };
    Ok(Node::Failover(Arc::new(Failover {
        name: name.to_owned(),
        main: children[0].clone(),
        fallback: children[1].clone(),
        on_status,
        checks_health: config.health_check.is_some(),
    })))
}

/// A failover leaves its main service only when told it is down, so, as in Traefik, the main service
/// must report its health (unless `errors` sends requests over by status); with `healthCheck` on the
/// failover, the fallback must report too.
fn check_failover_health(name: &str, failover: &FailoverConfig, main: &Node, fallback: &Node) -> Result<(), Failure> {
    let by_status = failover.errors.as_ref().is_some_and(|e| !e.status.is_empty());
    let unhealthy = |field: &str, child: &str| {
        let problem = Problem::Invalid(format!(
            "cannot register {child} as updater for {name}: healthCheck not enabled in config for {child}, \
             so {name} could never fail over (give {child} a healthCheck{})",
            if field == "failover.service" {
                ", or failover.errors"
            } else {
                ""
            }
        ));
        (field.to_owned(), problem)
    };
    if !by_status && !main.reports_health() {
        return Err(unhealthy("failover.service", &failover.service));
    }
    if failover.health_check.is_some() && !fallback.reports_health() {
        return Err(unhealthy("failover.fallback", &failover.fallback));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_config::{Report, WeightedService};

    fn leaf() -> Node {
        let options = crate::service::Options {
            picker: crate::balancing::Picker::new(&switchyard_config::Strategy::Wrr, &[] as &[crate::service::Server]),
            sticky: None,
            passive: None,
            active: None,
            pass_host_header: true,
        };
        Node::Balancer(Arc::new(crate::service::BalancedService::new(
            Arc::from("leaf@test"),
            Vec::new(),
            options,
        )))
    }

    fn weighted_kind(children: &[&str]) -> ServiceKind {
        ServiceKind::Weighted(switchyard_config::Weighted {
            services: children
                .iter()
                .map(|name| WeightedService {
                    name: (*name).into(),
                    weight: 1,
                })
                .collect(),
            ..switchyard_config::Weighted::default()
        })
    }

    #[test]
    fn an_unchanged_parent_over_the_same_children_is_kept() {
        let nodes = HashMap::from([("a".to_owned(), leaf()), ("b".to_owned(), leaf())]);
        let mut report = Report::default();
        let mut findings = Findings { report: &mut report };
        let mut parents = Parents::default();
        let mut round = ParentRound::default();
        let first = parents
            .build("p", &weighted_kind(&["a", "b"]), &nodes, &mut round, &mut findings)
            .unwrap();
        parents.finish(round);

        let mut round = ParentRound::default();
        let again = parents
            .build("p", &weighted_kind(&["a", "b"]), &nodes, &mut round, &mut findings)
            .unwrap();
        assert!(again.same(&first), "same definition, same children: kept");
        let other = parents
            .build("p", &weighted_kind(&["b", "a"]), &nodes, &mut round, &mut findings)
            .unwrap();
        assert!(!other.same(&first), "another definition: built anew");

        let renewed = HashMap::from([("a".to_owned(), leaf()), ("b".to_owned(), nodes["b"].clone())]);
        let rebuilt = parents
            .build("p", &weighted_kind(&["a", "b"]), &renewed, &mut round, &mut findings)
            .unwrap();
        assert!(!rebuilt.same(&first), "a child rebuilt: the parent too");
    }

    #[test]
    fn a_missing_child_is_named_by_its_key_path() {
        let nodes = HashMap::from([("a".to_owned(), leaf())]);
        let error = children(&weighted_kind(&["a", "ghost"]), &nodes).unwrap_err();
        assert_eq!(error.0, "weighted.services[1]");
        assert_eq!(error.1, Problem::DisabledService("ghost".into()));
    }
}
