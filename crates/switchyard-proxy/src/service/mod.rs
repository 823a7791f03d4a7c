//! Services: what a router sends its requests to.

mod load_balancer;
mod sticky;
mod strategy;
mod weighted_round_robin;

pub(crate) use load_balancer::{LoadBalancer, Server};
pub(crate) use sticky::Sticky;
pub(crate) use strategy::ServerStats;
