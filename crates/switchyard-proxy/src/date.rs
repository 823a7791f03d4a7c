//! The `Date` header of answers, formatted once a second.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;

thread_local! {
    static CACHED: RefCell<(u64, Option<HeaderValue>)> = const { RefCell::new((0, None)) };
}

/// The current time as an HTTP date (`Mon, 07 Dec 2026 08:00:00 GMT`), formatted at most once a second
/// per thread.
pub(crate) fn now() -> HeaderValue {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let second = since_epoch.as_secs();
    CACHED.with_borrow_mut(|(cached_second, value)| match value {
        Some(value) if *cached_second == second => value.clone(),
        _ => {
            let formatted = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(second));
            let fresh = HeaderValue::from_str(&formatted).unwrap_or_else(|_| HeaderValue::from_static(""));
            *cached_second = second;
            *value = Some(fresh.clone());
            fresh
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_http_dates() {
        let date = super::now();
        let parsed = httpdate::parse_http_date(date.to_str().unwrap()).unwrap();
        let age = std::time::SystemTime::now().duration_since(parsed).unwrap();
        assert!(age.as_secs() < 5, "{date:?}");
    }
}
