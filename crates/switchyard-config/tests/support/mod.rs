//! What several test files share.

use serde::de::DeserializeOwned;
use switchyard_config::{Format, load_str};

/// Loads `tests/fixtures/<name>` (YAML or TOML by extension), failing on any unknown key: a fixture
/// that loads cleanly proves every key name in it is one the model knows.
pub fn fixture<T: DeserializeOwned + Default>(name: &str) -> T {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture readable");
    let format = if name.ends_with(".toml") {
        Format::Toml
    } else {
        Format::Yaml
    };
    let loaded = load_str::<T>(&text, format, &path).expect("fixture loads");
    assert!(loaded.unknown_keys.is_empty(), "{path}: {:?}", loaded.unknown_keys);
    loaded.value
}
