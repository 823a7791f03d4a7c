//! The user lists of `basicAuth` and `digestAuth`: the lines of `usersFile`, then the inline `users`.
//!
//! As in Traefik, the file is read once, when the middleware is built; its lines are trimmed, and blank
//! lines and lines starting with `#` are skipped. Inline entries come after the file's, so an inline
//! entry wins over a file line for the same user.

use crate::MiddlewareError;

/// Where an entry was written, to point at it in an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// `users[i]`.
    Inline(usize),
    /// The 1-based line of `usersFile`.
    File(usize),
}

/// One `user:...` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) text: String,
    pub(crate) origin: Origin,
}

impl Entry {
    /// An error about this entry, reported under its field (`users[2]`, or `usersFile` with the line).
    pub(crate) fn error(&self, reason: impl std::fmt::Display) -> MiddlewareError {
        match self.origin {
            Origin::Inline(i) => MiddlewareError::invalid(format!("users[{i}]"), reason.to_string()),
            Origin::File(line) => MiddlewareError::invalid("usersFile", format!("line {line}: {reason}")),
        }
    }
}

/// The entries of `users_file` (when set), then those of `users`.
pub(crate) fn load(users: &[String], users_file: &str) -> Result<Vec<Entry>, MiddlewareError> {
    let mut entries = Vec::new();
    if !users_file.is_empty() {
        let text = std::fs::read_to_string(users_file)
            .map_err(|e| MiddlewareError::invalid("usersFile", format!("cannot read `{users_file}`: {e}")))?;
        for (i, line) in text.split('\n').enumerate() {
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                entries.push(Entry {
                    text: line.to_owned(),
                    origin: Origin::File(i + 1),
                });
            }
        }
    }
    entries.extend(users.iter().enumerate().map(|(i, text)| Entry {
        text: text.clone(),
        origin: Origin::Inline(i),
    }));
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn file_lines_come_first_then_inline_users() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        write!(file, "# comment\n\n  a:1  \r\n\t# indented comment\nb:2").unwrap();
        let entries = load(&["c:3".into()], file.path().to_str().unwrap()).unwrap();
        let seen: Vec<_> = entries.iter().map(|e| (e.text.as_str(), e.origin)).collect();
        assert_eq!(
            seen,
            [
                ("a:1", Origin::File(3)),
                ("b:2", Origin::File(5)),
                ("c:3", Origin::Inline(0))
            ]
        );
        assert_eq!(entries[1].error("bad").field(), "usersFile");
        assert_eq!(entries[1].error("bad").to_string(), "line 5: bad");
        assert_eq!(entries[2].error("bad").field(), "users[0]");
    }

    #[test]
    fn an_unreadable_file_names_the_field() {
        let error = load(&[], "/nonexistent/switchyard/users").unwrap_err();
        assert_eq!(error.field(), "usersFile");
        assert!(error.to_string().contains("/nonexistent/switchyard/users"), "{error}");
    }
}
