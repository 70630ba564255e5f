//! Hostile clients cannot lock out the others (issue 14): stalled request bodies and gRPC
//! streams hold no request slot and end at their read timeout; connections that send nothing,
//! or go idle, are closed on every port; running out of file descriptors makes the gateway back
//! off (logged once, no spinning) and recover. Each test measures normal clients' probes during
//! the attack: at least 90 % must succeed. Longer versions: `scripts/soak`.

use crate::support::fixtures;
use crate::support::gateway::{self, free_port, grpc_export_logs, Gateway};
use crate::support::soak::Rounds;
use crate::{start_fan_out, FanOut};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PB: &str = "application/x-protobuf";

fn logs_body() -> Vec<u8> {
    fixtures::fixture("tool-secrets-protobuf", "004_logs.pb").body
}

/// Probes `probe` every 50 ms for `during`; returns (succeeded, total).
async fn probe_while<F, Fut>(during: Duration, mut probe: F) -> (u32, u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let (mut ok, mut total) = (0, 0);
    let end = Instant::now() + during;
    while Instant::now() < end {
        total += 1;
        if tokio::time::timeout(Duration::from_secs(2), probe())
            .await
            .unwrap_or(false)
        {
            ok += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (ok, total)
}

/// Reads until the server closes the connection (or `limit` passes); returns what it sent, or
/// `None` if it stayed open.
async fn read_until_closed(sock: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()
    .map(|()| out)
}

/// The value of a metric line `name{labels} value` in a scrape, 0 when absent.
async fn metric(admin_port: u16, series: &str) -> f64 {
    let text = reqwest::get(format!("http://127.0.0.1:{admin_port}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_http_bodies_hold_no_slot_and_other_clients_keep_being_served() {
    let mut setup = start_fan_out(FanOut {
        http_extra: "        read_body_timeout: 2s",
        ..FanOut::default()
    })
    .await;
    let addr = format!("127.0.0.1:{}", setup.http_port);
    // One flood in CI; `scripts/soak listener-floods` repeats it for minutes.
    let mut rounds = Rounds::new(1);
    let mut floods = 0u32;
    while rounds.next() {
        floods += 1;
        // 300 uploads (more than the 256 request slots) that never finish: half chunked bodies
        // that never end, half Content-Length bodies trickled a byte at a time.
        let mut stalled = Vec::new();
        let mut trickled = Vec::new();
        for i in 0..300 {
            let mut sock = TcpStream::connect(&addr).await.expect("connect");
            let head = if i % 2 == 0 {
                "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc"
            } else {
                "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100000\r\n\r\na"
            };
            sock.write_all(head.as_bytes()).await.expect("headers");
            if i % 2 == 0 {
                stalled.push(sock);
            } else {
                trickled.push(sock);
            }
        }
        let trickle = {
            let mut socks = trickled;
            tokio::spawn(async move {
                for _ in 0..6 {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    for s in socks.iter_mut() {
                        let _ = s.write_all(b"b").await;
                    }
                }
                socks
            })
        };
        let logs = format!("{}/v1/logs", setup.http_base());
        let body = logs_body();
        let (ok, total) = probe_while(Duration::from_secs(3), || {
            let (logs, body) = (logs.clone(), body.clone());
            async move { gateway::post(&logs, PB, None, body).await.0 == 200 }
        })
        .await;
        assert!(
            ok * 10 >= total * 9,
            "only {ok} of {total} probes succeeded"
        );
        // Every stalled upload is answered 408 and closed once read_body_timeout has passed.
        let mut trickled = trickle.await.expect("trickle task");
        stalled.append(&mut trickled);
        let mut answers = std::collections::BTreeMap::<String, u32>::new();
        for sock in stalled.iter_mut() {
            let reply = read_until_closed(sock, Duration::from_secs(10))
                .await
                .expect("a stalled upload was not closed");
            let status = String::from_utf8_lossy(&reply)
                .chars()
                .take(12)
                .collect::<String>();
            *answers.entry(status).or_default() += 1;
        }
        assert_eq!(answers.get("HTTP/1.1 408"), Some(&300), "{answers:?}");
    }
    let timeouts = metric(
        setup.admin_port,
        "gateway_receiver_read_timeouts_total{receiver=\"otlp\"}",
    )
    .await;
    assert_eq!(timeouts, 300.0 * f64::from(floods));
    assert!(setup.gateway.stop().await.success());
}

/// Opens a gRPC (HTTP/2) connection and starts `streams` Export calls whose message never
/// finishes (a frame header announcing 1000 bytes, then 10 of them). Returns the response
/// futures' receivers so the calls stay open.
async fn stalled_grpc_calls(
    addr: &str,
    streams: usize,
) -> Vec<tokio::task::JoinHandle<Option<String>>> {
    use http_body_util::StreamBody;
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(conn);
    let mut calls = Vec::new();
    for _ in 0..streams {
        let (tx, rx) =
            tokio::sync::mpsc::channel::<Result<hyper::body::Frame<Bytes>, std::io::Error>>(1);
        let mut frame = vec![0u8];
        frame.extend_from_slice(&1000u32.to_be_bytes());
        frame.extend_from_slice(&[1u8; 10]);
        let _ = tx
            .send(Ok(hyper::body::Frame::data(Bytes::from(frame))))
            .await;
        let body = StreamBody::new(tokio_stream_of(rx));
        let req = http::Request::post(format!(
            "http://{addr}/opentelemetry.proto.collector.logs.v1.LogsService/Export"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(body)
        .expect("request");
        let mut sender = sender.clone();
        calls.push(tokio::spawn(async move {
            // Keep the body's sender alive: the message never finishes.
            let _keep = tx;
            let resp = sender.send_request(req).await.ok()?;
            let status = resp
                .headers()
                .get("grpc-status")
                .map(|v| v.to_str().unwrap_or("").to_string());
            if status.is_some() {
                return status;
            }
            let collected = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .ok()?;
            collected
                .trailers()
                .and_then(|t| t.get("grpc-status"))
                .map(|v| v.to_str().unwrap_or("").to_string())
        }));
    }
    calls
}

/// A stream of the channel's items.
fn tokio_stream_of<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_grpc_calls_hold_no_slot_and_end_with_deadline_exceeded() {
    let mut setup = start_fan_out(FanOut {
        grpc_extra: "        read_message_timeout: 2s",
        ..FanOut::default()
    })
    .await;
    let addr = format!("127.0.0.1:{}", setup.grpc_port);
    // One flood in CI; `scripts/soak listener-floods` repeats it for minutes.
    let mut rounds = Rounds::new(1);
    while rounds.next() {
        // 3 connections × 100 calls that never finish their message (more than the 256 slots).
        let mut calls = Vec::new();
        for _ in 0..3 {
            calls.extend(stalled_grpc_calls(&addr, 100).await);
        }
        let endpoint = setup.grpc_endpoint();
        let request = ExportLogsServiceRequest::decode(logs_body().as_slice()).expect("fixture");
        let (ok, total) = probe_while(Duration::from_secs(3), || {
            let (endpoint, request) = (endpoint.clone(), request.clone());
            async move { grpc_export_logs(&endpoint, request).await.is_ok() }
        })
        .await;
        assert!(
            ok * 10 >= total * 9,
            "only {ok} of {total} probes succeeded"
        );
        // Each stalled call ends with DEADLINE_EXCEEDED (4) once read_message_timeout has passed.
        let mut deadline_exceeded = 0;
        for call in calls {
            let status = tokio::time::timeout(Duration::from_secs(10), call)
                .await
                .expect("the stalled call did not end")
                .expect("call task");
            if status.as_deref() == Some("4") {
                deadline_exceeded += 1;
            }
        }
        assert_eq!(deadline_exceeded, 300);
    }
    assert!(setup.gateway.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_idle_connections_are_closed_on_every_port() {
    let mut setup = start_fan_out(FanOut {
        http_extra: "        handshake_timeout: 1s\n        idle_timeout: 2s",
        grpc_extra: "        handshake_timeout: 1s\n        idle_timeout: 2s",
        admin_extra: "      handshake_timeout: 1s\n      idle_timeout: 2s",
        ..FanOut::default()
    })
    .await;
    let ports = [
        ("otlp:http", setup.http_port),
        ("otlp:grpc", setup.grpc_port),
        ("admin", setup.admin_port),
    ];
    // Connections that send nothing at all are closed after handshake_timeout.
    for (name, port) in ports {
        let mut socks = Vec::new();
        for _ in 0..20 {
            let sock = TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            socks.push((Instant::now(), sock));
        }
        for (opened, sock) in socks.iter_mut() {
            let closed = read_until_closed(sock, Duration::from_secs(6)).await;
            assert!(closed.is_some(), "{name}: a silent connection stayed open");
            let took = opened.elapsed();
            assert!(
                took >= Duration::from_millis(800),
                "{name}: closed after {took:?}"
            );
        }
    }
    // A keep-alive connection that made one request is closed once idle for idle_timeout.
    let mut sock = TcpStream::connect(("127.0.0.1", setup.admin_port))
        .await
        .expect("connect");
    sock.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    let asked = Instant::now();
    let reply = read_until_closed(&mut sock, Duration::from_secs(8))
        .await
        .expect("the idle connection stayed open");
    assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 200"));
    let closed = asked.elapsed();
    assert!(
        closed >= Duration::from_millis(1800),
        "closed after {closed:?}"
    );
    for (name, _) in ports {
        let slow = metric(
            setup.admin_port,
            &format!(
                "gateway_listener_connections_closed_total{{listener=\"{name}\",reason=\"slow\"}}"
            ),
        )
        .await;
        // The gateway's own readiness probe of the test harness may add a few.
        assert!(slow >= 20.0, "{name}: {slow} slow closes counted");
    }
    let idle = metric(
        setup.admin_port,
        "gateway_listener_connections_closed_total{listener=\"admin\",reason=\"idle\"}",
    )
    .await;
    assert!(idle >= 1.0);
    assert!(setup.gateway.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_file_descriptors_backs_off_logs_once_and_recovers() {
    let (http_port, admin_port) = (free_port(), free_port());
    let yaml = format!(
        r#"receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{http_port}
        handshake_timeout: 30s
exporters:
  debug: {{}}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{admin_port}
  pipelines:
    logs: {{ receivers: [otlp], exporters: [debug] }}
"#
    );
    let mut gw = Gateway::start_with_fd_limit(&yaml, &[http_port, admin_port], 64).await;
    // Hold more connections than the process has descriptors for.
    let mut held = Vec::new();
    for _ in 0..120 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_millis(200),
            TcpStream::connect(("127.0.0.1", http_port)),
        )
        .await
        {
            held.push(s);
        }
    }
    // While they are held the gateway must not spin on accept.
    let cpu_before = cpu_seconds(gw.pid());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu_used = cpu_seconds(gw.pid()) - cpu_before;
    assert!(
        cpu_used < 1.0,
        "{cpu_used} s of CPU in 3 s while out of descriptors"
    );
    assert!(
        gw.wait_for_output("out of file descriptors", Duration::from_secs(5))
            .await,
        "the descriptor shortage is not logged\n{}",
        gw.output_report()
    );
    let logged =
        gw.stderr().matches("accept failed").count() + gw.stdout().matches("accept failed").count();
    assert!(logged <= 2, "logged {logged} times in a few seconds");
    // Once they are gone, new clients are served again.
    drop(held);
    let logs = format!("http://127.0.0.1:{http_port}/v1/logs");
    let mut served = false;
    for _ in 0..100 {
        if gateway::try_post(&logs, PB, None, &[], logs_body())
            .await
            .is_ok_and(|(status, _, _)| status == 200)
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        served,
        "not served after the shortage\n{}",
        gw.output_report()
    );
    assert!(gw.stop().await.success());
}

/// User + system CPU seconds of process `pid` (Linux `/proc/<pid>/stat`).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    ticks as f64 / 100.0
}

/// A logs request of `records` empty log records, each with `attrs` empty attributes (a key
/// and an empty value): tiny on the wire, hundreds of times larger decoded.
fn amplifying_logs(records: usize, attrs: usize) -> Vec<u8> {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    let record = LogRecord {
        attributes: vec![
            KeyValue {
                key: String::new(),
                value: Some(AnyValue::default()),
                ..Default::default()
            };
            attrs
        ],
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![record; records],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Peak resident set size of process `pid` (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .expect("VmHWM")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amplifying_requests_are_refused_before_decoding_and_memory_stays_bounded() {
    const LIMIT_MIB: u64 = 256;
    let mut setup = start_fan_out(FanOut {
        processors: &["memory_limiter", "redaction"],
        processors_yaml: "  memory_limiter:\n    limit: 256MiB\n    check_interval: 20ms\n  redaction:\n    preset: codex\n    hash_key: \"0123456789abcdef0123456789abcdef\"",
        http_extra: "        max_request_body_size: 64MiB",
        ..FanOut::default()
    })
    .await;
    let logs = format!("{}/v1/logs", setup.http_base());
    // 1. A million empty log records: 2 MB, a few KB gzipped (over max_items_per_request).
    let records = gateway::gzip(&amplifying_logs(1_000_000, 0));
    // 2. One record with two million empty attributes (over max_decoded_size).
    let attributes = gateway::gzip(&amplifying_logs(1, 2_000_000));
    // 3. Under the limits: 400k attributes, about 75 MiB decoded each; three at once do not
    //    all fit the memory limiter's budget (soft limit 204 MiB).
    let near = amplifying_logs(1, 400_000);
    for (what, body, enc) in [
        ("records", records, Some("gzip")),
        ("attributes", attributes, Some("gzip")),
    ] {
        let calls = (0..2).map(|_| gateway::post(&logs, PB, enc, body.clone()));
        for (status, _, reply) in futures::future::join_all(calls).await {
            assert_eq!(status, 413, "{what}: {}", String::from_utf8_lossy(&reply));
        }
    }
    let calls = (0..3).map(|_| gateway::post(&logs, PB, None, near.clone()));
    let statuses: Vec<(u16, String)> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|(s, _, r)| (s, String::from_utf8_lossy(&r).into_owned()))
        .collect();
    let codes: Vec<u16> = statuses.iter().map(|(s, _)| *s).collect();
    assert!(
        codes.iter().all(|s| *s == 200 || *s == 503) && codes.contains(&200),
        "{statuses:?}"
    );
    let peak = peak_rss(setup.gateway.pid());
    assert!(
        peak <= (LIMIT_MIB + 64) << 20,
        "peak RSS {} MiB over the limit ({LIMIT_MIB} MiB) + 64 MiB",
        peak >> 20
    );
    // Normal clients are still served.
    let (status, _, _) = gateway::post(&logs, PB, None, logs_body()).await;
    assert_eq!(status, 200);
    eprintln!("peak RSS {} MiB", peak >> 20);
    assert!(setup.gateway.stop().await.success());
}
