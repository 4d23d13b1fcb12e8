//! Any bytes as `User.csv`, read with connection settings taken from the first two bytes
//! (separator, lines to skip, encoding), then planned against the demo organisation.

#![no_main]

use idbulk::import::{CsvOptions, TextEncoding, read_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (settings, body) = match data {
        [a, b, rest @ ..] => ((*a, *b), rest),
        _ => ((0, 0), data),
    };
    let options = CsvOptions {
        separator: match settings.0 % 5 {
            0 => None,
            1 => Some(b','),
            2 => Some(b';'),
            3 => Some(b'\t'),
            _ => Some(settings.0),
        },
        skip_lines: usize::from(settings.1 % 4),
        encoding: match settings.1 / 4 % 3 {
            0 => None,
            1 => TextEncoding::parse("utf-8"),
            _ => TextEncoding::parse("windows-1252"),
        },
        entity_type: None,
    };
    let demo = idbulk_fuzz::demo();
    if let Ok(workbook) = read_bytes("User.csv", body, &options) {
        idbulk_fuzz::plan_and_check(demo, &demo.snapshot, &workbook);
    }
});
