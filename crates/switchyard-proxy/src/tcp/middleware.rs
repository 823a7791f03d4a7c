//! TCP middlewares, applied once per connection before the backend is dialled: `ipAllowList` refuses
//! clients outside its networks, `inFlightConn` bounds the connections one client IP holds open.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use ipnet::IpNet;
use smallvec::SmallVec;

/// A compiled TCP middleware.
#[derive(Debug, Clone)]
pub(crate) enum TcpMiddleware {
    /// `ipAllowList`: the client must be in one of the networks.
    IpAllowList(Arc<[IpNet]>),
    /// `inFlightConn`: at most this many open connections per client IP.
    InFlightConn(Arc<InFlightConn>),
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    /// The client is not in the allow list.
    #[error("the client is not in the ipAllowList")]
    NotAllowed,
    /// The client already holds as many connections as allowed.
    #[error("the client holds inFlightConn.amount connections already")]
    TooMany,
}

/// The connections open per client IP of one `inFlightConn` middleware.
#[derive(Debug)]
pub(crate) struct InFlightConn {
    amount: u32,
    open: Mutex<HashMap<IpAddr, u32>>,
}

impl InFlightConn {
    pub(crate) fn new(amount: u32) -> Self {
        Self {
            amount,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a connection from `ip` until the returned slot is dropped; `None` when `ip` is at the limit.
    fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= self.amount {
            return None;
        }
        *count += 1;
        Some(Slot {
            limit: Arc::clone(self),
            ip,
        })
    }
}

/// One connection counted by an `inFlightConn`, released when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    limit: Arc<InFlightConn>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.limit.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// What the middlewares of a connection hold until it closes.
pub(crate) type Admission = SmallVec<[Slot; 1]>;

/// Runs `middlewares` in order for a client; the slots to hold while the connection is open, or why
/// it is refused.
pub(crate) fn admit(middlewares: &[TcpMiddleware], client: IpAddr) -> Result<Admission, Refused> {
    let client = client.to_canonical();
    let mut held = Admission::new();
    for middleware in middlewares {
        match middleware {
            TcpMiddleware::IpAllowList(networks) => {
                if !networks.iter().any(|net| net.contains(&client)) {
                    return Err(Refused::NotAllowed);
                }
            }
            TcpMiddleware::InFlightConn(limit) => held.push(limit.enter(client).ok_or(Refused::TooMany)?),
        }
    }
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_and_in_flight_limit() {
        let lan = TcpMiddleware::IpAllowList(Arc::from(["10.0.0.0/8".parse::<IpNet>().unwrap()]));
        let limit = TcpMiddleware::InFlightConn(Arc::new(InFlightConn::new(1)));
        let chain = [lan, limit];
        let a: IpAddr = "10.1.1.1".parse().unwrap();
        assert_eq!(
            admit(&chain, "192.168.1.1".parse().unwrap()).unwrap_err(),
            Refused::NotAllowed
        );
        let first = admit(&chain, a).unwrap();
        assert_eq!(admit(&chain, a).unwrap_err(), Refused::TooMany);
        assert!(admit(&chain, "10.2.2.2".parse().unwrap()).is_ok());
        drop(first);
        assert!(admit(&chain, "::ffff:10.1.1.1".parse().unwrap()).is_ok());
    }
}
