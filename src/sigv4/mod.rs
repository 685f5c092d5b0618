//! sigv4 (being written).
