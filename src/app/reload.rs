//! SIGHUP: re-reads the config file; an invalid one is rejected (logged like `validate`) and
//! nothing changes; a valid one gets a new graph behind the same listeners. Unchanged
//! exporters (and every persistent one) keep running with their queued data; the others drain
//! in the background; every receiver's routes and limiters are swapped at once; the old
//! graph's batch stages flush into the old queues before its pipelines go.

use super::builder::{self, Graph};
use super::generation::Generation;
use super::{start_exporters, LiveExporter, State};
use crate::config::{self, Validated};
use crate::exporters::queue::QueueSender;
use crate::exporters::ExporterConfig;
use crate::telemetry::metrics::SelfMetrics;
use std::collections::BTreeMap;
use std::path::Path;

/// Reloads the config at `path` into `st` (the embedded default config has nothing to re-read).
pub async fn reload(path: Option<&Path>, st: &mut State, metrics: &SelfMetrics) {
    let Some(path) = path else {
        tracing::info!(
            "SIGHUP: running with the embedded default config (no --config file): nothing to re-read"
        );
        return;
    };
    tracing::info!(config = %path.display(), "SIGHUP: reloading the config");
    let validated = match config::load_file(Some(path), &config::process_env) {
        Ok(v) => v,
        Err(e) => {
            for line in e.lines() {
                if line.starts_with("warning") {
                    tracing::warn!("{line}");
                } else {
                    tracing::error!("{line}");
                }
            }
            return reject();
        }
    };
    for w in &validated.warnings {
        tracing::warn!(path = %w.path, "{}", w.message);
    }
    let reuse = reusable(&st.exporters, &validated.config.exporters);
    let graph = match builder::build(&validated, metrics, &reuse, st.generation.connectors()) {
        Ok(g) => g,
        Err(e) => {
            tracing::error!("error: {e}");
            return reject();
        }
    };
    warn_receiver_changes(st, &graph);
    swap(st, graph, validated, &reuse).await;
    tracing::info!("config reloaded");
}

fn reject() {
    tracing::error!("config reload rejected: the running pipelines are unchanged");
}

/// Exporters kept as they are: unchanged ones (their queued data stays where it is), and every
/// persistent one (its queue file is open; it cannot be opened twice).
fn reusable(
    running: &BTreeMap<String, LiveExporter>,
    new: &BTreeMap<String, ExporterConfig>,
) -> BTreeMap<String, QueueSender> {
    let persistent = |c: &ExporterConfig| c.get().sending_queue().storage.is_some();
    let mut reuse = BTreeMap::new();
    for (id, e) in running {
        let Some(c) = new.get(id) else {
            continue;
        };
        if *c == e.config {
            reuse.insert(id.clone(), e.sender.clone());
        } else if persistent(&e.config) && persistent(c) {
            tracing::warn!(
                exporter = %id,
                "the exporter has a persistent queue: it keeps running with its old settings; \
                 changes to it need a restart"
            );
            reuse.insert(id.clone(), e.sender.clone());
        }
    }
    reuse
}

/// Listeners stay: changes to them are reported, not applied.
fn warn_receiver_changes(st: &State, graph: &Graph) {
    for plan in &graph.receivers {
        match st.receivers.get(&plan.id) {
            None => tracing::warn!(
                receiver = %plan.id,
                "the receiver is not running: starting it needs a restart"
            ),
            Some((old, _)) if *old != plan.config => tracing::warn!(
                receiver = %plan.id,
                "receiver changes (endpoints, protocols, TLS, auth) need a restart: the running \
                 listeners stay as they are"
            ),
            Some(_) => {}
        }
    }
}

/// Starts the new exporters, swaps every receiver's routes at once, retires the old graph.
async fn swap(
    st: &mut State,
    graph: Graph,
    validated: Validated,
    reuse: &BTreeMap<String, QueueSender>,
) {
    let new = validated.config;
    let mut fresh = BTreeMap::new();
    start_exporters(graph.exporters, &new, &mut fresh);
    let generation = Generation::start(graph.batching, graph.limiters, graph.connectors);
    let mut plans: BTreeMap<String, _> = graph
        .receivers
        .into_iter()
        .map(|p| (p.id.clone(), (p.routes, p.admission)))
        .collect();
    let mut old_routes = Vec::new();
    for (id, (_, shared)) in &st.receivers {
        let (routes, admission) = plans.remove(id).unwrap_or_else(|| {
            tracing::warn!(receiver = %id, "no pipeline uses the receiver any more: its requests are refused");
            Default::default()
        });
        old_routes.push(shared.entry.swap(routes, admission));
    }
    // Retire the old graph: its batch stages flush into the old queues, then its pipelines go.
    let old_generation = std::mem::replace(&mut st.generation, generation);
    old_generation.stop().await;
    drop(old_routes);
    let retired: Vec<LiveExporter> = st
        .exporters
        .keys()
        .filter(|id| !reuse.contains_key(*id))
        .cloned()
        .collect::<Vec<_>>()
        .into_iter()
        .filter_map(|id| st.exporters.remove(&id))
        .collect();
    st.exporters.append(&mut fresh);
    if !retired.is_empty() {
        let ids: Vec<_> = retired.iter().map(|e| e.running.id.clone()).collect();
        tracing::info!(exporters = ?ids, "old exporters drain their queues in the background");
        let deadline = new.service.shutdown_timeout.0;
        st.retiring.spawn(super::shutdown::drain(retired, deadline));
    }
    for line in &graph.summary {
        tracing::info!("{line}");
    }
    st.cfg = new;
}
