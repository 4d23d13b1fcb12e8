//! The `idbulk` command line.
fn main() {}
