//! `metric_names` processor (being written).
