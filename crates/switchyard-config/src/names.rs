//! `name@provider`: how names from different providers live side by side.

/// The provider suffix separator.
pub const PROVIDER_SEPARATOR: char = '@';

/// Qualifies `name` with `provider` unless it names a provider already.
///
/// ```
/// use switchyard_config::qualify;
/// assert_eq!(qualify("api", "file"), "api@file");
/// assert_eq!(qualify("auth@kubernetes", "file"), "auth@kubernetes");
/// ```
pub fn qualify(name: &str, provider: &str) -> String {
    if name.contains(PROVIDER_SEPARATOR) {
        name.to_owned()
    } else {
        format!("{name}{PROVIDER_SEPARATOR}{provider}")
    }
}

/// Splits a qualified name into its local name and provider.
///
/// ```
/// use switchyard_config::split_qualified;
/// assert_eq!(split_qualified("api@file"), Some(("api", "file")));
/// assert_eq!(split_qualified("api"), None);
/// ```
pub fn split_qualified(name: &str) -> Option<(&str, &str)> {
    name.rsplit_once(PROVIDER_SEPARATOR)
}
