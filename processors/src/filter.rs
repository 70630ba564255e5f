//! `filter` processor (being written).
