//! `codex-otel-gateway healthcheck`, the container HEALTHCHECK command, run as a process against
//! a real gateway's admin listener and against loopback sockets that misbehave: exit 0 only on
//! HTTP 200, exit 1 with a one-line reason on stderr otherwise, within its `--timeout`.

use crate::support::gateway::{free_port, Gateway, GATEWAY_BIN};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs `codex-otel-gateway healthcheck` with `args`.
fn healthcheck(args: &[&str]) -> Output {
    Command::new(GATEWAY_BIN)
        .arg("healthcheck")
        .args(args)
        .output()
        .expect("run codex-otel-gateway healthcheck")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A gateway with only the admin listener worth probing (a debug exporter, no backends).
fn admin_only_config(http_port: u16, admin_port: u16) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
exporters:
  debug:
    verbosity: basic
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin_port}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_zero_against_a_running_gateway() {
    let (http_port, admin_port) = (free_port(), free_port());
    let mut gw = Gateway::start(
        &admin_only_config(http_port, admin_port),
        &[http_port, admin_port],
    )
    .await;
    for path in ["/healthz", "/readyz"] {
        let url = format!("http://127.0.0.1:{admin_port}{path}");
        let out = healthcheck(&["--url", &url, "--timeout", "5s"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{url}: stderr {:?}\n{}",
            stderr(&out),
            gw.output_report()
        );
        assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    }
    // A path the admin listener does not serve is unhealthy (404), not a pass.
    let url = format!("http://127.0.0.1:{admin_port}/nope");
    let out = healthcheck(&["--url", &url]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("HTTP status 404"), "{}", stderr(&out));
    assert!(gw.stop().await.success(), "{}", gw.output_report());

    // The same URL once the gateway is gone: connection refused.
    let url = format!("http://127.0.0.1:{admin_port}/healthz");
    let out = healthcheck(&["--url", &url]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn healthcheck_exits_one_when_nothing_listens() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let out = healthcheck(&["--url", &url]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(
        err.contains(&url) && err.contains("refused"),
        "names the URL and the reason: {err:?}"
    );
}

#[test]
fn healthcheck_exits_one_on_a_non_200_status() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut request = Vec::new();
        let mut buf = [0u8; 512];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).expect("read request");
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        conn.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
            .expect("answer");
        String::from_utf8_lossy(&request).into_owned()
    });
    let out = healthcheck(&["--url", &format!("http://127.0.0.1:{port}/readyz")]);
    let request = server.join().expect("server thread");
    assert!(
        request.starts_with("GET /readyz HTTP/1.1\r\n"),
        "{request:?}"
    );
    assert!(
        request.contains(&format!("Host: 127.0.0.1:{port}\r\n")),
        "{request:?}"
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("HTTP status 503"), "{}", stderr(&out));
}

#[test]
fn healthcheck_gives_up_at_its_timeout_when_the_server_never_answers() {
    // Accepts (the kernel completes the handshake from the backlog) but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let started = Instant::now();
    let out = healthcheck(&[
        "--url",
        &format!("http://127.0.0.1:{port}/healthz"),
        "--timeout",
        "700ms",
    ]);
    let took = started.elapsed();
    drop(listener);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    assert!(
        took >= Duration::from_millis(650) && took < Duration::from_secs(5),
        "took {took:?}"
    );
}

#[test]
fn healthcheck_rejects_urls_it_cannot_check() {
    for (url, reason) in [
        ("https://127.0.0.1:8888/healthz", "only plain http://"),
        ("http:///healthz", "no host"),
    ] {
        let out = healthcheck(&["--url", url]);
        assert_eq!(out.status.code(), Some(1), "{url}");
        assert!(stderr(&out).contains(reason), "{url}: {}", stderr(&out));
    }
    // A malformed --timeout is a usage error (clap's exit 2), not a health verdict.
    let out = healthcheck(&["--timeout", "soon"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
