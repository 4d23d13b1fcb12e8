//! Any bytes named `f.xlsx`: the import sniffs the real format (xlsx, xls, ods, CSV, or a
//! refusal) and must return rows or an error, never panic, hang or exhaust memory; what it
//! reads is then planned against the demo organisation.

#![no_main]

use idbulk::import::{CsvOptions, read_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let demo = idbulk_fuzz::demo();
    if let Ok(workbook) = read_bytes("f.xlsx", data, &CsvOptions::default()) {
        idbulk_fuzz::plan_and_check(demo, &demo.snapshot, &workbook);
    }
});
