//! Import: placeholder, being written.
