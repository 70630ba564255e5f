//! Bad input gets the right OTLP status and nothing else breaks: after every refusal the gateway
//! keeps serving and delivering.

use crate::support::backends::FakeBackend;
use crate::support::fixtures;
use crate::support::gateway::{self, free_port, grpc_export_logs, grpc_export_traces, Gateway};
use crate::{start_fan_out, FanOut};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;
use std::time::Duration;

const PB: &str = "application/x-protobuf";

fn logs_fixture() -> Vec<u8> {
    fixtures::fixture("tool-secrets-protobuf", "004_logs.pb").body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_http_request_gets_its_status_and_the_gateway_keeps_serving() {
    let mut setup = start_fan_out(FanOut {
        http_extra: "        max_request_body_size: 64KiB",
        ..FanOut::default()
    })
    .await;
    let base = setup.http_base();
    let logs = format!("{base}/v1/logs");
    let good = logs_fixture();
    assert!(good.len() < 64 * 1024);
    let big = vec![b'x'; 100 * 1024];
    let bomb = gateway::gzip(&vec![0u8; 50 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024, "the bomb is small on the wire");

    let client = reqwest::Client::new();
    let get = client.get(&logs).send().await.expect("GET");
    assert_eq!(get.status().as_u16(), 405);
    assert_eq!(
        get.headers().get("allow").map(|v| v.to_str().unwrap_or("")),
        Some("POST")
    );

    // (what, url, content type, content encoding, body, expected status)
    let cases: Vec<BadCase> = vec![
        ("unknown path", format!("{base}/v1/profiles"), PB, None, good.clone(), 404),
        ("unsupported content type", logs.clone(), "text/plain", None, good.clone(), 415),
        ("unsupported encoding", logs.clone(), PB, Some("br"), good.clone(), 415),
        ("undecodable protobuf", logs.clone(), PB, None, b"\xff\xff\xff\xff not protobuf".to_vec(), 400),
        ("truncated protobuf", logs.clone(), PB, None, good[..good.len() / 2].to_vec(), 400),
        ("malformed JSON", logs.clone(), "application/json", None, b"{\"resourceLogs\": [".to_vec(), 400),
        ("base64 trace id in JSON", logs.clone(), "application/json", None,
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"AAECAwQFBgcICQoLDA0ODw=="}]}]}]}"#.to_vec(), 400),
        ("body over the limit", logs.clone(), PB, None, big, 413),
        ("gzip bomb over the limit after inflating", logs.clone(), PB, Some("gzip"), bomb, 413),
        ("not gzip", logs.clone(), PB, Some("gzip"), b"plain".to_vec(), 400),
    ];
    for (what, url, ct, enc, body, want) in cases {
        let (status, headers, reply) = gateway::post(&url, ct, enc, body).await;
        assert_eq!(status, want, "{what}: {}", String::from_utf8_lossy(&reply));
        if want == 400 && ct == PB {
            // The error body is a google.rpc.Status in the request's encoding.
            let st = google_status(&reply);
            assert_eq!(st.0, 3, "{what}: INVALID_ARGUMENT code");
            assert!(!st.1.is_empty(), "{what}: a message");
            assert_eq!(
                headers
                    .get("content-type")
                    .map(|v| v.to_str().unwrap_or("")),
                Some(PB)
            );
        }
        if ct == "application/json" {
            let v: serde_json::Value = serde_json::from_slice(&reply).expect("JSON error body");
            assert!(
                v["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{what}: {v}"
            );
        }
    }
    // Still serving: a good request goes through to both backends.
    let (status, _, _) = gateway::post(&logs, PB, None, good.clone()).await;
    assert_eq!(status, 200);
    let n = fixtures::count_log_records(&[
        ExportLogsServiceRequest::decode(good.as_slice()).expect("decode")
    ]);
    setup
        .grpc_backend
        .expect_log_records(n, Duration::from_secs(20))
        .await;
    setup
        .http_backend
        .expect_log_records(n, Duration::from_secs(20))
        .await;
    assert_eq!(
        setup.grpc_backend.log_record_count(),
        n,
        "refused requests delivered nothing"
    );

    // The refusals are counted.
    // GET + the ten bad POSTs.
    wait_for_metrics(
        setup.admin_port,
        &["gateway_receiver_refused_requests_total{receiver=\"otlp\"} 11".to_string()],
    )
    .await;
    assert!(setup.gateway.stop().await.success());
}

/// What is wrong, URL, content type, content encoding, body, expected status.
type BadCase<'a> = (&'a str, String, &'a str, Option<&'a str>, Vec<u8>, u16);

fn google_status(body: &[u8]) -> (i32, String) {
    #[derive(Clone, PartialEq, prost::Message)]
    struct Status {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
    }
    let s = Status::decode(body).expect("google.rpc.Status body");
    (s.code, s.message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_refuses_oversized_messages_and_unrouted_signals_with_their_codes() {
    let backend = FakeBackend::http().await;
    let (grpc_port, admin_port) = (free_port(), free_port());
    // Logs only: traces have no pipeline on this receiver.
    let yaml = format!(
        "receivers: {{ otlp: {{ protocols: {{ grpc: {{ endpoint: \"127.0.0.1:{grpc_port}\", max_recv_msg_size: 8KiB }} }} }} }}\n\
         exporters: {{ otlphttp: {{ endpoint: \"{}\" }} }}\n\
         service: {{ telemetry: {{ metrics: {{ address: \"127.0.0.1:{admin_port}\" }} }}, pipelines: {{ logs: {{ receivers: [otlp], exporters: [otlphttp] }} }} }}\n",
        backend.endpoint()
    );
    let mut gw = Gateway::start(&yaml, &[grpc_port]).await;
    let endpoint = format!("http://127.0.0.1:{grpc_port}");
    let logs = ExportLogsServiceRequest::decode(logs_fixture().as_slice()).expect("decode");
    assert!(logs.encoded_len() > 8 * 1024);
    let err = grpc_export_logs(&endpoint, logs.clone())
        .await
        .expect_err("too large");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    let traces =
        fixtures::decode_traces(&fixtures::fixture("tool-secrets-protobuf", "002_traces.pb"));
    let err = grpc_export_traces(&endpoint, traces)
        .await
        .expect_err("no traces pipeline");
    assert_eq!(err.code(), tonic::Code::Unimplemented, "{err:?}");
    // A small request still goes through.
    let mut small = logs;
    small.resource_logs[0].scope_logs[0].log_records.truncate(2);
    grpc_export_logs(&endpoint, small)
        .await
        .expect("small request accepted");
    backend.expect_log_records(2, Duration::from_secs(20)).await;
    assert!(gw.stop().await.success());
}

/// A backend that accepts connections and never answers.
async fn hung_backend() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    (format!("http://{addr}"), task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_for_that_exporter_only_and_503_when_every_queue_refuses() {
    let (hung, _task) = hung_backend().await;
    let good = FakeBackend::grpc().await;
    let (http_port, admin_port) = (free_port(), free_port());
    let yaml = format!(
        r#"receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:{http_port}" }} }} }}
exporters:
  otlphttp/hung:
    endpoint: {hung}
    timeout: 60s
    retry_on_failure: {{ enabled: false }}
    sending_queue: {{ queue_size: 2, num_consumers: 1 }}
  otlp/good:
    endpoint: {good}
service:
  shutdown_timeout: 1s
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin_port}" }} }}
  pipelines:
    logs: {{ receivers: [otlp], exporters: [otlphttp/hung] }}
    traces: {{ receivers: [otlp], exporters: [otlphttp/hung, otlp/good] }}
"#,
        good = good.endpoint()
    );
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let logs_url = format!("http://127.0.0.1:{http_port}/v1/logs");
    let body = logs_fixture();
    // 1st: taken by the only worker, which hangs; 2nd: fills the queue; 3rd: refused.
    let (s1, _, _) = gateway::post(&logs_url, PB, None, body.clone()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s2, _, _) = gateway::post(&logs_url, PB, None, body.clone()).await;
    let (s3, headers, _) = gateway::post(&logs_url, PB, None, body.clone()).await;
    assert_eq!((s1, s2, s3), (200, 200, 503));
    assert_eq!(
        headers.get("retry-after").map(|v| v.to_str().unwrap_or("")),
        Some("1")
    );

    // Traces go to both: the hung exporter's full queue drops its copy, the healthy one delivers.
    let traces = fixtures::fixture("tool-secrets-protobuf", "002_traces.pb");
    let (status, _, _) =
        gateway::post_fixture(&format!("http://127.0.0.1:{http_port}"), &traces).await;
    assert_eq!(status, 200, "accepted: one exporter took it");
    let spans = fixtures::count_spans(&[fixtures::decode_traces(&traces)]);
    good.expect_spans(spans, Duration::from_secs(20)).await;

    let records = fixtures::count_log_records(&[
        ExportLogsServiceRequest::decode(body.as_slice()).expect("logs")
    ]);
    let lines = [
        format!("gateway_exporter_enqueue_failed_log_records_total{{exporter=\"otlphttp/hung\"}} {records}"),
        format!("gateway_exporter_enqueue_failed_spans_total{{exporter=\"otlphttp/hung\"}} {spans}"),
        format!("gateway_exporter_sent_spans_total{{exporter=\"otlp/good\"}} {spans}"),
        format!("gateway_receiver_refused_log_records_total{{receiver=\"otlp\"}} {records}"),
    ];
    wait_for_metrics(admin_port, &lines).await;
    // Shutdown with a hung backend: the deadline holds, leftovers are counted, exit 0.
    let started = std::time::Instant::now();
    let status = gw.stop().await;
    assert!(status.success(), "{}", gw.output_report());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        gw.stderr().contains("shutdown deadline passed"),
        "{}",
        gw.stderr()
    );
}

/// Polls `/metrics` until every line is present (counters update right after delivery).
pub async fn wait_for_metrics(admin_port: u16, lines: &[String]) {
    let url = format!("http://127.0.0.1:{admin_port}/metrics");
    let mut text = String::new();
    for _ in 0..100 {
        text = reqwest::get(&url)
            .await
            .expect("scrape")
            .text()
            .await
            .expect("text");
        // Whole lines: `... 11` must not match `... 110`.
        if lines.iter().all(|l| text.lines().any(|t| t == l.as_str())) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("missing {lines:?} in /metrics:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limiter_refuses_before_decoding_with_503_and_unavailable() {
    let (hung, _task) = hung_backend().await;
    let (http_port, grpc_port, admin_port) = (free_port(), free_port(), free_port());
    // Limit 80 MiB, soft limit 64 MiB of live heap. A 35 MB request fits when it comes alone
    // (its body and its decoded form, ~70 MB, are reserved against the hard limit); once the
    // hung exporter holds it (decoded and JSON-encoded: a JSON exporter keeps the decoded
    // request, ~70 MB) the live heap is over the soft limit. The RSS of a debug build at start
    // (~35 MB: the binary's own pages count) is well under the limit.
    let yaml = format!(
        r#"receivers:
  otlp: {{ protocols: {{ http: {{ endpoint: "127.0.0.1:{http_port}", max_request_body_size: 64MiB }}, grpc: {{ endpoint: "127.0.0.1:{grpc_port}", max_recv_msg_size: 64MiB }} }} }}
processors:
  memory_limiter: {{ limit: 80MiB, check_interval: 20ms }}
exporters:
  otlphttp/hung: {{ endpoint: "{hung}", timeout: 60s, compression: none, encoding: json, retry_on_failure: {{ enabled: false }} }}
service:
  shutdown_timeout: 1s
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin_port}" }} }}
  pipelines:
    logs: {{ receivers: [otlp], processors: [memory_limiter], exporters: [otlphttp/hung] }}
"#
    );
    let mut gw = Gateway::start(&yaml, &[http_port, grpc_port, admin_port]).await;
    let url = format!("http://127.0.0.1:{http_port}/v1/logs");
    let mut big = ExportLogsServiceRequest::decode(logs_fixture().as_slice()).expect("decode");
    big.resource_logs[0].scope_logs[0].log_records[0]
        .attributes
        .push(fixtures::string_kv("blob", &"x".repeat(35_000_000)));
    let (s1, _, _) = gateway::post(&url, PB, None, big.encode_to_vec()).await;
    assert_eq!(s1, 200, "the gateway starts well under its limit");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s2, headers, _) = gateway::post(&url, PB, None, logs_fixture()).await;
    assert_eq!(
        s2, 503,
        "the held 35 MB request puts the live heap over the soft limit"
    );
    assert_eq!(
        headers.get("retry-after").map(|v| v.to_str().unwrap_or("")),
        Some("1")
    );
    // Refused before the body is read: even an undecodable body gets 503, not 400.
    let (s3, _, _) = gateway::post(&url, PB, None, b"\xff\xff not protobuf".to_vec()).await;
    assert_eq!(s3, 503);
    let logs = ExportLogsServiceRequest::decode(logs_fixture().as_slice()).expect("decode");
    let err = grpc_export_logs(&format!("http://127.0.0.1:{grpc_port}"), logs)
        .await
        .expect_err("refused");
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert!(!err.details().is_empty(), "RetryInfo attached");
    assert!(gw.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_bodies_are_inflated_with_the_body_size_cap() {
    let mut setup = start_fan_out(FanOut {
        http_extra: "        max_request_body_size: 64KiB",
        ..FanOut::default()
    })
    .await;
    let logs = format!("{}/v1/logs", setup.http_base());
    let good = logs_fixture();
    let compressed = zstd::bulk::compress(&good, 3).expect("zstd");
    let bomb = zstd::bulk::compress(&vec![0u8; 50 * 1024 * 1024], 3).expect("zstd");
    assert!(bomb.len() < 64 * 1024, "the bomb is small on the wire");

    let (status, _, reply) = gateway::post(&logs, PB, Some("zstd"), bomb).await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&reply));
    let (status, _, reply) = gateway::post(&logs, PB, Some("zstd"), b"not zstd".to_vec()).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&reply));
    let (status, _, reply) = gateway::post(&logs, PB, Some("zstd"), compressed).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    let n = fixtures::count_log_records(&[
        ExportLogsServiceRequest::decode(good.as_slice()).expect("decode")
    ]);
    setup
        .grpc_backend
        .expect_log_records(n, Duration::from_secs(20))
        .await;
    setup
        .http_backend
        .expect_log_records(n, Duration::from_secs(20))
        .await;
    wait_for_metrics(
        setup.admin_port,
        &["gateway_receiver_refused_requests_total{receiver=\"otlp\"} 2".to_string()],
    )
    .await;
    assert!(setup.gateway.stop().await.success());
}

/// Wraps `inner` as a length-delimited protobuf field `tag`.
fn pb_field(tag: u32, inner: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(inner.len() + 8);
    prost::encoding::encode_key(tag, prost::encoding::WireType::LengthDelimited, &mut out);
    prost::encoding::encode_varint(inner.len() as u64, &mut out);
    out.extend_from_slice(inner);
    out
}

/// An `ExportLogsServiceRequest` whose one log record has an attribute nested `depth` arrays
/// deep, encoded by hand (prost's encoder recurses).
fn deeply_nested_logs(depth: usize) -> Vec<u8> {
    // AnyValue { string_value (1): "leaf" }
    let mut value = pb_field(1, b"leaf");
    for _ in 0..depth {
        // AnyValue { array_value (5): ArrayValue { values (1): value } }
        value = pb_field(5, &pb_field(1, &value));
    }
    let kv = [pb_field(1, b"deep"), pb_field(2, &value)].concat(); // KeyValue { key, value }
    let record = pb_field(6, &kv); // LogRecord { attributes (6) }
    let scope_logs = pb_field(2, &record); // ScopeLogs { log_records (2) }
    let resource_logs = pb_field(2, &scope_logs); // ResourceLogs { scope_logs (2) }
    pb_field(1, &resource_logs) // ExportLogsServiceRequest { resource_logs (1) }
}

fn nesting_of(mut v: &opentelemetry_proto::tonic::common::v1::AnyValue) -> (usize, String) {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let mut depth = 0;
    loop {
        match &v.value {
            Some(Value::ArrayValue(a)) => {
                v = &a.values[0];
                depth += 1;
            }
            Some(Value::StringValue(s)) => return (depth, s.clone()),
            other => panic!("unexpected value {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attribute_limits_drop_truncate_and_replace_and_count_it() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    let mut setup = start_fan_out(FanOut::default()).await;
    let base = setup.http_base();
    let logs_url = format!("{base}/v1/logs");

    // Beyond prost's recursion limit: refused at decoding, nothing breaks.
    let (status, _, reply) = gateway::post(&logs_url, PB, None, deeply_nested_logs(10_000)).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&reply));

    // Depth 40 is decodable: the part below depth 32 becomes "[too deep]". A 100 KiB string is
    // cut to 64 KiB.
    let mut logs =
        ExportLogsServiceRequest::decode(deeply_nested_logs(40).as_slice()).expect("decode");
    logs.resource_logs[0].scope_logs[0].log_records[0]
        .attributes
        .push(fixtures::string_kv("long", &"é".repeat(50 * 1024 + 1)));
    let (status, _, reply) = gateway::post(&logs_url, PB, None, logs.encode_to_vec()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    setup
        .http_backend
        .expect_log_records(1, Duration::from_secs(20))
        .await;
    let got = setup.http_backend.received_logs();
    let attrs = &got[0].resource_logs[0].scope_logs[0].log_records[0].attributes;
    assert_eq!(
        nesting_of(attrs[0].value.as_ref().expect("deep value")),
        (32, "[too deep]".to_string())
    );
    let (_, long) = nesting_of(attrs[1].value.as_ref().expect("long value"));
    assert_eq!(long.len(), 64 * 1024, "truncated at a char boundary");
    assert!(long.chars().all(|c| c == 'é'));

    // A span with 100,000 (short-keyed) attributes: the first 1000 are kept.
    let attributes: Vec<KeyValue> = (0..100_000)
        .map(|i| KeyValue {
            key: format!("{i}"),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(i)),
            }),
            ..KeyValue::default()
        })
        .collect();
    let traces = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    name: "many attributes".into(),
                    attributes,
                    ..Span::default()
                }],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    let body = traces.encode_to_vec();
    assert!(body.len() < 20 * 1024 * 1024, "under the body size limit");
    let (status, _, reply) = gateway::post(&format!("{base}/v1/traces"), PB, None, body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    setup
        .http_backend
        .expect_spans(1, Duration::from_secs(20))
        .await;
    let got = setup.http_backend.received_traces();
    let span = &got[0].resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.attributes.len(), 1000);
    assert_eq!(span.attributes[999].key, "999", "the first ones are kept");
    assert_eq!(span.dropped_attributes_count, 99_000);

    // 99,000 dropped attributes + 1 replaced value + 1 truncated string; 1 refused request.
    wait_for_metrics(
        setup.admin_port,
        &[
            "gateway_receiver_limited_values_total{receiver=\"otlp\"} 99002".to_string(),
            "gateway_receiver_refused_requests_total{receiver=\"otlp\"} 1".to_string(),
        ],
    )
    .await;
    assert!(setup.gateway.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_stalling_in_its_headers_is_disconnected_after_read_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut setup = start_fan_out(FanOut {
        http_extra: "        read_header_timeout: 500ms",
        ..FanOut::default()
    })
    .await;
    let base = setup.http_base();
    let addr = base.trim_start_matches("http://").to_string();
    let mut sock = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    sock.write_all(b"POST /v1/lo")
        .await
        .expect("half a request line");
    let started = std::time::Instant::now();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                // hyper may answer 408 before closing.
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the stalled connection was not closed");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400),
        "closed too early: {waited:?}"
    );
    // A well-behaved client is still served.
    let (status, _, _) = gateway::post(&format!("{base}/v1/logs"), PB, None, logs_fixture()).await;
    assert_eq!(status, 200);
    assert!(setup.gateway.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_max_concurrent_requests_get_503_with_retry_after_and_a_stalled_body_holds_no_slot(
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut setup = start_fan_out(FanOut {
        http_extra: "        max_concurrent_requests: 1\n        read_body_timeout: 1s",
        ..FanOut::default()
    })
    .await;
    let base = setup.http_base();
    let logs = format!("{base}/v1/logs");
    // A request whose body never comes does not hold the only slot.
    let addr = base.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    slow.write_all(
        b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\n",
    )
    .await
    .expect("headers");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _, _) = gateway::post(&logs, PB, None, logs_fixture()).await;
    assert_eq!(status, 200, "a stalled upload must not hold a slot");
    // It is answered 408 once read_body_timeout passes, and its connection closed.
    let mut reply = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut reply)).await;
    assert!(read.is_ok(), "the stalled upload was not closed");
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    // Requests processed at the same time beyond the one slot get 503 + Retry-After: many
    // concurrent decodes of a large JSON body overlap (bounded tries).
    let body = large_json_logs();
    let (mut refused, mut ok) = (0u32, 0u32);
    for _ in 0..20 {
        let calls = (0..16).map(|_| gateway::post(&logs, "application/json", None, body.clone()));
        for (status, headers, _) in futures::future::join_all(calls).await {
            match status {
                200 => ok += 1,
                503 => {
                    assert_eq!(
                        headers.get("retry-after").map(|v| v.to_str().unwrap_or("")),
                        Some("1")
                    );
                    refused += 1;
                }
                other => panic!("unexpected status {other}"),
            }
        }
        if refused > 0 {
            break;
        }
    }
    assert!(refused > 0 && ok > 0, "{refused} refused, {ok} accepted");
    // Refused: the 503s, and the stalled upload (408).
    wait_for_metrics(
        setup.admin_port,
        &[
            format!(
                "gateway_receiver_refused_requests_total{{receiver=\"otlp\"}} {}",
                refused + 1
            ),
            "gateway_receiver_read_timeouts_total{receiver=\"otlp\"} 1".to_string(),
        ],
    )
    .await;
    assert!(setup.gateway.stop().await.success());
}

/// An OTLP/JSON logs body of about 2 MB (one record with many attributes).
fn large_json_logs() -> Vec<u8> {
    let attrs: Vec<String> = (0..20_000)
        .map(|i| {
            format!(
                r#"{{"key":"k{i}","value":{{"stringValue":"value number {i} of a long list"}}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"attributes":[{}]}}]}}]}}]}}"#,
        attrs.join(",")
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_of_the_wrong_length_and_lone_surrogates_are_refused_with_what_is_wrong() {
    let backend = FakeBackend::http().await;
    let (grpc_port, http_port, admin_port) = (free_port(), free_port(), free_port());
    let yaml = format!(
        "receivers: {{ otlp: {{ protocols: {{ grpc: {{ endpoint: \"127.0.0.1:{grpc_port}\" }}, http: {{ endpoint: \"127.0.0.1:{http_port}\" }} }} }} }}\n\
         exporters: {{ otlphttp: {{ endpoint: \"{}\" }} }}\n\
         service: {{ telemetry: {{ metrics: {{ address: \"127.0.0.1:{admin_port}\" }} }}, pipelines: {{ logs: {{ receivers: [otlp], exporters: [otlphttp] }}, traces: {{ receivers: [otlp], exporters: [otlphttp] }} }} }}\n",
        backend.endpoint()
    );
    let mut gw = Gateway::start(&yaml, &[grpc_port, http_port]).await;
    let base = format!("http://127.0.0.1:{http_port}");
    let mut traces =
        fixtures::decode_traces(&fixtures::fixture("tool-secrets-protobuf", "002_traces.pb"));
    traces.resource_spans[0].scope_spans[0].spans[0].trace_id = vec![7; 5];
    // Protobuf over HTTP (on the pass-through path: no processors) and over gRPC.
    let (status, _, body) = gateway::post(
        &format!("{base}/v1/traces"),
        PB,
        None,
        traces.encode_to_vec(),
    )
    .await;
    let (code, message) = google_status(&body);
    assert_eq!((status, code), (400, 3), "{message}");
    assert!(message.contains("trace_id is 5 bytes"), "{message}");
    let err = grpc_export_traces(&format!("http://127.0.0.1:{grpc_port}"), traces)
        .await
        .expect_err("5-byte trace id");
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("trace_id is 5 bytes"), "{err:?}");
    // A lone UTF-16 surrogate in OTLP/JSON encodes no character.
    let json = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"a\ud800b"}}]}]}]}"#;
    let (status, _, body) =
        gateway::post(&format!("{base}/v1/logs"), fixtures::JSON, None, json).await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("unpaired UTF-16 surrogate"), "{text}");
    // Nothing of it arrived; a good request still goes through.
    let good = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"a\ud83d\ude00b"}}]}]}]}"#;
    let (status, _, _) =
        gateway::post(&format!("{base}/v1/logs"), fixtures::JSON, None, good).await;
    assert_eq!(status, 200);
    backend.expect_log_records(1, Duration::from_secs(20)).await;
    assert!(backend.received_traces().is_empty());
    assert!(gw.stop().await.success());
}
