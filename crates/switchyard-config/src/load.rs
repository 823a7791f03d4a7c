//! Reading YAML, TOML and JSON into the configuration model, with positions, key paths and unknown keys.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{LoadError, ParseError, UnknownKey};

/// A configuration text format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// YAML 1.2 (`.yml`, `.yaml`).
    Yaml,
    /// TOML 1.0 (`.toml`).
    Toml,
    /// JSON (`.json`).
    Json,
}

impl Format {
    /// The format a file's extension names, if it is one switchyard reads.
    ///
    /// ```
    /// use switchyard_config::Format;
    /// assert_eq!(Format::from_path("conf/dynamic.YML".as_ref()), Some(Format::Yaml));
    /// assert_eq!(Format::from_path("notes.txt".as_ref()), None);
    /// ```
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "yml" | "yaml" => Some(Self::Yaml),
            "toml" => Some(Self::Toml),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// A value read from text, with the keys that were present but unknown to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<T> {
    /// The value.
    pub value: T,
    /// Keys the model does not know, in the order met.
    pub unknown_keys: Vec<UnknownKey>,
}

/// Reads `text` in `format` into `T`; `origin` names the text in errors (usually the file path).
///
/// Empty text (or text holding only comments) reads as `T::default()`, since an empty file is an empty
/// configuration. Errors carry the line, column and key path of the problem; unknown keys are returned, not
/// failed on.
///
/// ```
/// use switchyard_config::{DynamicConfig, Format, load_str};
///
/// let yaml = "http:\n  routers:\n    api:\n      rule: Host(`api.example.com`)\n      service: api\n      priorty: 5\n";
/// let loaded = load_str::<DynamicConfig>(yaml, Format::Yaml, "dynamic.yml").unwrap();
/// assert_eq!(loaded.value.http.routers["api"].service, "api");
/// assert_eq!(loaded.unknown_keys[0].key_path, "http.routers.api.priorty");
///
/// let err = load_str::<DynamicConfig>("http:\n  routers:\n    api:\n      priority: high\n", Format::Yaml, "dynamic.yml")
///     .unwrap_err();
/// assert_eq!(err.key_path.as_deref(), Some("http.routers.api.priority"));
/// assert_eq!(err.position, Some((4, 17)));
/// ```
pub fn load_str<T: DeserializeOwned + Default>(
    text: &str,
    format: Format,
    origin: &str,
) -> Result<Loaded<T>, ParseError> {
    let mut unknown = Vec::new();
    let on_unknown = |path: serde_ignored::Path<'_>| {
        unknown.push(UnknownKey {
            origin: origin.to_owned(),
            key_path: unknown_key_path(&path),
        });
    };
    let mut key_path = None;
    match read(text, format, origin, on_unknown, &mut key_path) {
        Ok(value) => Ok(Loaded {
            value,
            unknown_keys: unknown,
        }),
        Err(mut err) => {
            err.key_path = key_path.filter(|path| path != ".");
            Err(err)
        }
    }
}

/// The key path of an unknown key as the user wrote it.
fn unknown_key_path(path: &serde_ignored::Path<'_>) -> String {
    // serde_ignored marks the inside of an `Option` with a `?` segment; users never wrote one.
    path.to_string()
        .split('.')
        .filter(|segment| *segment != "?")
        .collect::<Vec<_>>()
        .join(".")
}

/// Deserializes `text` in `format`, telling `on_unknown` of every unknown key and leaving the key
/// path of a failure in `key_path`.
fn read<T: DeserializeOwned + Default>(
    text: &str,
    format: Format,
    origin: &str,
    mut on_unknown: impl FnMut(serde_ignored::Path<'_>),
    key_path: &mut Option<String>,
) -> Result<T, ParseError> {
    match format {
        Format::Yaml if is_blank_yaml(text) => Ok(T::default()),
        Format::Yaml => serde_saphyr::with_deserializer_from_str(text, |de| {
            tracked(serde_ignored::Deserializer::new(de, &mut on_unknown), key_path)
        })
        .map_err(|err| yaml_error(&err, origin)),
        Format::Toml if text.trim().is_empty() => Ok(T::default()),
        Format::Toml => match toml::de::Deserializer::parse(text) {
            Ok(de) => tracked(serde_ignored::Deserializer::new(de, &mut on_unknown), key_path)
                .map_err(|err| toml_error(&err, text, origin)),
            Err(err) => Err(toml_error(&err, text, origin)),
        },
        Format::Json if text.trim().is_empty() => Ok(T::default()),
        Format::Json => read_json(text, origin, on_unknown, key_path),
    }
}

/// [`read`] for JSON, which must hold one value and nothing after it.
fn read_json<T: DeserializeOwned>(
    text: &str,
    origin: &str,
    mut on_unknown: impl FnMut(serde_ignored::Path<'_>),
    key_path: &mut Option<String>,
) -> Result<T, ParseError> {
    let mut de = serde_json::Deserializer::from_str(text);
    tracked(serde_ignored::Deserializer::new(&mut de, &mut on_unknown), key_path)
        .and_then(|value| de.end().map(|()| value))
        .map_err(|err| json_error(&err, origin))
}

/// Reads a file, choosing the format by its extension (see [`load_str`]).
///
/// ```no_run
/// use switchyard_config::{DynamicConfig, load_file};
///
/// let loaded = load_file::<DynamicConfig>("/etc/traefik/dynamic.yml".as_ref())?;
/// for key in &loaded.unknown_keys {
///     eprintln!("warning: {key}");
/// }
/// # Ok::<(), switchyard_config::LoadError>(())
/// ```
pub fn load_file<T: DeserializeOwned + Default>(path: &Path) -> Result<Loaded<T>, LoadError> {
    let format = Format::from_path(path).ok_or_else(|| LoadError::UnsupportedFormat { path: path.to_owned() })?;
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(load_str(&text, format, &path.display().to_string())?)
}

/// Deserializes through `serde_path_to_error`, leaving the failing key path in `key_path`.
fn tracked<'de, T, D>(de: D, key_path: &mut Option<String>) -> Result<T, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde_path_to_error::deserialize(de).map_err(|err| {
        *key_path = Some(err.path().to_string());
        err.into_inner()
    })
}

/// Whether YAML text holds no document content: only blank lines, comments and document markers.
fn is_blank_yaml(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .all(|line| line.is_empty() || line.starts_with('#') || line == "---" || line == "...")
}

fn yaml_error(err: &serde_saphyr::Error, origin: &str) -> ParseError {
    let position = err.location().and_then(|loc| {
        let line = usize::try_from(loc.line()).ok()?;
        let column = usize::try_from(loc.column()).ok()?;
        (line > 0).then_some((line, column))
    });
    let mut message = err.without_snippet().to_string();
    // The crate appends the position to its message; we print it in front instead.
    if let Some(at) = message.rfind(" at line ") {
        if message[at..].contains(", column ") {
            message.truncate(at);
        }
    }
    ParseError {
        origin: origin.to_owned(),
        position,
        key_path: None,
        message,
    }
}

fn toml_error(err: &toml::de::Error, text: &str, origin: &str) -> ParseError {
    ParseError {
        origin: origin.to_owned(),
        position: err.span().map(|span| line_column(text, span.start)),
        key_path: None,
        message: err.message().trim_end().to_owned(),
    }
}

fn json_error(err: &serde_json::Error, origin: &str) -> ParseError {
    let mut message = err.to_string();
    if let Some(at) = message.rfind(" at line ") {
        message.truncate(at);
    }
    ParseError {
        origin: origin.to_owned(),
        // serde_json reports column 0 for an error right after a newline; columns here start at 1.
        position: (err.line() > 0).then(|| (err.line(), err.column().max(1))),
        key_path: None,
        message,
    }
}

/// The 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_right_after_a_newline_have_column_one() {
        let err = load_str::<crate::DynamicConfig>("-\n\u{8}\u{19}", Format::Json, "x.json").unwrap_err();
        assert_eq!(err.position, Some((2, 1)), "{err}");
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncdé\nf", 0), (1, 1));
        assert_eq!(line_column("ab\ncdé\nf", 3), (2, 1));
        assert_eq!(line_column("ab\ncdé\nf", 8), (3, 1));
        assert_eq!(line_column("ab\ncdé\nf", 7), (2, 4));
        assert_eq!(line_column("ab\ncdé\nf", 99), (3, 2));
    }
}
