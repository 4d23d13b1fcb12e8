//! Demo data: placeholder.
