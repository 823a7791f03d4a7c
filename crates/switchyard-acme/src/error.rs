//! What can go wrong with certificate resolvers.

/// Why a resolver cannot be set up, or an order, a challenge or the storage failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcmeError {
    /// A resolver's static configuration cannot be used.
    #[error("{key_path}: {reason}")]
    Config {
        /// Where: `certificatesResolvers.le.acme.caCertificates[0]`.
        key_path: String,
        /// Why.
        reason: String,
    },
    /// The CA refused a request, with its problem document (RFC 8555 §6.7).
    #[error("the CA refused: {detail} ({kind})")]
    Problem {
        /// The problem type (`urn:ietf:params:acme:error:rejectedIdentifier`).
        kind: String,
        /// The CA's explanation, with its subproblems.
        detail: String,
    },
    /// Talking to the CA failed (network, TLS, unexpected answer).
    #[error("ACME exchange failed: {0}")]
    Protocol(String),
    /// A challenge could not be set up or cleaned up.
    #[error("{challenge} challenge for {domain}: {reason}")]
    Challenge {
        /// `http-01`, `tls-alpn-01` or `dns-01`.
        challenge: &'static str,
        /// The name being proved.
        domain: String,
        /// Why.
        reason: String,
    },
    /// Reading or writing the storage failed.
    #[error("storage {location}: {reason}")]
    Storage {
        /// The file or object.
        location: String,
        /// Why.
        reason: String,
    },
    /// The certificate or key obtained cannot serve.
    #[error("the certificate obtained cannot serve: {0}")]
    Certificate(String),
}

impl From<instant_acme::Error> for AcmeError {
    fn from(error: instant_acme::Error) -> Self {
        match error {
            instant_acme::Error::Api(problem) => {
                let mut detail = problem.detail.clone().unwrap_or_default();
                for sub in &problem.subproblems {
                    detail.push_str(&format!("; {sub}"));
                }
                Self::Problem {
                    kind: problem.r#type.clone().unwrap_or_default(),
                    detail,
                }
            }
            other => Self::Protocol(other.to_string()),
        }
    }
}
