//! The ingest state file: per session file, the [`Cursor`] where the last acknowledged run
//! stopped. JSON, written atomically (a temporary file in the same folder, flushed, then renamed
//! over the old one), so a crash or a cron overlap leaves either the old or the new state.

use super::session::Cursor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The state file's format version.
const VERSION: u32 = 1;

/// What was sent, by session file (absolute path).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Format version.
    #[serde(default)]
    pub version: u32,
    /// Absolute path → where reading stopped.
    #[serde(default)]
    pub files: BTreeMap<String, Cursor>,
}

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading failed (other than "not found", which is an empty state).
    #[error("state file {}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a state file.
    #[error("state file {}: not valid ingest state ({source}); move it away to start over", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// Writing failed.
    #[error("state file {}: cannot write: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No `--state` and neither `XDG_STATE_HOME` nor `HOME` is set.
    #[error("no state file location: pass --state, or set XDG_STATE_HOME or HOME")]
    NoLocation,
}

/// `$XDG_STATE_HOME/codex-otel-gateway/ingest-state.json`, else
/// `$HOME/.local/state/codex-otel-gateway/ingest-state.json`.
pub fn default_path(lookup: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf, StateError> {
    let base = match lookup("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => {
            let home = lookup("HOME")
                .filter(|v| !v.is_empty())
                .ok_or(StateError::NoLocation)?;
            PathBuf::from(home).join(".local").join("state")
        }
    };
    Ok(base.join("codex-otel-gateway").join("ingest-state.json"))
}

impl State {
    /// Loads `path`; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<State, StateError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(source) => {
                return Err(StateError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        serde_json::from_slice(&bytes).map_err(|source| StateError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes the state to `path` atomically (temp file + fsync + rename), creating the folder.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let err = |source| StateError::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(err)?;
        let mut state = self.clone();
        state.version = VERSION;
        let json = serde_json::to_vec_pretty(&state)
            .map_err(|e| err(std::io::Error::other(e.to_string())))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "ingest-state.json".into());
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        assert_eq!(State::load(&path).unwrap(), State::default());
        let mut s = State::default();
        s.files.insert(
            "/a/rollout-1.jsonl".into(),
            Cursor {
                offset: 42,
                ..Cursor::default()
            },
        );
        s.save(&path).unwrap();
        let back = State::load(&path).unwrap();
        assert_eq!(back.files["/a/rollout-1.jsonl"].offset, 42);
        assert_eq!(back.version, VERSION);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn default_path_prefers_xdg_state_home() {
        let p = default_path(&|k| (k == "XDG_STATE_HOME").then(|| "/x".into())).unwrap();
        assert_eq!(p, PathBuf::from("/x/codex-otel-gateway/ingest-state.json"));
        let p = default_path(&|k| (k == "HOME").then(|| "/home/u".into())).unwrap();
        assert_eq!(
            p,
            PathBuf::from("/home/u/.local/state/codex-otel-gateway/ingest-state.json")
        );
        assert!(default_path(&|_| None).is_err());
    }
}
