//! git (being written).
