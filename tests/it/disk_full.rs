//! A persistent queue on a full disk: new data is refused with 503 (and an error log), what was
//! stored stays intact and is delivered once a backend is reachable.

use crate::support::backends::FakeBackend;
use crate::support::fixtures;
use crate::support::gateway::{self, free_port, Gateway};
use std::process::Command;
use std::time::Duration;

/// A 3 MiB tmpfs, unmounted on drop.
struct TinyDisk(tempfile::TempDir);

impl TinyDisk {
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
