//! A persistent queue on a full disk: new data is refused with 503 (and an error log), what was
//! stored stays intact and is delivered once a backend is reachable; once space returns, intake
//! resumes by itself, and the deletes of what was delivered meanwhile were committed, so a
//! restart sends nothing twice.
//!
//! `scripts/soak disk-full` repeats the fill / free cycle for minutes.

use crate::delivery::{
    base_logs, expect_log_ids, exporter_series, log_ids, log_ids_of, metric, post_tagged_logs,
};
use crate::support::backends::FakeBackend;
use crate::support::fixtures;
use crate::support::gateway::{self, free_port, Gateway};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A 3 MiB tmpfs, unmounted on drop.
struct TinyDisk(tempfile::TempDir);

impl TinyDisk {
    /// Fills what is left of the disk with a file; returns it.
    fn fill(&self) -> PathBuf {
        let path = self.0.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("create the filler");
        let chunk = vec![0x42u8; 16 * 1024];
        while file.write_all(&chunk).is_ok() {}
        // The last partial chunk.
        for _ in 0..16 * 1024 {
            if file.write_all(&[0x42]).is_err() {
                break;
            }
        }
        let _ = file.sync_all();
        path
    }

    fn mount() -> TinyDisk {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test needs root to mount a small tmpfs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        TinyDisk(dir)
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_new_data_with_503_and_keeps_what_was_stored() {
    let disk = TinyDisk::mount();
    let backend_port = free_port();
    let (http_port, admin_port) = (free_port(), free_port());
    let yaml = format!(
        r#"receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:{http_port}" }} }} }}
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:{backend_port}
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 120s }}
    sending_queue: {{ storage: {{ directory: "{}" }} }}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin_port}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlphttp] }}
"#,
        disk.0.path().display()
    );
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let f = fixtures::fixture("tool-secrets-protobuf", "001_traces.pb");
    let spans = fixtures::count_spans(&[fixtures::decode_traces(&f)]);
    let base = format!("http://127.0.0.1:{http_port}");
    let (mut acked, mut refused) = (0usize, 0usize);
    for _ in 0..60 {
        let (status, _, _) = gateway::post_fixture(&base, &f).await;
        match status {
            200 => acked += 1,
            503 => refused += 1,
            other => panic!("unexpected status {other}"),
        }
        if refused >= 3 {
            break;
        }
    }
    assert!(acked > 0, "some data fits on the disk");
    assert!(
        refused >= 3,
        "a full disk refuses new data ({acked} acknowledged)"
    );
    assert!(
        gw.wait_for_output("persistent queue write failed", Duration::from_secs(5))
            .await,
        "an error is logged:\n{}",
        gw.stderr()
    );
    // The backend comes up: everything acknowledged arrives; the stored data was not damaged.
    let backend = FakeBackend::http_on(backend_port).await;
    backend
        .expect_spans(acked * spans, Duration::from_secs(60))
        .await;
    assert!(gw.stop().await.success());
    drop(disk);
}

fn recovering_yaml(http_port: u16, admin_port: u16, backend_port: u16, dir: &Path) -> String {
    format!(
        r#"receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:{http_port}" }} }} }}
exporters:
  otlphttp/disk:
    endpoint: http://127.0.0.1:{backend_port}
    retry_on_failure: {{ initial_interval: 50ms, max_interval: 500ms, max_elapsed_time: 300s }}
    sending_queue: {{ storage: {{ directory: "{}", recovery_interval: 100ms }} }}
service:
  shutdown_timeout: 5s
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin_port}" }} }}
  pipelines:
    logs: {{ receivers: [otlp], exporters: [otlphttp/disk] }}
"#,
        dir.display()
    )
}

/// The backend is up; the disk fills (a filler file takes the rest of it) and empties again, once
/// per round (CI: 2 rounds). While it is full, requests are refused with 503 and the failure is
/// logged once per episode but counted per attempt; once the filler is gone, requests are
/// acknowledged again without a restart. Every acknowledged record arrives exactly once, and a
/// restart reloads nothing: the deletes of delivered batches were committed despite the errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_resumes_by_itself_once_space_returns_and_a_restart_sends_nothing_twice() {
    let disk = TinyDisk::mount();
    let backend = FakeBackend::http().await;
    let (http_port, admin_port) = (free_port(), free_port());
    let yaml = recovering_yaml(http_port, admin_port, backend.port(), disk.0.path());
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let records = fixtures::count_log_records(&[base_logs()]);
    let (mut next, mut acked) = (0usize, Vec::new());
    let mut rounds = crate::support::soak::Rounds::new(2);
    while rounds.next() {
        for _ in 0..5 {
            assert_eq!(
                post_tagged_logs(http_port, next).await,
                200,
                "before the disk fills"
            );
            acked.push(next);
            next += 1;
        }
        // The backend fails for a while, so the queue file has to grow; the disk fills.
        backend.set_status(Some(503));
        let filler = disk.fill();
        // Full: refused (a batch may still squeeze into free pages of the file).
        let mut refused = 0;
        let deadline = Instant::now() + Duration::from_secs(20);
        while refused < 20 {
            assert!(
                Instant::now() < deadline,
                "the full disk never refused data"
            );
            match post_tagged_logs(http_port, next).await {
                200 => acked.push(next),
                503 => refused += 1,
                other => panic!("unexpected status {other}"),
            }
            next += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The backend recovers while the disk is still full: the queue drains, and the deletes
        // of what it delivered are committed (into free pages) or kept for later.
        backend.set_status(None);
        let so_far: HashSet<String> = acked.iter().flat_map(|&i| log_ids_of(i, records)).collect();
        expect_log_ids(&backend, &so_far, Duration::from_secs(60)).await;
        // Space returns: intake resumes without a restart.
        std::fs::remove_file(&filler).expect("free the space");
        let freed = Instant::now();
        loop {
            let status = post_tagged_logs(http_port, next).await;
            if status == 200 {
                acked.push(next);
                next += 1;
                break;
            }
            next += 1;
            assert!(
                freed.elapsed() < Duration::from_secs(20),
                "round {}: intake did not resume within 20 s of freeing space\n{}",
                rounds.done(),
                gw.output_report()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!(
            "round {}: {refused} refused while full; intake resumed {:?} after space returned",
            rounds.done(),
            freed.elapsed()
        );
    }
    let expected: HashSet<String> = acked.iter().flat_map(|&i| log_ids_of(i, records)).collect();
    expect_log_ids(&backend, &expected, Duration::from_secs(60)).await;
    let series = |stem: &str| exporter_series(stem, "otlphttp/disk");
    let failures = metric(
        admin_port,
        &series("gateway_exporter_queue_write_failures_total"),
    )
    .await;
    let logged = gw.stderr().matches("persistent queue write failed").count();
    let resumed = gw
        .stderr()
        .matches("persistent queue writable again")
        .count();
    eprintln!("{failures} failed commits, {logged} logged; {resumed} recoveries logged");
    assert_eq!(
        logged,
        rounds.done(),
        "one ERROR per episode (each under 10 s)"
    );
    assert_eq!(resumed, rounds.done(), "{}", gw.output_report());
    assert!(
        failures > logged as f64,
        "failures are counted, not all logged"
    );
    assert!(gw.stop().await.success(), "{}", gw.output_report());

    let before = backend.log_record_count();
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let recovered = metric(
        admin_port,
        &series("gateway_exporter_queue_recovered_log_records_total"),
    )
    .await;
    assert_eq!(
        recovered, 0.0,
        "every delivered batch was deleted: nothing to send again"
    );
    assert_eq!(
        post_tagged_logs(http_port, next).await,
        200,
        "after the restart"
    );
    let last: HashSet<String> = log_ids_of(next, records).collect();
    expect_log_ids(&backend, &last, Duration::from_secs(30)).await;
    let received = backend.log_record_count();
    assert_eq!(
        received,
        before + records,
        "nothing but the new request after the restart"
    );
    let unique = log_ids(&backend.received_logs()).len();
    assert_eq!(received, unique, "no duplicates at all");
    assert!(gw.stop().await.success(), "{}", gw.output_report());
    drop(disk);
}
