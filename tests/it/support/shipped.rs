//! Every gateway config the project ships, found by walking the folders (so a new file cannot
//! escape the tests that go through them): every `*.yaml` under `config/`, and the
//! `gateway.yaml` key of every ConfigMap under `deploy/`.

use std::path::{Path, PathBuf};

/// One shipped gateway config.
#[derive(Clone, Debug)]
pub struct ShippedConfig {
    /// Path relative to the repository root; a ConfigMap's is `<file>#gateway.yaml`.
    pub label: String,
    /// The YAML text of the gateway config.
    pub yaml: String,
}

impl ShippedConfig {
    /// The file name without folder and extension (`last9`, `configmap`, ...).
    pub fn stem(&self) -> &str {
        let path = self.label.split('#').next().unwrap_or(&self.label);
        let name = path.rsplit('/').next().unwrap_or(path);
        name.strip_suffix(".yaml").unwrap_or(name)
    }
}

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    out.sort();
}

/// The block scalar under `gateway.yaml: |` in a ConfigMap, dedented; `None` without one.
pub fn configmap_gateway_yaml(text: &str) -> Option<String> {
    let mut lines = text.lines();
    let key_indent = loop {
        let line = lines.next()?;
        if line.trim_start() == "gateway.yaml: |" {
            break line.len() - line.trim_start().len();
        }
    };
    let mut body = Vec::new();
    let mut indent = None;
    for line in lines {
        let trimmed = line.trim_start();
        let this = line.len() - trimmed.len();
        if !trimmed.is_empty() && (this <= key_indent || line.starts_with("---")) {
            break;
        }
        if !trimmed.is_empty() && indent.is_none() {
            indent = Some(this);
        }
        body.push(line);
    }
    let indent = indent?;
    Some(
        body.iter()
            .map(|l| l.get(indent..).unwrap_or("").to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Every YAML file under `folder` (relative to the root): (relative path, text).
fn read_yaml_files(folder: &str) -> Vec<(String, String)> {
    let mut files = Vec::new();
    yaml_files(&root().join(folder), &mut files);
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let rel = path
                .strip_prefix(root())
                .expect("under root")
                .display()
                .to_string();
            (rel, text)
        })
        .collect()
}

/// Every shipped gateway config, sorted by label.
pub fn shipped_configs() -> Vec<ShippedConfig> {
    let mut out: Vec<ShippedConfig> = read_yaml_files("config")
        .into_iter()
        .map(|(label, yaml)| ShippedConfig { label, yaml })
        .collect();
    for (rel, text) in read_yaml_files("deploy") {
        if let Some(yaml) = configmap_gateway_yaml(&text) {
            out.push(ShippedConfig {
                label: format!("{rel}#gateway.yaml"),
                yaml,
            });
        } else {
            // A gateway config that is not a ConfigMap key would escape the tests.
            assert!(
                !(text.contains("\nreceivers:") && text.contains("\nexporters:")),
                "{rel} looks like a gateway config but is not config/*.yaml nor a ConfigMap key"
            );
        }
    }
    out
}
