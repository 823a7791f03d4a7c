//! `ipAllowList` (and its deprecated name `ipWhiteList`): only clients whose address is in `sourceRange`
//! get through; the others are answered `rejectStatusCode` (403 by default) with the status text.
//!
//! The client address is the connection's peer unless an `ipStrategy` says to read `X-Forwarded-For`
//! (see [`crate::source`]): the entrypoint has already dropped that header from untrusted peers, so a
//! client cannot choose the address it is judged by. In Traefik the same holds only as long as
//! `forwardedHeaders.trustedIPs` is set correctly; here it is the same rule, applied before any
//! middleware runs.
//!
//! Deviations from Traefik: `rejectStatusCode` must be a final status (Traefik would send a `1xx` as an
//! interim answer and then `200`); the chosen entry of `X-Forwarded-For` is read as described in
//! [`crate::source`].

use http::{Request, Response, StatusCode};
use switchyard_config::IpAllowList;

use crate::layers::builtin_layer;
use crate::source::{IpSet, IpStrategy, refusal};
use crate::stack::{OnRequest, on_request};
use crate::{BuildContext, MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody};

struct AllowList {
    ranges: IpSet,
    strategy: IpStrategy,
    reject: StatusCode,
}

impl OnRequest for AllowList {
    fn on_request(&self, req: &mut Request<RequestBody>) -> Result<(), Response<ResponseBody>> {
        match self.strategy.select(req) {
            Ok(ip) if self.ranges.contains(ip) => Ok(()),
            selected => {
                tracing::debug!(target: "switchyard::middleware", client = ?selected, "ipAllowList refused a client");
                let text = self.reject.canonical_reason().unwrap_or("").to_owned();
                Err(refusal(self.reject, text))
            }
        }
    }
}

/// The status refused clients get: 403 when unset, else a final status with a reason phrase.
fn reject_status(code: u16) -> Result<StatusCode, MiddlewareError> {
    if code == 0 {
        return Ok(StatusCode::FORBIDDEN);
    }
    match StatusCode::from_u16(code) {
        Ok(status) if status.canonical_reason().is_some() && !status.is_informational() => Ok(status),
        _ => Err(MiddlewareError::invalid(
            "rejectStatusCode",
            format!("invalid HTTP status code {code}: use a known final status such as 403 or 404"),
        )),
    }
}

/// `ipAllowList` and `ipWhiteList`.
pub(crate) fn ip_allow_list(config: &IpAllowList, _ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    if config.source_range.is_empty() {
        return Err(MiddlewareError::invalid(
            "sourceRange",
            "sourceRange is empty: list the allowed IPs or CIDRs",
        ));
    }
    let reject = reject_status(config.reject_status_code)?;
    let ranges = IpSet::parse("sourceRange", &config.source_range)?;
    let strategy = IpStrategy::build(config.ip_strategy.as_ref(), "ipStrategy")?;
    Ok(on_request(AllowList {
        ranges,
        strategy,
        reject,
    }))
}

/// `ipWhiteList`: Traefik v3's deprecated name of `ipAllowList`, which has no `rejectStatusCode`.
pub(crate) fn ip_white_list(config: &IpAllowList, ctx: &BuildContext<'_>) -> Result<MiddlewareLayer, MiddlewareError> {
    if config.reject_status_code != 0 {
        return Err(MiddlewareError::invalid(
            "rejectStatusCode",
            "ipWhiteList has no rejectStatusCode; use ipAllowList, which replaces ipWhiteList",
        ));
    }
    tracing::warn!(target: "switchyard::middleware", middleware = ctx.name(), "ipWhiteList is deprecated; use ipAllowList");
    ip_allow_list(config, ctx)
}

builtin_layer! {
    /// `ipAllowList` as a tower layer: only clients whose address is in `sourceRange` get through; the
    /// others are answered `rejectStatusCode` (403 by default). The client is the
    /// [`ClientInfo`](crate::ClientInfo) request extension (or `X-Forwarded-For`, with an `ipStrategy`).
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response};
    /// use switchyard_config::IpAllowList;
    /// use switchyard_middleware::layers::IpAllowListLayer;
    /// use switchyard_middleware::{ClientInfo, RequestBody, ResponseBody};
    /// use tower::{Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let office = IpAllowList { source_range: vec!["192.0.2.0/24".into()], ..Default::default() };
    /// let layer = IpAllowListLayer::new(office).unwrap();
    /// let backend = layer.layer(tower::service_fn(|_req: Request<RequestBody>| async {
    ///     Ok::<_, Infallible>(Response::new(ResponseBody::empty()))
    /// }));
    /// let from = |ip: &str| {
    ///     let mut req = Request::new(RequestBody::empty());
    ///     req.extensions_mut().insert(ClientInfo::new(ip.parse().unwrap(), false));
    ///     req
    /// };
    /// assert_eq!(backend.clone().oneshot(from("192.0.2.7")).await.unwrap().status(), 200);
    /// assert_eq!(backend.oneshot(from("198.51.100.1")).await.unwrap().status(), 403);
    /// # }
    /// ```
    IpAllowListLayer(IpAllowList => |config| ip_allow_list(config, &BuildContext::new("ipAllowList")))
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use switchyard_config::IpStrategy as IpStrategyConfig;

    use super::*;
    use crate::ClientInfo;

    fn config(ranges: &[&str]) -> IpAllowList {
        IpAllowList {
            source_range: ranges.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        }
    }

    fn step(config: &IpAllowList) -> AllowList {
        AllowList {
            ranges: IpSet::parse("sourceRange", &config.source_range).unwrap(),
            strategy: IpStrategy::build(config.ip_strategy.as_ref(), "ipStrategy").unwrap(),
            reject: reject_status(config.reject_status_code).unwrap(),
        }
    }

    /// The refusal of a request from `peer`, or `None` when it goes on.
    fn run(step: &AllowList, peer: &str, xff: Option<&str>) -> Option<Response<ResponseBody>> {
        let mut req = Request::new(RequestBody::empty());
        req.extensions_mut()
            .insert(ClientInfo::new(peer.parse().unwrap(), false));
        if let Some(xff) = xff {
            req.headers_mut().insert("x-forwarded-for", xff.parse().unwrap());
        }
        step.on_request(&mut req).err()
    }

    #[tokio::test]
    async fn refuses_addresses_outside_the_ranges() {
        let allow = step(&config(&["127.0.0.1", "10.0.0.0/8"]));
        assert!(run(&allow, "127.0.0.1", None).is_none());
        assert!(run(&allow, "10.1.2.3", None).is_none());
        let refused = run(&allow, "192.0.2.1", Some("127.0.0.1")).unwrap();
        assert_eq!(refused.status(), 403);
        assert_eq!(refused.headers()["content-type"], "text/plain; charset=utf-8");
        let body = refused.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"Forbidden");
    }

    #[test]
    fn reject_status_code_and_depth() {
        let mut c = config(&["192.0.2.0/24"]);
        c.reject_status_code = 404;
        c.ip_strategy = Some(IpStrategyConfig {
            depth: 2,
            ..Default::default()
        });
        let allow = step(&c);
        assert!(run(&allow, "127.0.0.1", Some("192.0.2.5, 10.0.0.1")).is_none());
        assert_eq!(
            run(&allow, "192.0.2.5", Some("10.0.0.1, 192.0.2.5")).unwrap().status(),
            404
        );
        assert_eq!(
            run(&allow, "192.0.2.5", Some("192.0.2.5")).unwrap().status(),
            404,
            "too shallow"
        );
        assert_eq!(run(&allow, "192.0.2.5", None).unwrap().status(), 404);
    }

    #[test]
    fn invalid_options_name_their_field() {
        let ctx = BuildContext::new("m");
        let error = ip_allow_list(&config(&["10.0.0.1", "10.0.0.256"]), &ctx).err().unwrap();
        assert_eq!(error.field(), "sourceRange[1]");
        assert_eq!(ip_allow_list(&config(&[]), &ctx).err().unwrap().field(), "sourceRange");
        for code in [99, 100, 299, 1000] {
            let mut c = config(&["10.0.0.1"]);
            c.reject_status_code = code;
            assert_eq!(
                ip_allow_list(&c, &ctx).err().unwrap().field(),
                "rejectStatusCode",
                "{code}"
            );
        }
        let mut c = config(&["10.0.0.1"]);
        c.ip_strategy = Some(IpStrategyConfig {
            excluded_ips: vec!["x".into()],
            ..Default::default()
        });
        assert_eq!(
            ip_allow_list(&c, &ctx).err().unwrap().field(),
            "ipStrategy.excludedIPs[0]"
        );
    }
}
