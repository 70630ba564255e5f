//! `team` processor (being written).
