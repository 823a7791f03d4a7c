//! Arbitrary request targets through an entrypoint's path cleaning (normalization, `sanitizePath`,
//! query semicolons): never a panic; cleaning is idempotent (a cleaned target cleans to itself and
//! holds no encoded character the original did not), so a path never routes differently from its
//! re-sanitisation;
//! a sanitized path holds no dot segment, no empty segment and no backslash.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use switchyard_proxy::fuzzing::clean_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    target: &'a str,
    sanitize: bool,
    encode_query_semicolons: bool,
}

fuzz_target!(|input: Input<'_>| {
    let Ok(uri) = input.target.parse::<http::Uri>() else {
        return;
    };
    let Ok((cleaned, found)) = clean_target(&uri, input.sanitize, input.encode_query_semicolons) else {
        return;
    };
    let again = clean_target(&cleaned, input.sanitize, input.encode_query_semicolons);
    let Ok((recleaned, found_again)) = again else {
        panic!("{uri} cleans to {cleaned}, which is refused: {again:?}");
    };
    assert_eq!(recleaned, cleaned, "cleaning {uri} is not idempotent");
    // The encoded characters are judged on the path as it came: one in a segment that `..` removed
    // is refused with the request, but is no longer in the cleaned path. None can appear.
    assert_eq!(
        found.with(found_again),
        found,
        "cleaning {uri} revealed encoded characters"
    );
    let path = cleaned.path();
    if input.sanitize && uri.path().starts_with('/') {
        assert!(path.starts_with('/'), "{uri} → {cleaned}");
        assert!(!path.contains('\\'), "{uri} → {cleaned}: a backslash left");
        let inner = path.strip_suffix('/').unwrap_or(path);
        for segment in inner.split('/').skip(1) {
            assert!(
                !matches!(segment, "" | "." | ".."),
                "{uri} → {cleaned}: segment {segment:?} left"
            );
        }
    }
    if let Some(query) = cleaned.query() {
        assert!(!query.contains(';'), "{uri} → {cleaned}: a `;` left in the query");
    }
});
