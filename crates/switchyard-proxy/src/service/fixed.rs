//! A service that answers every request itself with a fixed status: what providers route requests
//! to when the backend they name cannot be resolved (the Gateway API specifies 500 for HTTP, and
//! `UNAVAILABLE` for gRPC).

use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};
use switchyard_config::FixedAnswer;
use switchyard_middleware::ResponseBody;

/// A compiled [`FixedAnswer`]: the status and, for gRPC, the `grpc-status` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fixed {
    status: StatusCode,
    grpc_status: Option<HeaderValue>,
}

/// Why a [`FixedAnswer`] cannot be served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum FixedError {
    /// The HTTP status is not a three-digit code.
    #[error("{0} is not an HTTP status code (100-999)")]
    Status(u16),
    /// The gRPC status is not one of gRPC's codes.
    #[error("{0} is not a gRPC status code (0-16)")]
    Grpc(u32),
}

impl Fixed {
    /// The service of `answer`.
    pub(crate) fn new(answer: FixedAnswer) -> Result<Self, FixedError> {
        match answer {
            FixedAnswer::Http(code) => Ok(Self {
                status: StatusCode::from_u16(code).map_err(|_| FixedError::Status(code))?,
                grpc_status: None,
            }),
            FixedAnswer::Grpc(code) if code <= 16 => Ok(Self {
                status: StatusCode::OK,
                grpc_status: Some(HeaderValue::from(code)),
            }),
            FixedAnswer::Grpc(code) => Err(FixedError::Grpc(code)),
        }
    }

    /// The answer, with no body: a gRPC answer is a trailers-only response (its status in the
    /// headers).
    pub(crate) fn respond(&self) -> Response<ResponseBody> {
        let mut response = Response::new(ResponseBody::empty());
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if let Some(grpc_status) = &self.grpc_status {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
            headers.insert("grpc-status", grpc_status.clone());
            headers.insert("grpc-message", HeaderValue::from_static("backend%20not%20resolved"));
        } else {
            headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_answers_have_their_status_and_no_body() {
        let response = Fixed::new(FixedAnswer::Http(500)).unwrap().respond();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[CONTENT_LENGTH], "0");
        assert!(response.headers().get("grpc-status").is_none());
    }

    #[test]
    fn grpc_answers_are_trailers_only_with_the_code() {
        let response = Fixed::new(FixedAnswer::Grpc(14)).unwrap().respond();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["grpc-status"], "14");
        assert_eq!(response.headers()[CONTENT_TYPE], "application/grpc");
    }

    #[test]
    fn codes_out_of_range_are_refused() {
        assert_eq!(Fixed::new(FixedAnswer::Http(42)), Err(FixedError::Status(42)));
        assert_eq!(Fixed::new(FixedAnswer::Grpc(17)), Err(FixedError::Grpc(17)));
    }
}
