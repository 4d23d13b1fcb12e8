//! Templates: placeholder.
