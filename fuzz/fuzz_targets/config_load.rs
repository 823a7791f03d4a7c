//! Arbitrary bytes into the configuration loaders: every format must answer with a value or an error,
//! never a panic, and an error must point inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_config::{DynamicConfig, Format, ParseError, StaticConfig, load_str};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // YAML also breaks lines at a lone `\r`, so count both kinds of break for the bound.
    let lines = 1 + text.bytes().filter(|&b| b == b'\n' || b == b'\r').count();
    for format in [Format::Yaml, Format::Toml, Format::Json] {
        let errors = [
            load_str::<DynamicConfig>(text, format, "fuzz").err(),
            load_str::<StaticConfig>(text, format, "fuzz").err(),
        ];
        for err in errors.iter().flatten() {
            check_position(err, format, lines);
        }
    }
});

fn check_position(err: &ParseError, format: Format, lines: usize) {
    if let Some((line, column)) = err.position {
        assert!(line >= 1 && column >= 1, "{format:?}: position {line}:{column}");
        assert!(line <= lines + 1, "{format:?}: line {line} beyond the input");
    }
}
