//! A damaged persistent-queue file never stops the gateway: for every kind of damage (truncated
//! to half or to 4 KiB, pages overwritten in the middle or at the end, bytes appended, random
//! bit flips, zero length, the file gone after a crash) the gateway starts, answers `/readyz`,
//! accepts and delivers new data, and counts what it lost: the file is moved aside
//! (`<file>.corrupt-<seconds>`, `gateway_exporter_queue_damaged_files_total`,
//! `..._damaged_bytes_total`), records still readable are delivered, lost ones are counted
//! (`gateway_exporter_queue_corrupt_records_total`) when the file still says how many it held.
//!
//! `scripts/soak queue-damage` runs the random bit flips for minutes, a new seed per round.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::delivery::{
    base_logs, expect_log_ids, exporter_series, log_ids, log_ids_of, metric, post_tagged_logs,
};
use crate::support::backends::FakeBackend;
use crate::support::fixtures;
use crate::support::gateway::{free_port, Gateway};

const EXPORTER: &str = "otlphttp/queued";
const FILE: &str = "otlphttp_queued.redb";
/// Requests stored before the damage.
const STORED: usize = 120;

/// How the file is damaged between the two runs.
#[derive(Clone, Copy, Debug)]
enum Damage {
    TruncateHalf,
    TruncateTo4KiB,
    OverwriteMiddle,
    OverwriteEnd,
    Append,
    Flips(u64),
    ZeroLength,
    Delete,
}

impl Damage {
    fn apply(self, path: &Path) {
        let mut raw = std::fs::read(path).expect("queue file");
        let page = |at: usize| at / 4096 * 4096;
        match self {
            Damage::TruncateHalf => raw.truncate(raw.len() / 2),
            Damage::TruncateTo4KiB => raw.truncate(4096),
            Damage::OverwriteMiddle => {
                let at = page(raw.len() / 2);
                raw[at..at + 8192].fill(0xa5);
            }
            Damage::OverwriteEnd => {
                let at = page(raw.len() - 8192);
                raw[at..].fill(0x5a);
            }
            Damage::Append => raw.extend(std::iter::repeat_n(0x33, 10_000)),
            Damage::Flips(seed) => {
                let mut x = seed | 1;
                for _ in 0..64 {
                    // xorshift64: reproducible from the seed.
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let at = (x >> 8) as usize % raw.len();
                    raw[at] ^= 1 << (x % 8);
                }
            }
            Damage::ZeroLength => raw.clear(),
            Damage::Delete => {
                std::fs::remove_file(path).expect("remove");
                return;
            }
        }
        std::fs::write(path, raw).expect("write the damage");
    }
}

fn yaml(http_port: u16, admin_port: u16, backend_port: u16, dir: &Path) -> String {
    format!(
        r#"receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:{http_port}" }} }} }}
exporters:
  {EXPORTER}:
    endpoint: http://127.0.0.1:{backend_port}
    retry_on_failure: {{ initial_interval: 50ms, max_interval: 500ms, max_elapsed_time: 300s }}
    sending_queue: {{ queue_size: 10000, storage: {{ directory: "{}" }} }}
service:
  shutdown_timeout: 1s
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin_port}" }} }}
  pipelines:
    logs: {{ receivers: [otlp], exporters: [{EXPORTER}] }}
"#,
        dir.display()
    )
}

fn moved_aside(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains(".corrupt-"))
        .collect()
}

/// What a start after the damage counted and delivered.
#[derive(Debug)]
struct Outcome {
    damaged_files: f64,
    recovered_requests: usize,
    lost_records: f64,
}

/// Stores [`STORED`] requests with the backend down, stops the gateway (SIGKILL when `crash`),
/// damages the file, starts again with the backend up, and checks the start.
async fn survives(damage: Damage, crash: bool) -> Outcome {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (http_port, admin_port, backend_port) = (free_port(), free_port(), free_port());
    let config = yaml(http_port, admin_port, backend_port, dir.path());
    let mut gw = Gateway::start(&config, &[http_port, admin_port]).await;
    for i in 0..STORED {
        assert_eq!(post_tagged_logs(http_port, i).await, 200, "request {i}");
    }
    if crash {
        gw.kill();
    } else {
        assert!(gw.stop().await.success(), "{}", gw.output_report());
    }
    let path = dir.path().join(FILE);
    let size_before = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    damage.apply(&path);
    let damaged_size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);

    let backend = FakeBackend::http_on(backend_port).await;
    let mut gw = Gateway::start(&config, &[http_port, admin_port]).await;
    // Ready once the queue file is recovered (a loaded machine may take a moment).
    let mut ready = 0;
    for _ in 0..100 {
        ready = reqwest::get(format!("http://127.0.0.1:{admin_port}/readyz"))
            .await
            .expect("readyz")
            .status()
            .as_u16();
        if ready == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(ready, 200, "{damage:?}: ready");
    // New data is accepted and delivered.
    let records = fixtures::count_log_records(&[base_logs()]);
    let fresh: HashSet<String> = (STORED..STORED + 3)
        .flat_map(|i| log_ids_of(i, records))
        .collect();
    for i in STORED..STORED + 3 {
        assert_eq!(
            post_tagged_logs(http_port, i).await,
            200,
            "{damage:?}: new data"
        );
    }
    expect_log_ids(&backend, &fresh, Duration::from_secs(30)).await;

    let series = |stem: &str| exporter_series(stem, EXPORTER);
    let damaged_files = metric(
        admin_port,
        &series("gateway_exporter_queue_damaged_files_total"),
    )
    .await;
    let damaged_bytes = metric(
        admin_port,
        &series("gateway_exporter_queue_damaged_bytes_total"),
    )
    .await;
    let lost_records = metric(
        admin_port,
        &series("gateway_exporter_queue_corrupt_records_total"),
    )
    .await;
    let recovered_items = metric(
        admin_port,
        &series("gateway_exporter_queue_recovered_log_records_total"),
    )
    .await as usize;
    assert_eq!(recovered_items % records, 0, "whole requests");
    let recovered_requests = recovered_items / records;
    // What was recovered arrives, and is what was stored.
    let stored: HashSet<String> = (0..STORED).flat_map(|i| log_ids_of(i, records)).collect();
    let old: HashSet<String> = log_ids(&backend.received_logs())
        .difference(&fresh)
        .cloned()
        .collect();
    assert!(
        old.is_subset(&stored),
        "{damage:?}: only stored records come back"
    );

    let outcome = Outcome {
        damaged_files,
        recovered_requests,
        lost_records,
    };
    eprintln!(
        "{damage:?} (crash: {crash}; {size_before} → {damaged_size} bytes): {outcome:?}; \
         {} of {STORED} stored requests delivered",
        old.len() / records
    );
    assert!(
        recovered_requests + lost_records as usize <= STORED,
        "{damage:?}: {outcome:?}"
    );
    if damaged_files > 0.0 {
        let aside = moved_aside(dir.path());
        if !matches!(damage, Damage::Delete) {
            assert_eq!(aside.len(), 1, "{damage:?}: the damaged file is kept");
            assert_eq!(damaged_bytes as u64, damaged_size, "{damage:?}");
            let name = aside[0].file_name().unwrap_or_default().to_string_lossy();
            assert!(
                gw.stderr().contains("ERROR") && gw.stderr().contains(name.as_ref()),
                "{damage:?}: an ERROR names the moved file {name}\n{}",
                gw.stderr()
            );
        }
    } else {
        assert_eq!(
            recovered_requests, STORED,
            "{damage:?}: undetected damage must not lose anything: {outcome:?}"
        );
    }
    let expected: HashSet<String> = old.iter().cloned().collect();
    expect_log_ids(&backend, &expected, Duration::from_secs(30)).await;
    assert!(gw.stop().await.success(), "{}", gw.output_report());
    outcome
}

/// The damage is detected: the file is moved aside and counted.
async fn detected(damage: Damage, crash: bool) -> Outcome {
    let outcome = survives(damage, crash).await;
    assert_eq!(outcome.damaged_files, 1.0, "{damage:?}: {outcome:?}");
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_file_truncated_to_half_is_moved_aside_counted_and_the_gateway_serves() {
    detected(Damage::TruncateHalf, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_file_truncated_to_4_kib_after_a_crash_is_moved_aside_counted_and_the_gateway_serves(
) {
    detected(Damage::TruncateTo4KiB, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_overwritten_mid_file_lose_only_what_they_held_and_the_rest_is_delivered() {
    let outcome = detected(Damage::OverwriteMiddle, false).await;
    assert!(
        outcome.recovered_requests > 0 && outcome.lost_records > 0.0,
        "records outside the overwritten pages are salvaged: {outcome:?}"
    );
    assert_eq!(
        outcome.recovered_requests + outcome.lost_records as usize,
        STORED,
        "every stored record is delivered or counted as lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_overwritten_at_the_end_after_a_crash_start_and_lose_nothing_uncounted() {
    survives(Damage::OverwriteEnd, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_appended_to_a_queue_file_are_detected_counted_and_the_gateway_serves() {
    detected(Damage::Append, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bit_flips_in_a_queue_file_start_and_lose_nothing_uncounted() {
    let mut rounds = crate::support::soak::Rounds::new(2);
    while rounds.next() {
        let seed = 0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(rounds.done() as u64);
        survives(Damage::Flips(seed), rounds.done().is_multiple_of(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_queue_file_is_counted_and_the_gateway_serves() {
    detected(Damage::ZeroLength, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_file_missing_after_a_crash_is_counted_and_the_gateway_serves() {
    let outcome = detected(Damage::Delete, true).await;
    assert_eq!(outcome.recovered_requests, 0);
}
