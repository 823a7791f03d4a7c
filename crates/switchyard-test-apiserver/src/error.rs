//! What the API server answers with a `Status` object instead of the resource.

/// A request the server refuses, answered as a Kubernetes `Status` with the matching code.
///
/// ```
/// use switchyard_test_apiserver::ApiError;
///
/// let expired = ApiError::Expired { requested: 5, oldest: 10 };
/// assert_eq!(expired.code_and_reason(), (410, "Expired"));
/// assert_eq!(expired.status()["message"], "too old resource version: 5 (10)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No such object (404, reason `NotFound`).
    #[error("{plural} \"{name}\" not found")]
    NotFound {
        /// The resource's plural name.
        plural: String,
        /// The object's name.
        name: String,
    },
    /// A path the server does not serve (404).
    #[error("the server could not find the requested resource")]
    UnknownPath,
    /// A create named an object that exists (409, reason `AlreadyExists`).
    #[error("{plural} \"{name}\" already exists")]
    AlreadyExists {
        /// The resource's plural name.
        plural: String,
        /// The object's name.
        name: String,
    },
    /// An update named a stale `resourceVersion` (409, reason `Conflict`).
    #[error("the object has been modified; please apply your changes to the latest version and try again")]
    Conflict,
    /// A watch from a compacted `resourceVersion` (410, reason `Expired`).
    #[error("too old resource version: {requested} ({oldest})")]
    Expired {
        /// The version asked for.
        requested: u64,
        /// The oldest version still known.
        oldest: u64,
    },
    /// A body or parameter that does not parse (400, reason `BadRequest`).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A `labelSelector` that does not parse (400).
    #[error("unable to parse requirement: {0}")]
    BadSelector(String),
    /// A request without the required bearer token (401).
    #[error("Unauthorized")]
    Unauthorized,
    /// A method the path does not support (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A failure the test injected with [`ApiServer::fail_watches`](crate::ApiServer::fail_watches).
    #[error("injected failure")]
    Injected(u16),
}

impl ApiError {
    /// The HTTP status code and the `reason` of the `Status` object.
    pub fn code_and_reason(&self) -> (u16, &'static str) {
        match self {
            ApiError::NotFound { .. } | ApiError::UnknownPath => (404, "NotFound"),
            ApiError::Conflict => (409, "Conflict"),
            ApiError::AlreadyExists { .. } => (409, "AlreadyExists"),
            ApiError::Expired { .. } => (410, "Expired"),
            ApiError::BadRequest(_) | ApiError::BadSelector(_) => (400, "BadRequest"),
            ApiError::Unauthorized => (401, "Unauthorized"),
            ApiError::MethodNotAllowed => (405, "MethodNotAllowed"),
            ApiError::Injected(code) => (*code, if *code == 410 { "Expired" } else { "InternalError" }),
        }
    }

    /// The `Status` object describing this error.
    pub fn status(&self) -> serde_json::Value {
        let (code, reason) = self.code_and_reason();
        serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": reason,
            "code": code,
        })
    }
}
