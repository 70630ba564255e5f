//! `delta_to_cumulative` processor (being written).
