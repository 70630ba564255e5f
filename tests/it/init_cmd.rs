//! `codex-otel-gateway init --vendor <name>` through the binary: it writes exactly the example
//! file of that vendor (one source of truth), which validates on a machine with no variables
//! set, prints the next steps and the Codex `[otel]` block for it, and never replaces an
//! existing file without `--force`.

use std::process::Command;

use crate::support::gateway::GATEWAY_BIN;
use crate::support::shipped::root;

const VENDORS: &[(&str, &str)] = &[
    ("last9", "last9.yaml"),
    ("grafana-cloud", "grafana-cloud.yaml"),
    ("signoz", "signoz.yaml"),
    ("otlp", "otlp.yaml"),
    ("prometheus", "prometheus-remote-write.yaml"),
];

fn gateway(args: &[&str], dir: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(GATEWAY_BIN)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .output()
        .expect("run the gateway binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn init_writes_the_example_file_of_each_vendor_which_validates_and_prints_the_codex_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (vendor, file) in VENDORS {
        // Default output: the profile's own name in the current folder.
        let (code, stdout, stderr) = gateway(&["init", "--vendor", vendor], dir.path());
        assert_eq!(code, 0, "{vendor}: {stderr}");
        let written = std::fs::read_to_string(dir.path().join(file)).expect("written");
        let example =
            std::fs::read_to_string(root().join("config/examples").join(file)).expect("example");
        assert_eq!(written, example, "{vendor}: init writes the example file");
        assert!(
            stdout.contains(&format!("codex-otel-gateway run --config {file}")),
            "{stdout}"
        );
        assert!(
            stdout.contains("[otel.exporter.otlp-http]"),
            "{vendor}: {stdout}"
        );
        assert!(
            stdout.contains("endpoint = \"http://127.0.0.1:4318/v1/logs\""),
            "{vendor}: {stdout}"
        );
        assert!(stdout.contains("REDACTION_HASH_KEY"), "{stdout}");
        let (code, _, stderr) = gateway(&["validate", "--config", file], dir.path());
        assert_eq!(code, 0, "{vendor}: the written file validates: {stderr}");
        assert!(!stderr.contains("warning"), "{vendor}: {stderr}");
    }
}

#[test]
fn init_refuses_to_overwrite_an_existing_file_unless_forced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("mine.yaml");
    std::fs::write(&target, "# my own config\n").expect("write");
    let (code, stdout, stderr) = gateway(
        &["init", "--vendor", "signoz", "--output", "mine.yaml"],
        dir.path(),
    );
    assert_eq!(code, 73, "{stdout}{stderr}");
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&target).expect("read"),
        "# my own config\n"
    );

    let (code, _, stderr) = gateway(
        &[
            "init",
            "--vendor",
            "signoz",
            "--output",
            "mine.yaml",
            "--force",
        ],
        dir.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    let example =
        std::fs::read_to_string(root().join("config/examples/signoz.yaml")).expect("example");
    assert_eq!(std::fs::read_to_string(&target).expect("read"), example);
}

#[test]
fn init_names_the_vendors_it_knows_for_an_unknown_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, stderr) = gateway(&["init", "--vendor", "datadog"], dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("last9, grafana-cloud, signoz, otlp, prometheus"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("read dir").count(),
        0,
        "nothing written"
    );
}
