use std::io;

/// Why a certificate, a key or a set of TLS options cannot be used. Compiling reports it with the key
/// path of the element that needed it; the rest of the configuration keeps serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A certificate or key field is empty.
    #[error("the {what} is empty")]
    Empty {
        /// What was expected.
        what: &'static str,
    },
    /// A certificate or key file cannot be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The path as configured.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The PEM text holds no usable certificate or key.
    #[error("{origin}: {reason}")]
    Pem {
        /// The path, or `inline PEM`.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused a certificate, key or configuration.
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
    /// A certificate no longer loads; the one loaded before from the same fields keeps serving.
    #[error("{0}; still serving the certificate loaded before")]
    Kept(Box<TlsError>),
    /// An option value is not one switchyard offers.
    #[error("{option}: {reason}")]
    Option {
        /// The option's key (`minVersion`, `cipherSuites[2]`, ...).
        option: String,
        /// Why it is refused.
        reason: String,
    },
}
