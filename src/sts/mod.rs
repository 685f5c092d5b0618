//! sts (being written).
