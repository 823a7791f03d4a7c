//! Services: what a router sends its requests to.

mod error;
mod health;
mod load_balancer;
mod node;
mod sticky;
pub(crate) mod strategy;
pub(crate) mod weighted_round_robin;

pub(crate) use error::ForwardError;
pub(crate) use health::{Passive, Probe, spawn_active};
pub(crate) use load_balancer::{LoadBalancer, Options, Server};
pub(crate) use node::{Child, Failover, Mirror, Mirroring, Node, Weighted};
pub(crate) use sticky::Sticky;
pub(crate) use strategy::ServerStats;
