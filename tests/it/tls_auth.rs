//! TLS and authentication, through the real binary: TLS / mutual TLS on both receiver
//! protocols (with certificate reloading and the minimum version), TLS and mTLS from both
//! network exporters to TLS backends, and receiver authentication (bearer and basic) checked
//! before a body byte is read, with token attributes reaching the `team` processor.
//!
//! Certificates are made at test time with rcgen into a temporary directory. The TLS backends
//! are [`TlsProxy`]s: TLS terminators (rustls) in front of the plaintext fake backends.

use crate::bad_requests::wait_for_metrics;
use crate::support::backends::FakeBackend;
use crate::support::fixtures::{self, attr_str};
use crate::support::gateway::{self, free_port, Gateway, GrpcOptions};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

const PB: &str = "application/x-protobuf";

// ---------------------------------------------------------------------------------------------
// Test PKI
// ---------------------------------------------------------------------------------------------

/// A CA able to sign server and client certificates.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("self-signed CA"),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf certificate and its key (PEM) for `localhost` / `127.0.0.1`.
    fn leaf(&self, name: &str, usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        (cert.pem(), key.serialize_pem())
    }
}

/// PEM files in a temporary directory: a CA, a server and a client certificate signed by it,
/// and a second, unrelated CA with its own server and client certificates.
struct Pki {
    dir: tempfile::TempDir,
    ca: TestCa,
    other: TestCa,
}

impl Pki {
    fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::tempdir().expect("tempdir"),
            ca: TestCa::new("gateway test CA"),
            other: TestCa::new("unrelated test CA"),
        };
        pki.write("ca.pem", &pki.ca.pem());
        pki.write("other-ca.pem", &pki.other.pem());
        for (ca, prefix) in [(&pki.ca, ""), (&pki.other, "other-")] {
            let (cert, key) = ca.leaf("localhost", ExtendedKeyUsagePurpose::ServerAuth);
            pki.write(&format!("{prefix}server.pem"), &cert);
            pki.write(&format!("{prefix}server-key.pem"), &key);
            let (cert, key) = ca.leaf("codex-client", ExtendedKeyUsagePurpose::ClientAuth);
            pki.write(&format!("{prefix}client.pem"), &cert);
            pki.write(&format!("{prefix}client-key.pem"), &key);
        }
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The path as it goes into YAML.
    fn yaml(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    /// Writes through a temporary file and a rename, as certificate tooling does.
    fn write(&self, name: &str, text: &str) {
        let tmp = self.path(&format!(".{name}.tmp"));
        std::fs::write(&tmp, text).unwrap_or_else(|e| panic!("write {name}: {e}"));
        std::fs::rename(&tmp, self.path(name)).unwrap_or_else(|e| panic!("rename {name}: {e}"));
    }

    /// Client cert + key in one PEM (reqwest's identity format).
    fn identity_pem(&self, prefix: &str) -> Vec<u8> {
        let mut pem = self.read(&format!("{prefix}client.pem"));
        pem.extend_from_slice(&self.read(&format!("{prefix}client-key.pem")));
        pem
    }
}

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

/// A reqwest client trusting only `ca_pem`, resolving `localhost` to 127.0.0.1, with an
/// optional client identity and TLS version range.
fn https_client(
    ca_pem: &[u8],
    identity: Option<Vec<u8>>,
    versions: Option<(reqwest::tls::Version, reqwest::tls::Version)>,
    port: u16,
) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem).expect("CA PEM"))
        .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], port)))
        .timeout(Duration::from_secs(10));
    if let Some(pem) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(&pem).expect("identity PEM"));
    }
    if let Some((min, max)) = versions {
        builder = builder.min_tls_version(min).max_tls_version(max);
    }
    builder.build().expect("HTTPS client")
}

/// POSTs the logs fixture over HTTPS; the status or the connection error.
async fn post_logs(client: &reqwest::Client, port: u16) -> Result<u16, String> {
    client
        .post(format!("https://localhost:{port}/v1/logs"))
        .header("content-type", PB)
        .body(logs_fixture())
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("{e:?}"))
}

/// Exports the logs fixture over gRPC with TLS (`localhost` name, 127.0.0.1 address).
async fn grpc_tls_export(
    port: u16,
    ca_pem: &[u8],
    identity: Option<(Vec<u8>, Vec<u8>)>,
) -> Result<(), String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = Channel::from_shared(format!("https://127.0.0.1:{port}"))
        .map_err(|e| e.to_string())?
        .tls_config(tls)
        .map_err(|e| format!("{e:?}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    LogsServiceClient::new(channel)
        .export(logs_request())
        .await
        .map(|_| ())
        .map_err(|e| format!("export: {e:?}"))
}

/// A bare rustls handshake with only the given protocol versions.
async fn handshake(
    port: u16,
    ca_pem: &[u8],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.expect("CA PEM")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").expect("name");
    connector
        .connect(name, tcp)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn logs_fixture() -> Vec<u8> {
    fixtures::fixture("tool-secrets-protobuf", "004_logs.pb").body
}

fn logs_request() -> ExportLogsServiceRequest {
    ExportLogsServiceRequest::decode(logs_fixture().as_slice()).expect("logs fixture")
}

fn log_record_count() -> usize {
    fixtures::count_log_records(&[logs_request()])
}

/// Polls `check` every 100 ms until it holds; panics with `what` after `timeout`.
async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// TLS backend: a TLS terminator in front of a plaintext fake backend
// ---------------------------------------------------------------------------------------------

/// Terminates TLS (rustls, ALPN h2 + http/1.1, optionally requiring client certificates) and
/// pipes each connection to `upstream`. Counts handshakes and client certificates seen.
struct TlsProxy {
    port: u16,
    handshakes: Arc<AtomicUsize>,
    client_certs: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsProxy {
    async fn start(
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
        upstream: SocketAddr,
    ) -> Self {
        let certs = CertificateDer::pem_file_iter(cert)
            .expect("cert file")
            .collect::<Result<Vec<_>, _>>()
            .expect("cert PEM");
        let key = PrivateKeyDer::from_pem_file(key).expect("key PEM");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in CertificateDer::pem_file_iter(ca).expect("client CA") {
                    roots.add(c.expect("client CA PEM")).expect("root");
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(certs, key).expect("server config");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let client_certs = Arc::new(AtomicUsize::new(0));
        let (h, c) = (handshakes.clone(), client_certs.clone());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, h, c) = (acceptor.clone(), h.clone(), c.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    h.fetch_add(1, Ordering::SeqCst);
                    if tls.get_ref().1.peer_certificates().is_some() {
                        c.fetch_add(1, Ordering::SeqCst);
                    }
                    if let Ok(mut up) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                    }
                });
            }
        });
        TlsProxy {
            port,
            handshakes,
            client_certs,
            task,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1. TLS receiver
// ---------------------------------------------------------------------------------------------

fn receiver_tls_config(
    pki: &Pki,
    grpc_port: u16,
    http_port: u16,
    admin_port: u16,
    backend: &str,
    grpc_tls: &str,
    http_tls: &str,
) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
        tls: {grpc_tls}
      http:
        endpoint: 127.0.0.1:{http_port}
        tls: {http_tls}
exporters:
  otlphttp/backend:
    endpoint: {backend}
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 1s }}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin_port}" }} }}
  pipelines:
    logs: {{ receivers: [otlp], exporters: [otlphttp/backend] }}
"#,
        // Keep the files referenced so a typo shows in the test, not as a missing file.
        grpc_tls = grpc_tls.replace("$DIR", &pki.dir.path().display().to_string()),
        http_tls = http_tls.replace("$DIR", &pki.dir.path().display().to_string()),
    )
}

/// `openssl s_client` against `port` with one protocol flag (`-tls1_1`, `-tls1_2`); `None` when
/// openssl is not installed. Returns (exit success, combined output).
fn s_client(port: u16, ca: &Path, flag: &str) -> Option<(bool, String)> {
    let out = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
            "-CAfile",
            &ca.display().to_string(),
            flag,
            // Debian's default security level would stop the client offering TLS 1.1 at all;
            // level 0 makes it really send a TLS 1.1 hello, so the server's answer is tested.
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_receiver_accepts_tls_clients_and_refuses_plaintext_and_old_versions() {
    let pki = Pki::new();
    let backend = FakeBackend::http().await;
    let (grpc_port, http_port, admin_port) = (free_port(), free_port(), free_port());
    // HTTP with the default minimum (1.2), gRPC with min_version 1.3.
    let yaml = receiver_tls_config(
        &pki,
        grpc_port,
        http_port,
        admin_port,
        &backend.endpoint(),
        r#"{ cert_file: "$DIR/server.pem", key_file: "$DIR/server-key.pem", min_version: "1.3" }"#,
        r#"{ cert_file: "$DIR/server.pem", key_file: "$DIR/server-key.pem" }"#,
    );
    let mut gw = Gateway::start(&yaml, &[grpc_port, http_port, admin_port]).await;
    assert!(
        gw.wait_for_output(
            &format!("https://127.0.0.1:{http_port}"),
            Duration::from_secs(5)
        )
        .await,
        "the banner shows the https endpoint"
    );
    let ca = pki.read("ca.pem");

    // HTTPS with the CA: accepted, delivered.
    let client = https_client(&ca, None, None, http_port);
    assert_eq!(post_logs(&client, http_port).await, Ok(200));
    // gRPC over TLS with the CA: accepted.
    grpc_tls_export(grpc_port, &ca, None)
        .await
        .expect("gRPC over TLS");
    backend
        .expect_log_records(2 * log_record_count(), Duration::from_secs(20))
        .await;

    // A client that does not trust the CA refuses the gateway (and nothing is delivered).
    let stranger = https_client(&pki.read("other-ca.pem"), None, None, http_port);
    assert!(post_logs(&stranger, http_port).await.is_err());

    // Plaintext on a TLS port: no answer.
    let plain = gateway::try_post(
        &format!("http://127.0.0.1:{http_port}/v1/logs"),
        PB,
        None,
        &[],
        logs_fixture(),
    )
    .await;
    assert!(plain.is_err(), "plaintext HTTP got an answer: {plain:?}");
    let plain_grpc = gateway::grpc_export_logs_with(
        &format!("http://127.0.0.1:{grpc_port}"),
        logs_request(),
        &GrpcOptions {
            timeout: Some(Duration::from_secs(5)),
            ..GrpcOptions::default()
        },
    )
    .await;
    assert!(plain_grpc.is_err(), "plaintext gRPC was served");

    // min_version: a client offering only TLS 1.2 is refused by the 1.3-only gRPC listener and
    // accepted by the HTTP listener (min 1.2); TLS 1.3 works on both.
    let tls12: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
    let tls13: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    let refused = handshake(grpc_port, &ca, tls12).await;
    assert!(refused.is_err(), "TLS 1.2 accepted by a 1.3-only listener");
    handshake(http_port, &ca, tls12)
        .await
        .expect("TLS 1.2 on the HTTP listener");
    handshake(grpc_port, &ca, tls13)
        .await
        .expect("TLS 1.3 on the gRPC listener");
    handshake(http_port, &ca, tls13)
        .await
        .expect("TLS 1.3 on the HTTP listener");
    let v12 = reqwest::tls::Version::TLS_1_2;
    let only12 = https_client(&ca, None, Some((v12, v12)), http_port);
    assert_eq!(post_logs(&only12, http_port).await, Ok(200));

    // TLS 1.1 (and below): a real TLS 1.1 ClientHello from openssl is answered with an alert;
    // the same client with TLS 1.2 completes the handshake.
    match s_client(http_port, &pki.path("ca.pem"), "-tls1_1") {
        None => eprintln!("openssl not installed: TLS 1.1 checked only through rustls above"),
        Some((ok, text)) => {
            assert!(!ok, "TLS 1.1 handshake succeeded:\n{text}");
            assert!(
                !text.contains("no protocols available"),
                "openssl did not offer TLS 1.1 at all, the test proves nothing:\n{text}"
            );
            // The hello went out, the server answered with an alert (rustls: handshake_failure)
            // and no cipher was agreed.
            assert!(
                text.contains("SSL alert number") && text.contains("Cipher is (NONE)"),
                "expected the server to refuse the TLS 1.1 hello with an alert:\n{text}"
            );
            let (ok, text) = s_client(http_port, &pki.path("ca.pem"), "-tls1_2")
                .expect("openssl ran once already");
            assert!(
                ok && text.contains("TLSv1.2"),
                "TLS 1.2 via openssl:\n{text}"
            );
        }
    }
    assert!(gw.stop().await.success());
}

// ---------------------------------------------------------------------------------------------
// 2. Mutual TLS receiver, and certificate reloading
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_receiver_requires_a_client_certificate_from_its_ca() {
    let pki = Pki::new();
    let backend = FakeBackend::http().await;
    let (grpc_port, http_port, admin_port) = (free_port(), free_port(), free_port());
    let mtls = r#"{ cert_file: "$DIR/server.pem", key_file: "$DIR/server-key.pem", client_ca_file: "$DIR/ca.pem" }"#;
    let yaml = receiver_tls_config(
        &pki,
        grpc_port,
        http_port,
        admin_port,
        &backend.endpoint(),
        mtls,
        mtls,
    );
    let mut gw = Gateway::start(&yaml, &[grpc_port, http_port, admin_port]).await;
    let ca = pki.read("ca.pem");

    // No client certificate: refused on both protocols.
    let anonymous = https_client(&ca, None, None, http_port);
    let refused = post_logs(&anonymous, http_port).await;
    assert!(refused.is_err(), "HTTPS without a client cert: {refused:?}");
    let refused = grpc_tls_export(grpc_port, &ca, None).await;
    assert!(refused.is_err(), "gRPC without a client cert: {refused:?}");
    // A client certificate from another CA: refused too.
    let foreign = https_client(&ca, Some(pki.identity_pem("other-")), None, http_port);
    assert!(post_logs(&foreign, http_port).await.is_err());
    let foreign_grpc = grpc_tls_export(
        grpc_port,
        &ca,
        Some((
            pki.read("other-client.pem"),
            pki.read("other-client-key.pem"),
        )),
    )
    .await;
    assert!(foreign_grpc.is_err());
    assert_eq!(backend.log_record_count(), 0, "nothing got through");

    // A certificate from the CA: accepted on both.
    let client = https_client(&ca, Some(pki.identity_pem("")), None, http_port);
    assert_eq!(post_logs(&client, http_port).await, Ok(200));
    grpc_tls_export(
        grpc_port,
        &ca,
        Some((pki.read("client.pem"), pki.read("client-key.pem"))),
    )
    .await
    .expect("gRPC with a client certificate");
    backend
        .expect_log_records(2 * log_record_count(), Duration::from_secs(20))
        .await;
    assert!(gw.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_reloads_changed_certificates_and_keeps_the_old_one_when_a_reload_fails() {
    let pki = Pki::new();
    let backend = FakeBackend::http().await;
    let (grpc_port, http_port, admin_port) = (free_port(), free_port(), free_port());
    let tls =
        r#"{ cert_file: "$DIR/live.pem", key_file: "$DIR/live-key.pem", reload_interval: 200ms }"#;
    pki.write(
        "live.pem",
        &String::from_utf8_lossy(&pki.read("server.pem")),
    );
    pki.write(
        "live-key.pem",
        &String::from_utf8_lossy(&pki.read("server-key.pem")),
    );
    let yaml = receiver_tls_config(
        &pki,
        grpc_port,
        http_port,
        admin_port,
        &backend.endpoint(),
        tls,
        tls,
    );
    let mut gw = Gateway::start(&yaml, &[grpc_port, http_port, admin_port]).await;
    let (ca, other_ca) = (pki.read("ca.pem"), pki.read("other-ca.pem"));
    assert_eq!(
        post_logs(&https_client(&ca, None, None, http_port), http_port).await,
        Ok(200)
    );

    // Swap in a certificate from the other CA: new connections get it, on both protocols.
    pki.write(
        "live-key.pem",
        &String::from_utf8_lossy(&pki.read("other-server-key.pem")),
    );
    pki.write(
        "live.pem",
        &String::from_utf8_lossy(&pki.read("other-server.pem")),
    );
    eventually(
        "the reloaded certificate",
        Duration::from_secs(10),
        || async {
            post_logs(&https_client(&other_ca, None, None, http_port), http_port).await == Ok(200)
        },
    )
    .await;
    grpc_tls_export(grpc_port, &other_ca, None)
        .await
        .expect("gRPC serves the reloaded certificate");
    assert!(
        post_logs(&https_client(&ca, None, None, http_port), http_port)
            .await
            .is_err(),
        "the old certificate is gone"
    );

    // A broken certificate file: logged, and the previous certificate stays in use.
    pki.write("live.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n");
    assert!(
        gw.wait_for_output("TLS reload failed", Duration::from_secs(10))
            .await,
        "the failed reload is logged"
    );
    assert_eq!(
        post_logs(&https_client(&other_ca, None, None, http_port), http_port).await,
        Ok(200)
    );
    grpc_tls_export(grpc_port, &other_ca, None)
        .await
        .expect("gRPC still serves the previous certificate");
    assert!(gw.stop().await.success());
}

// ---------------------------------------------------------------------------------------------
// 3. Exporters over TLS / mTLS
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporters_send_over_tls_and_mtls_with_a_private_ca_and_with_skip_verify() {
    let pki = Pki::new();
    let grpc_mtls = FakeBackend::grpc().await;
    let http_mtls = FakeBackend::http().await;
    let grpc_skip = FakeBackend::grpc().await;
    let http_skip = FakeBackend::http().await;
    let (server, server_key, ca) = (
        pki.path("server.pem"),
        pki.path("server-key.pem"),
        pki.path("ca.pem"),
    );
    // Backends with a certificate from our CA, requiring client certificates from it.
    let p_grpc_mtls = TlsProxy::start(&server, &server_key, Some(&ca), grpc_mtls.addr()).await;
    let p_http_mtls = TlsProxy::start(&server, &server_key, Some(&ca), http_mtls.addr()).await;
    // Backends with a certificate from a CA the gateway is not told about (skip verify), still
    // requiring a client certificate from our CA.
    let (other, other_key) = (
        pki.path("other-server.pem"),
        pki.path("other-server-key.pem"),
    );
    let p_grpc_skip = TlsProxy::start(&other, &other_key, Some(&ca), grpc_skip.addr()).await;
    let p_http_skip = TlsProxy::start(&other, &other_key, Some(&ca), http_skip.addr()).await;

    let (http_port, admin_port) = (free_port(), free_port());
    let client = format!(
        r#"cert_file: "{}", key_file: "{}""#,
        pki.yaml("client.pem"),
        pki.yaml("client-key.pem")
    );
    let retry = "retry_on_failure: { initial_interval: 100ms, max_interval: 1s }";
    let yaml = format!(
        r#"receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:{http_port}" }}
exporters:
  otlp/mtls:
    endpoint: https://localhost:{}
    tls: {{ ca_file: "{ca}", {client} }}
    {retry}
  otlphttp/mtls:
    endpoint: https://localhost:{}
    tls: {{ ca_file: "{ca}", {client} }}
    {retry}
  otlp/skip:
    endpoint: localhost:{}
    tls: {{ insecure_skip_verify: true, {client} }}
    {retry}
  otlphttp/skip:
    endpoint: https://localhost:{}
    tls: {{ insecure_skip_verify: true, {client} }}
    {retry}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin_port}" }} }}
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [otlp/mtls, otlphttp/mtls, otlp/skip, otlphttp/skip]
"#,
        p_grpc_mtls.port,
        p_http_mtls.port,
        p_grpc_skip.port,
        p_http_skip.port,
        ca = pki.yaml("ca.pem"),
    );
    let mut gw = Gateway::start(&yaml, &[http_port, admin_port]).await;
    let (status, _, body) = gateway::post(
        &format!("http://127.0.0.1:{http_port}/v1/logs"),
        PB,
        None,
        logs_fixture(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let n = log_record_count();
    for backend in [&grpc_mtls, &http_mtls, &grpc_skip, &http_skip] {
        backend.expect_log_records(n, Duration::from_secs(20)).await;
    }
    for (name, proxy) in [
        ("otlp/mtls", &p_grpc_mtls),
        ("otlphttp/mtls", &p_http_mtls),
        ("otlp/skip", &p_grpc_skip),
        ("otlphttp/skip", &p_http_skip),
    ] {
        let (h, c) = (
            proxy.handshakes.load(Ordering::SeqCst),
            proxy.client_certs.load(Ordering::SeqCst),
        );
        assert!(
            h >= 1 && c == h,
            "{name}: {h} handshakes, {c} with a client cert"
        );
    }
    // Nothing was refused on the way.
    assert!(
        grpc_skip.requests().iter().all(|r| r.accepted),
        "{}",
        grpc_skip.describe()
    );
    assert!(gw.stop().await.success());
}

#[test]
fn validate_names_the_tls_and_auth_field_at_fault() {
    let pki = Pki::new();
    let base = |receiver_extra: &str, exporter_tls: &str| {
        format!(
            r#"receivers:
  otlp:
{receiver_extra}
exporters:
  otlphttp/x:
    endpoint: https://backend.example:4318
    tls: {exporter_tls}
service:
  pipelines:
    logs: {{ receivers: [otlp], exporters: [otlphttp/x] }}
"#
        )
    };
    let http_tls = |tls: &str| format!("    protocols:\n      http:\n        tls: {tls}");
    let cases = [
        (
            http_tls(&format!(
                r#"{{ cert_file: "{}/missing.pem", key_file: "{}" }}"#,
                pki.yaml(""),
                pki.yaml("server-key.pem")
            )),
            "{}".to_string(),
            "receivers.otlp.protocols.http.tls.cert_file",
            "missing.pem",
        ),
        (
            http_tls(&format!(
                r#"{{ cert_file: "{}", key_file: "{}" }}"#,
                pki.yaml("server.pem"),
                pki.yaml("other-server-key.pem")
            )),
            "{}".to_string(),
            "receivers.otlp.protocols.http.tls.key_file",
            "cannot be used with cert_file",
        ),
        (
            http_tls(&format!(
                r#"{{ cert_file: "{}", key_file: "{}", client_ca_file: "{}" }}"#,
                pki.yaml("server.pem"),
                pki.yaml("server-key.pem"),
                pki.yaml("server-key.pem")
            )),
            "{}".to_string(),
            "receivers.otlp.protocols.http.tls.client_ca_file",
            "no CERTIFICATE",
        ),
        (
            http_tls(&format!(
                r#"{{ cert_file: "{}", key_file: "{}", min_version: 1.1 }}"#,
                pki.yaml("server.pem"),
                pki.yaml("server-key.pem")
            )),
            "{}".to_string(),
            "receivers.otlp.protocols.http.tls.min_version",
            "refused",
        ),
        (
            "    protocols: { http: }\n    auth: { bearer_tokens: [ { token: \"\" } ] }"
                .to_string(),
            "{}".to_string(),
            "receivers.otlp.auth.bearer_tokens[0].token",
            "must not be empty",
        ),
        (
            "    protocols: { http: }\n    auth: {}".to_string(),
            "{}".to_string(),
            "receivers.otlp.auth",
            "at least one",
        ),
        (
            "    protocols: { http: }".to_string(),
            format!(r#"{{ cert_file: "{}" }}"#, pki.yaml("client.pem")),
            "exporters.otlphttp/x.tls.key_file",
            "required with cert_file",
        ),
        (
            "    protocols: { http: }".to_string(),
            format!(r#"{{ ca_file: "{}" }}"#, pki.yaml("nope.pem")),
            "exporters.otlphttp/x.tls.ca_file",
            "nope.pem",
        ),
    ];
    for (receiver, exporter_tls, path, message) in cases {
        let yaml = base(&receiver, &exporter_tls);
        let (code, stdout, stderr) = Gateway::validate(&yaml);
        let out = format!("{stdout}{stderr}");
        assert_ne!(code, 0, "{path}: validated:\n{yaml}\n{out}");
        assert!(
            out.lines()
                .any(|l| l.contains(&format!("{path}: ")) && l.contains(message)),
            "expected `{path}: ...{message}...` in:\n{out}\nfor:\n{yaml}"
        );
    }
    // The good files validate, and skip-verify is a warning, not an error.
    let yaml = base(
        &http_tls(&format!(
            r#"{{ cert_file: "{}", key_file: "{}", client_ca_file: "{}", min_version: "1.3" }}"#,
            pki.yaml("server.pem"),
            pki.yaml("server-key.pem"),
            pki.yaml("ca.pem")
        )),
        &format!(
            r#"{{ insecure_skip_verify: true, cert_file: "{}", key_file: "{}" }}"#,
            pki.yaml("client.pem"),
            pki.yaml("client-key.pem")
        ),
    );
    let (code, stdout, stderr) = Gateway::validate(&yaml);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(format!("{stdout}{stderr}").contains("insecure_skip_verify"));
}

// ---------------------------------------------------------------------------------------------
// 4 & 5. Receiver authentication
// ---------------------------------------------------------------------------------------------

const TOKEN: &str = "tok-payments-0123456789";
const PLAIN_TOKEN: &str = "tok-no-attributes";
const PASSWORD: &str = "correct horse:battery";

struct AuthSetup {
    gateway: Gateway,
    grpc_port: u16,
    http_port: u16,
    admin_port: u16,
    backend: FakeBackend,
}

async fn start_auth_gateway() -> AuthSetup {
    let backend = FakeBackend::http().await;
    let (grpc_port, http_port, admin_port) = (free_port(), free_port(), free_port());
    // `$1` passes the `${env:...}` expansion untouched (`${1}` would need `$${1}`).
    let yaml = format!(
        r#"receivers:
  otlp:
    auth:
      bearer_tokens:
        - token: ${{env:CODEX_TOKEN}}
          attributes: {{ team: payments }}
        - token: ${{env:PLAIN_TOKEN}}
      basic:
        - username: codex
          password: ${{env:CODEX_PASSWORD}}
          attributes: {{ team: search }}
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc_port}" }}
      http: {{ endpoint: "127.0.0.1:{http_port}" }}
processors:
  team:
    rules:
      - name: token
        match: {{ metadata: {{ key: auth.team, regex: "(.+)" }} }}
        set: {{ team: "$1" }}
exporters:
  otlphttp/backend:
    endpoint: {backend}
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 1s }}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{admin_port}" }} }}
  pipelines:
    traces: {{ receivers: [otlp], processors: [team], exporters: [otlphttp/backend] }}
    metrics: {{ receivers: [otlp], processors: [team], exporters: [otlphttp/backend] }}
    logs: {{ receivers: [otlp], processors: [team], exporters: [otlphttp/backend] }}
"#,
        backend = backend.endpoint(),
    );
    let gateway = Gateway::start_with_env(
        &yaml,
        &[grpc_port, http_port, admin_port],
        &[
            ("CODEX_TOKEN", TOKEN),
            ("PLAIN_TOKEN", PLAIN_TOKEN),
            ("CODEX_PASSWORD", PASSWORD),
        ],
    )
    .await;
    AuthSetup {
        gateway,
        grpc_port,
        http_port,
        admin_port,
        backend,
    }
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// `Authorization` values that must be refused (`None`: no header).
fn bad_credentials() -> Vec<(&'static str, Option<String>)> {
    vec![
        ("missing", None),
        ("wrong token", Some("Bearer tok-payments-0123456788".into())),
        ("token prefix", Some("Bearer tok-payments".into())),
        ("empty bearer", Some("Bearer ".into())),
        ("wrong scheme", Some(format!("Token {TOKEN}"))),
        ("no scheme", Some(TOKEN.to_string())),
        ("token as basic", Some(format!("Basic {TOKEN}"))),
        ("wrong password", Some(basic("codex", "wrong"))),
        ("wrong user", Some(basic("admin", PASSWORD))),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_refuses_bad_credentials_on_every_path_with_401_and_unauthenticated() {
    let mut s = start_auth_gateway().await;
    let base = format!("http://127.0.0.1:{}", s.http_port);
    let bodies: [(&str, Vec<u8>); 3] = [
        (
            "/v1/traces",
            ExportTraceServiceRequest::default().encode_to_vec(),
        ),
        (
            "/v1/metrics",
            ExportMetricsServiceRequest::default().encode_to_vec(),
        ),
        ("/v1/logs", logs_fixture()),
    ];
    let mut refused = 0;
    for (path, body) in &bodies {
        for (what, credential) in bad_credentials() {
            let headers: Vec<(&str, &str)> = credential
                .as_deref()
                .map(|c| vec![("authorization", c)])
                .unwrap_or_default();
            let (status, h, reply) = gateway::post_with_headers(
                &format!("{base}{path}"),
                PB,
                None,
                &headers,
                body.clone(),
            )
            .await;
            assert_eq!(status, 401, "{path} {what}");
            refused += 1;
            let challenges: Vec<_> = h
                .get_all("www-authenticate")
                .iter()
                .map(|v| v.to_str().unwrap_or("").to_string())
                .collect();
            assert!(
                challenges.iter().any(|c| c.starts_with("Bearer "))
                    && challenges.iter().any(|c| c.starts_with("Basic ")),
                "{path} {what}: {challenges:?}"
            );
            // A google.rpc.Status with UNAUTHENTICATED (16) that says nothing about the token.
            let text = String::from_utf8_lossy(&reply);
            assert!(!text.contains("tok-"), "{path} {what}: {text}");
        }
        // JSON clients get a JSON error.
        let (status, _, reply) =
            gateway::post(&format!("{base}{path}"), "application/json", None, "{}").await;
        assert_eq!(status, 401);
        refused += 1;
        let v: serde_json::Value = serde_json::from_slice(&reply).expect("JSON error body");
        assert_eq!(v["code"], 16, "{v}");
        // The right token, and the right basic credentials.
        for good in [
            format!("Bearer {TOKEN}"),
            format!("bearer {PLAIN_TOKEN}"),
            basic("codex", PASSWORD),
        ] {
            let (status, _, reply) = gateway::post_with_headers(
                &format!("{base}{path}"),
                PB,
                None,
                &[("authorization", &good)],
                body.clone(),
            )
            .await;
            assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&reply));
        }
    }
    // Other paths and methods are refused before anything else too.
    let (status, _, _) = gateway::post(&format!("{base}/v1/profiles"), PB, None, Vec::new()).await;
    assert_eq!(status, 401);
    refused += 1;

    // gRPC: every service, UNAUTHENTICATED before the message is decoded.
    let endpoint = format!("http://127.0.0.1:{}", s.grpc_port);
    let opts = |credential: Option<String>| GrpcOptions {
        metadata: credential
            .map(|c| vec![("authorization".to_string(), c)])
            .unwrap_or_default(),
        ..GrpcOptions::default()
    };
    for (what, credential) in bad_credentials() {
        let o = opts(credential);
        let t =
            gateway::grpc_export_traces_with(&endpoint, ExportTraceServiceRequest::default(), &o)
                .await;
        let m = gateway::grpc_export_metrics_with(
            &endpoint,
            ExportMetricsServiceRequest::default(),
            &o,
        )
        .await;
        let l = gateway::grpc_export_logs_with(&endpoint, logs_request(), &o).await;
        for (signal, code) in [
            ("traces", t.err().map(|e| e.code())),
            ("metrics", m.err().map(|e| e.code())),
            ("logs", l.err().map(|e| e.code())),
        ] {
            assert_eq!(
                code,
                Some(tonic::Code::Unauthenticated),
                "gRPC {signal} {what}"
            );
            refused += 1;
        }
    }
    for good in [format!("Bearer {TOKEN}"), basic("codex", PASSWORD)] {
        let o = opts(Some(good));
        gateway::grpc_export_traces_with(&endpoint, ExportTraceServiceRequest::default(), &o)
            .await
            .expect("gRPC traces with credentials");
        gateway::grpc_export_logs_with(&endpoint, logs_request(), &o)
            .await
            .expect("gRPC logs with credentials");
    }
    // Everything refused is counted; the token never reaches the logs.
    wait_for_metrics(
        s.admin_port,
        &[format!(
            "gateway_receiver_refused_requests_total{{receiver=\"otlp\"}} {refused}"
        )],
    )
    .await;
    assert!(s.gateway.stop().await.success());
    let output = s.gateway.output_report();
    for secret in [TOKEN, PLAIN_TOKEN, PASSWORD] {
        assert!(!output.contains(secret), "a secret was logged:\n{output}");
    }
    // 3 HTTP logs + 2 gRPC logs requests got through.
    assert_eq!(s.backend.log_record_count(), 5 * log_record_count());
}

/// A gzip stream of 1 GiB of zeros in about 1 MB, built without compressing 1 GiB: after a sync
/// flush, deflate encodes each further MiB of zeros as the same bytes, so that unit is
/// repeated; then a final empty block and the real CRC-32 and size of 1 GiB of zeros.
fn gzip_bomb_1gib() -> Vec<u8> {
    use std::io::Write;
    const MIB: usize = 1 << 20;
    let zeros = vec![0u8; MIB];
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut marks = Vec::new();
    for _ in 0..3 {
        enc.write_all(&zeros).expect("gzip");
        enc.flush().expect("sync flush");
        marks.push(enc.get_ref().len());
    }
    let head = enc.get_ref().clone();
    let unit = head[marks[1]..marks[2]].to_vec();
    assert_eq!(unit, head[marks[0]..marks[1]], "deflate repeats itself");
    let mut out = head;
    for _ in 3..1024 {
        out.extend_from_slice(&unit);
    }
    out.extend_from_slice(&[0x03, 0x00]); // final, fixed-Huffman, empty block
    let mut one = crc32fast::Hasher::new();
    one.update(&zeros);
    let mut crc = crc32fast::Hasher::new();
    for _ in 0..1024 {
        crc.combine(&one);
    }
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&(1u32 << 30).to_le_bytes());
    out
}

/// Resident memory of a process, from /proc.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// Sends an HTTP/1.1 POST by hand: the head at once, then (unless `send_body` is false) the
/// body in 64 KiB writes from another task, while the answer is read. Returns the status and
/// how long the answer took.
async fn raw_post(port: u16, head: String, body: Arc<Vec<u8>>, send_body: bool) -> (u16, Duration) {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        if wr.write_all(head.as_bytes()).await.is_err() || !send_body {
            return wr;
        }
        for chunk in body.chunks(64 * 1024) {
            if wr.write_all(chunk).await.is_err() {
                break;
            }
        }
        wr
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    assert!(read.is_ok(), "no answer within 10 s");
    writer.abort();
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    (status, elapsed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_gzip_bomb_is_refused_before_a_byte_is_read_or_inflated() {
    let mut s = start_auth_gateway().await;
    let bomb = Arc::new(gzip_bomb_1gib());
    assert!(bomb.len() < 1_200_000, "{} bytes on the wire", bomb.len());
    let head = |auth: Option<&str>| {
        format!(
            "POST /v1/logs HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: {PB}\r\n\
             content-encoding: gzip\r\ncontent-length: {}\r\n{}connection: close\r\n\r\n",
            bomb.len(),
            auth.map(|a| format!("authorization: {a}\r\n"))
                .unwrap_or_default()
        )
    };
    // Warm up (first connections, allocator arenas), then take the idle RSS.
    for _ in 0..3 {
        let (status, _) = raw_post(s.http_port, head(None), bomb.clone(), false).await;
        assert_eq!(status, 401);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = s.gateway.pid();
    let idle = rss_bytes(pid);

    // The head alone gets the 401: the gateway never waits for a body byte.
    let (status, took) = raw_post(s.http_port, head(None), bomb.clone(), false).await;
    assert_eq!(status, 401);
    assert!(took < Duration::from_secs(2), "401 took {took:?}");
    // The whole bomb, with no or wrong credentials, several times.
    for auth in [None, Some("Bearer wrong"), Some("Basic Y29kZXg6d3Jvbmc=")] {
        for _ in 0..3 {
            let (status, took) = raw_post(s.http_port, head(auth), bomb.clone(), true).await;
            assert_eq!(status, 401, "{auth:?}");
            assert!(took < Duration::from_secs(2), "{auth:?}: 401 took {took:?}");
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = rss_bytes(pid);
    assert!(
        after < idle + 10 * 1024 * 1024,
        "RSS grew from {idle} to {after} bytes"
    );
    // Authenticated, the same body is inflated only up to the body limit (20 MiB): 413.
    let bearer = format!("Bearer {TOKEN}");
    let (status, _) = raw_post(s.http_port, head(Some(&bearer)), bomb.clone(), true).await;
    assert_eq!(status, 413);
    assert_eq!(s.backend.request_count(), 0);
    eprintln!("gzip bomb: idle RSS {idle} B, after 10 refused bombs {after} B");
    assert!(s.gateway.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_attributes_reach_the_team_processor_and_cannot_be_forged() {
    let mut s = start_auth_gateway().await;
    let url = format!("http://127.0.0.1:{}/v1/logs", s.http_port);
    let n = log_record_count();
    let cases = [
        (format!("Bearer {TOKEN}"), "payments"),
        (basic("codex", PASSWORD), "search"),
        // A token without attributes: a client-sent `auth.team` header is dropped.
        (format!("Bearer {PLAIN_TOKEN}"), "unknown"),
    ];
    for (i, (credential, team)) in cases.iter().enumerate() {
        let (status, _, _) = gateway::post_with_headers(
            &url,
            PB,
            None,
            &[("authorization", credential), ("auth.team", "forged")],
            logs_fixture(),
        )
        .await;
        assert_eq!(status, 200);
        s.backend
            .expect_log_records((i + 1) * n, Duration::from_secs(20))
            .await;
        let got = s.backend.received_logs_from(i);
        let teams: Vec<_> = got
            .iter()
            .flat_map(|r| &r.resource_logs)
            .map(|rl| {
                rl.resource
                    .as_ref()
                    .and_then(|r| attr_str(&r.attributes, "team"))
                    .unwrap_or("<none>")
                    .to_string()
            })
            .collect();
        assert!(
            !teams.is_empty() && teams.iter().all(|t| t == team),
            "{team}: {teams:?}"
        );
    }
    // Over gRPC too: the metadata comes from the `authorization` metadata entry.
    let before = s.backend.received_logs().len();
    gateway::grpc_export_logs_with(
        &format!("http://127.0.0.1:{}", s.grpc_port),
        logs_request(),
        &GrpcOptions {
            metadata: vec![
                ("authorization".into(), format!("Bearer {TOKEN}")),
                ("auth.team".into(), "forged".into()),
            ],
            ..GrpcOptions::default()
        },
    )
    .await
    .expect("gRPC with a token");
    s.backend
        .expect_log_records(4 * n, Duration::from_secs(20))
        .await;
    let got = s.backend.received_logs_from(before);
    assert!(got.iter().flat_map(|r| &r.resource_logs).all(|rl| rl
        .resource
        .as_ref()
        .and_then(|r| attr_str(&r.attributes, "team"))
        == Some("payments")));
    assert!(s.gateway.stop().await.success());
}
