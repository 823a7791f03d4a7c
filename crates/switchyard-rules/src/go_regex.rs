//! Regular expressions with Go's RE2 meaning, run by the `regex` crate.
//!
//! Traefik compiles `HostRegexp`, `PathRegexp`, `HeaderRegexp` and `QueryRegexp` with Go's `regexp`
//! package. The `regex` crate speaks nearly the same language; the differences that change what a
//! pattern matches are rewritten before compiling:
//!
//! - `\d \w \s \b` (and their negations) are ASCII-only in Go, Unicode-aware in Rust.
//! - Inside a bracket class Go reads `[`, `&&`, `--` and `~~` literally; Rust reads them as nested
//!   classes and set operations.
//! - Go reads a `{` that does not start a repetition as a literal; Rust rejects it.
//! - Go quotes with `\Q...\E`; Rust has no such syntax.
//!
//! Matching is unanchored, as in Go: `PathRegexp(`/api`)` matches `/v1/api/x`.

use std::fmt;

use regex::bytes::{Regex, RegexBuilder};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Hir, Look};

/// Compiled patterns are capped so that a hostile configuration cannot exhaust memory.
const SIZE_LIMIT: usize = 1 << 20;

/// A compiled Go-syntax regular expression.
#[derive(Clone)]
pub struct GoRegex {
    source: String,
    translated: String,
    regex: Regex,
    hir: Option<Hir>,
}

impl GoRegex {
    /// Compiles `source` with Go's RE2 semantics.
    ///
    /// ```
    /// use switchyard_rules::GoRegex;
    ///
    /// let re = GoRegex::new(r"^/v\d+/").unwrap();
    /// assert!(re.is_match(b"/v2/users"));
    /// // `\d` is ASCII-only, as in Go.
    /// assert!(!re.is_match("/v٣/users".as_bytes()));
    /// ```
    pub fn new(source: &str) -> Result<Self, String> {
        let translated = translate(source);
        let regex = RegexBuilder::new(&translated)
            .size_limit(SIZE_LIMIT)
            .build()
            .map_err(|e| match e {
                regex::Error::Syntax(msg) => format!("invalid regexp `{source}`: {}", last_line(&msg)),
                regex::Error::CompiledTooBig(limit) => {
                    format!("regexp `{source}` compiles larger than {limit} bytes")
                }
                other => format!("invalid regexp `{source}`: {other}"),
            })?;
        let hir = regex_syntax::ParserBuilder::new()
            .utf8(false)
            .build()
            .parse(&translated)
            .ok();
        Ok(Self {
            source: source.to_owned(),
            translated,
            regex,
            hir,
        })
    }

    /// The pattern as written in the rule.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The pattern in the `regex` crate's syntax, with the same meaning.
    pub(crate) fn translated(&self) -> &str {
        &self.translated
    }

    /// Whether the pattern matches anywhere in `haystack`.
    pub fn is_match(&self, haystack: &[u8]) -> bool {
        self.regex.is_match(haystack)
    }

    /// The literals one of which starts every match, when every match is anchored at the start of
    /// the haystack (`^` or `\A`) and the set is small. `None` means "could start with anything".
    pub(crate) fn required_prefixes(&self) -> Option<Vec<Vec<u8>>> {
        self.required_literals(ExtractKind::Prefix, Look::Start)
    }

    /// Like [`required_prefixes`](Self::required_prefixes), for the end of the haystack (`$`, `\z`).
    pub(crate) fn required_suffixes(&self) -> Option<Vec<Vec<u8>>> {
        self.required_literals(ExtractKind::Suffix, Look::End)
    }

    fn required_literals(&self, kind: ExtractKind, anchor: Look) -> Option<Vec<Vec<u8>>> {
        let hir = self.hir.as_ref()?;
        let props = hir.properties();
        let anchored = match kind {
            ExtractKind::Prefix => props.look_set_prefix().contains(anchor),
            _ => props.look_set_suffix().contains(anchor),
        };
        if !anchored {
            return None;
        }
        let seq = Extractor::new().kind(kind).extract(hir);
        let literals = seq.literals()?;
        Some(literals.iter().map(|l| l.as_bytes().to_vec()).collect())
    }
}

impl fmt::Debug for GoRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GoRegex").field(&self.source).finish()
    }
}

impl PartialEq for GoRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for GoRegex {}

fn last_line(msg: &str) -> &str {
    msg.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .map_or(msg, |l| l.trim_start_matches("error:").trim())
}

/// Rewrites a Go pattern into a `regex`-crate pattern with the same meaning.
pub(crate) fn translate(go: &str) -> String {
    let chars: Vec<char> = go.chars().collect();
    let mut out = String::with_capacity(go.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        i = match chars[i] {
            '\\' => translate_escape(&chars, i, &mut out),
            '[' => translate_class(&chars, i, &mut out),
            '{' if starts_repetition(&chars[i..]) => copy_repetition(&chars, i, &mut out),
            '{' => {
                out.push_str("\\{");
                i + 1
            }
            '}' => {
                out.push_str("\\}");
                i + 1
            }
            c => {
                out.push(c);
                i + 1
            }
        };
    }
    out
}

/// Copies the counted repetition at `chars[start] == '{'` whole, so that its `}` is not escaped;
/// returns the index after it.
fn copy_repetition(chars: &[char], start: usize, out: &mut String) -> usize {
    out.push('{');
    let mut i = start + 1;
    while i < chars.len() && chars[i] != '}' {
        out.push(chars[i]);
        i += 1;
    }
    if i < chars.len() {
        out.push('}');
        i += 1;
    }
    i
}

/// Translates the escape at `chars[i] == '\\'` outside a class; returns the index after it.
fn translate_escape(chars: &[char], i: usize, out: &mut String) -> usize {
    let Some(&next) = chars.get(i + 1) else {
        out.push('\\');
        return i + 1;
    };
    if let Some(ascii) = ascii_escape(next) {
        out.push_str(ascii);
        return i + 2;
    }
    match next {
        'Q' => translate_quoted(chars, i, out),
        'p' | 'P' | 'x' if chars.get(i + 2) == Some(&'{') => copy_braced_escape(chars, i, out),
        other => {
            out.push('\\');
            out.push(other);
            i + 2
        }
    }
}

/// Copies `\p{Greek}` or `\x{263a}` at `chars[i]` whole, so that its braces are not taken for literals;
/// returns the index after it.
fn copy_braced_escape(chars: &[char], i: usize, out: &mut String) -> usize {
    let end = chars[i..]
        .iter()
        .position(|&c| c == '}')
        .map_or(chars.len(), |p| i + p + 1);
    out.extend(&chars[i..end]);
    end
}

/// The ASCII-only meaning Go gives `\d \D \w \W \s \S \b \B`, spelled for the `regex` crate (where
/// they are Unicode-aware).
fn ascii_escape(next: char) -> Option<&'static str> {
    match next {
        'd' => Some("[0-9]"),
        'D' => Some("[^0-9]"),
        'w' => Some("[0-9A-Za-z_]"),
        'W' => Some("[^0-9A-Za-z_]"),
        's' => Some(r"[\t\n\x0C\r ]"),
        'S' => Some(r"[^\t\n\x0C\r ]"),
        'b' => Some(r"(?-u:\b)"),
        'B' => Some(r"(?-u:\B)"),
        _ => None,
    }
}

/// Translates `\Q...\E` at `chars[i]` (the text between taken literally, up to the end when there is no
/// `\E`); returns the index after it.
fn translate_quoted(chars: &[char], i: usize, out: &mut String) -> usize {
    let rest: String = chars[i + 2..].iter().collect();
    let (quoted, consumed) = match rest.find("\\E") {
        Some(end) => (&rest[..end], rest[..end].chars().count() + 2),
        None => (rest.as_str(), rest.chars().count()),
    };
    out.push_str(&regex_syntax::escape(quoted));
    i + 2 + consumed
}

/// Translates a bracket class starting at `chars[i] == '['`; returns the index after it.
fn translate_class(chars: &[char], start: usize, out: &mut String) -> usize {
    let mut i = class_opening(chars, start, out);
    while i < chars.len() {
        if chars[i] == ']' {
            out.push(']');
            return i + 1;
        }
        i = translate_class_member(chars, i, out);
    }
    chars.len()
}

/// Copies the opening of the class at `chars[start] == '['`: the bracket, its negation, and a `]`
/// right after them; returns the index after it.
fn class_opening(chars: &[char], start: usize, out: &mut String) -> usize {
    let mut i = start + 1;
    out.push('[');
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    // A `]` right after the opening (or the negation) is a literal in both dialects.
    if chars.get(i) == Some(&']') {
        out.push_str("\\]");
        i += 1;
    }
    i
}

/// Translates the class member at `chars[i]` (not the closing `]`); returns the index after it.
fn translate_class_member(chars: &[char], i: usize, out: &mut String) -> usize {
    match chars[i] {
        '[' if chars.get(i + 1) == Some(&':') => copy_posix_class(chars, i, out),
        '\\' => translate_class_escape(chars, i, out),
        c @ ('[' | '&' | '~') => {
            out.push('\\');
            out.push(c);
            i + 1
        }
        '-' if out.ends_with('-') => {
            out.push_str("\\-");
            i + 1
        }
        c => {
            out.push(c);
            i + 1
        }
    }
}

/// Copies a POSIX class such as `[:alpha:]` at `chars[i]` (same syntax in both dialects); returns the
/// index after it.
fn copy_posix_class(chars: &[char], i: usize, out: &mut String) -> usize {
    let end = (i + 2..chars.len().saturating_sub(1))
        .find(|&j| chars[j] == ':' && chars[j + 1] == ']')
        .map_or(chars.len(), |j| j + 2);
    out.extend(&chars[i..end]);
    end
}

/// Translates the escape at `chars[i] == '\\'` inside a class; returns the index after it.
fn translate_class_escape(chars: &[char], i: usize, out: &mut String) -> usize {
    let Some(&next) = chars.get(i + 1) else {
        out.push('\\');
        return chars.len();
    };
    match next {
        'd' => out.push_str("0-9"),
        'w' => out.push_str("0-9A-Za-z_"),
        's' => out.push_str(r"\t\n\x0C\r "),
        'D' => out.push_str("[^0-9]"),
        'W' => out.push_str("[^0-9A-Za-z_]"),
        'S' => out.push_str(r"[^\t\n\x0C\r ]"),
        other => {
            out.push('\\');
            out.push(other);
        }
    }
    i + 2
}

/// Whether `chars` (starting at a `{`) is a counted repetition `{n}`, `{n,}` or `{n,m}`.
fn starts_repetition(chars: &[char]) -> bool {
    let Some(end) = chars.iter().position(|&c| c == '}') else {
        return false;
    };
    let body: String = chars[1..end].iter().collect();
    let mut parts = body.splitn(2, ',');
    let min = parts.next().unwrap_or_default();
    let is_number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    is_number(min) && parts.next().is_none_or(|max| max.is_empty() || is_number(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, haystack: &str) -> bool {
        GoRegex::new(pattern).unwrap().is_match(haystack.as_bytes())
    }

    #[test]
    fn perl_classes_are_ascii_only() {
        assert!(matches(r"^\d+$", "2024"));
        assert!(!matches(r"^\d+$", "٢٠٢٤"));
        assert!(!matches(r"^\w+$", "café"));
        assert!(matches(r"^\W$", "é"));
        assert!(!matches(r"^\s$", "\u{a0}"));
        assert!(!matches(r"^\s$", "\u{b}"), "Go's \\s has no vertical tab");
        assert!(matches(r"^[\d.]+$", "1.2.3"));
        assert!(matches(r"^[^\D]$", "7"));
        assert!(!matches(r"^[\w]$", "é"));
    }

    #[test]
    fn unanchored_like_go() {
        assert!(matches("/api", "/v1/api/x"));
        assert!(!matches("^/api", "/v1/api/x"));
    }

    #[test]
    fn literal_braces_and_class_punctuation() {
        assert!(matches("^/users/{id}$", "/users/{id}"));
        assert!(matches("^a{2}$", "aa"));
        assert!(matches("^a{2,}$", "aaa"));
        assert!(matches("^x{1,3}y$", "xxy"));
        assert!(matches("^[a&&b]$", "&"));
        assert!(matches("^[[]$", "["));
        assert!(matches("^[]a]$", "]"));
        assert!(matches("^[~~]$", "~"));
        assert!(matches("^[+--]$", ","));
        assert!(matches("^[[:digit:]x]+$", "1x2"));
        assert!(matches(r"^\p{Greek}+$", "αβ"));
        assert!(matches(r"^\x{41}$", "A"));
    }

    #[test]
    fn quoted_sections() {
        assert!(matches(r"^\Q/a.b*\E$", "/a.b*"));
        assert!(!matches(r"^\Q/a.b\E$", "/axb"));
        assert!(matches(r"^\Q(unclosed", "(unclosed"));
    }

    #[test]
    fn word_boundaries_are_ascii() {
        assert!(matches(r"\bapi\b", "/api/"));
        assert!(matches(r"\bapi", "éapi"), "é is not a word character in Go");
    }

    #[test]
    fn errors_name_the_pattern() {
        let err = GoRegex::new("(unclosed").unwrap_err();
        assert!(err.starts_with("invalid regexp `(unclosed`: "), "{err}");
        assert!(err.contains("unclosed group"), "{err}");
    }

    #[test]
    fn anchored_literals_are_extracted() {
        let re = GoRegex::new(r"^/api/v[12]/").unwrap();
        let mut prefixes = re.required_prefixes().unwrap();
        prefixes.sort();
        assert_eq!(prefixes, vec![b"/api/v1/".to_vec(), b"/api/v2/".to_vec()]);
        assert_eq!(GoRegex::new("/api").unwrap().required_prefixes(), None);
        assert_eq!(GoRegex::new("^/a|/b").unwrap().required_prefixes(), None);

        let host = GoRegex::new(r"^[a-z]+\.example\.com$").unwrap();
        assert_eq!(host.required_suffixes(), Some(vec![b".example.com".to_vec()]));
        assert_eq!(GoRegex::new(r"\.example\.com").unwrap().required_suffixes(), None);
    }
}
