//! credential (being written).
