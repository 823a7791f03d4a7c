//! Services: what a router sends its requests to, as compiled for the request path: load balancers
//! over servers, services over services, and the health of servers.

mod balanced;
mod error;
mod fixed;
mod health;
mod node;
mod sticky;

pub(crate) use balanced::{BalancedService, Options, Server};
pub(crate) use error::ForwardError;
pub(crate) use fixed::Fixed;
pub(crate) use health::{ActiveChecks, Passive, Probe, Watched, spawn_active};
pub(crate) use node::{Child, ChildPick, Failover, Mirror, Mirroring, Node, Weighted};
pub(crate) use sticky::Sticky;
