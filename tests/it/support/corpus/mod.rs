//! The privacy corpus: an independent judge of the redaction, built from public facts about
//! credential formats (vendor docs, gitleaks' default rules, secretlint's recommended preset) and
//! never from the gateway's detectors.
//!
//! [`Corpus::generate`] makes a run's worth of fresh random values, [`Corpus::split`] shares
//! them out over the run's Codex sessions: every
//! credential format (LLM/AI providers, source hosting, CI/CD, cloud, package and container
//! registries, chat/webhooks, payments, email/SMS, observability, secret managers, databases,
//! private key blocks of every armour, header tokens in `curl` command lines), PII (phones, IBANs,
//! cards, national ids, emails) and generic secrets after secret-ish keys in every syntax, planted
//! in the channels Codex telemetry carries:
//!
//! * the prompt ([`Channel::Prompt`]);
//! * shell command arguments ([`Channel::ToolArguments`]);
//! * tool outputs: files in the session's work tree the scripted model prints with `cat`, each
//!   at most [`documents::OUTPUT_BUDGET`] bytes because Codex cuts a tool output to 2,048
//!   characters in its telemetry ([`Channel::ToolOutput`]);
//! * patches applied through `apply_patch` ([`Channel::ApplyPatch`]);
//! * error messages of failing commands ([`Channel::ErrorMessage`]).
//!
//! Alongside, a secret-free corpus of ordinary developer work ([`ordinary`]) with the list of
//! distinctive substrings a redactor must leave alone. `scripts/print-corpus` prints a corpus.

pub mod documents;
pub mod formats;
pub mod gen;
pub mod keys;
pub mod ordinary;
pub mod pii;

use std::collections::BTreeMap;

use documents::{Builder, OUTPUT_BUDGET};

/// What kind of secret a planted value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    LlmAi,
    SourceHosting,
    CiCd,
    Cloud,
    Registry,
    ChatWebhook,
    Payments,
    EmailSms,
    Observability,
    SecretManager,
    Database,
    PrivateKey,
    Header,
    Pii,
    Generic,
}

impl Category {
    pub fn name(self) -> &'static str {
        match self {
            Category::LlmAi => "llm/ai",
            Category::SourceHosting => "source hosting",
            Category::CiCd => "ci/cd",
            Category::Cloud => "cloud",
            Category::Registry => "registries",
            Category::ChatWebhook => "chat/webhooks",
            Category::Payments => "payments",
            Category::EmailSms => "email/sms",
            Category::Observability => "observability",
            Category::SecretManager => "secret managers",
            Category::Database => "databases",
            Category::PrivateKey => "private keys",
            Category::Header => "headers",
            Category::Pii => "pii",
            Category::Generic => "generic",
        }
    }

    /// Credential categories (everything but PII and generic key=value secrets).
    pub fn is_credential(self) -> bool {
        !matches!(self, Category::Pii | Category::Generic)
    }
}

/// Where in the session a value is planted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Prompt,
    ToolArguments,
    ToolOutput,
    ApplyPatch,
    ErrorMessage,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Prompt => "prompt",
            Channel::ToolArguments => "tool arguments",
            Channel::ToolOutput => "tool output",
            Channel::ApplyPatch => "apply_patch",
            Channel::ErrorMessage => "error message",
        }
    }
}

/// One planted value.
#[derive(Clone, Debug)]
pub struct Planted {
    /// Format id, e.g. `github-pat-classic`.
    pub format: String,
    pub category: Category,
    /// The exact text planted.
    pub value: String,
    /// A distinctive substring of its random part (≥ 12 characters unless the value is shorter):
    /// finding it anywhere is a (partial) leak.
    pub core: String,
    /// For values that carry their secret only in base64: the core of the decoded secret.
    pub decoded_core: Option<String>,
    pub channel: Channel,
    /// The file or command that carries it.
    pub carrier: String,
}

/// A file written into the session's work tree before Codex starts.
#[derive(Clone, Debug)]
pub struct WorkFile {
    pub path: String,
    pub content: String,
    pub executable: bool,
}

/// How many prompts a corpus carries (one per session of a run).
pub const PROMPTS: usize = 3;

/// A whole corpus: every unit (printed file, command, prompt) with what it carries.
pub struct Corpus {
    pub seed: u64,
    pub units: Vec<documents::Unit>,
}

impl Corpus {
    /// The corpus of a run with `seed`: fresh values of every format, PII, generic secrets,
    /// structured files, and the secret-free corpus.
    pub fn generate(seed: u64) -> Corpus {
        let mut g = gen::Gen::new(seed);
        let rot = g.below(1000);
        let formats = formats::credential_formats();
        let mut b = Builder::new(&mut g, rot);
        for n in 0..PROMPTS {
            documents::prompt(&mut b, &formats, n);
        }
        documents::plant_formats(&mut b, &formats);
        documents::plant_key_files(&mut b);
        documents::plant_structured_files(&mut b, &formats);
        documents::plant_generic(&mut b);
        documents::plant_headers(&mut b, &formats);
        documents::plant_pii(&mut b);
        documents::patches(&mut b, &formats);
        documents::failing_commands(&mut b, &formats);
        ordinary::plant_ordinary(&mut b);
        let units = b.units;
        Corpus { seed, units }
    }

    /// Every planted value.
    pub fn planted(&self) -> impl Iterator<Item = &Planted> {
        self.units.iter().flat_map(|u| &u.planted)
    }

    /// Distinct formats planted, by category.
    pub fn formats_by_category(&self) -> BTreeMap<Category, Vec<String>> {
        let mut out: BTreeMap<Category, Vec<String>> = BTreeMap::new();
        for p in self.planted() {
            let list = out.entry(p.category).or_default();
            if !list.contains(&p.format) {
                list.push(p.format.clone());
            }
        }
        out
    }

    /// The corpus split into `parts` sessions: prompt `n` goes to session `n % parts`, every
    /// other unit to a session chosen by its position and the seed (so across runs each format
    /// travels over each session's protocol).
    pub fn split(&self, parts: usize) -> Vec<Session> {
        let rot = (self.seed % parts as u64) as usize;
        let mut sessions: Vec<Session> = (0..parts)
            .map(|index| Session {
                index,
                seed: self.seed,
                prompt: String::new(),
                files: Vec::new(),
                commands: Vec::new(),
                planted: Vec::new(),
                ordinary: Vec::new(),
                ordinary_files: Vec::new(),
            })
            .collect();
        let (mut prompts, mut others) = (0, 0);
        let mut outputs: Vec<Vec<String>> = vec![Vec::new(); parts];
        let mut commands: Vec<Vec<String>> = vec![Vec::new(); parts];
        for u in &self.units {
            let part = match &u.kind {
                documents::UnitKind::Prompt(_) => {
                    prompts += 1;
                    (prompts - 1) % parts
                }
                _ => {
                    others += 1;
                    (others - 1 + rot) % parts
                }
            };
            let s = &mut sessions[part];
            match &u.kind {
                documents::UnitKind::Prompt(text) => {
                    if !s.prompt.is_empty() {
                        s.prompt.push(' ');
                    }
                    s.prompt.push_str(text);
                }
                documents::UnitKind::Output { path, ordinary } => {
                    outputs[part].push(path.clone());
                    if *ordinary {
                        s.ordinary_files.push(path.clone());
                    }
                }
                documents::UnitKind::Command(c) => commands[part].push(c.clone()),
            }
            s.files.extend(u.files.iter().cloned());
            s.planted.extend(u.planted.iter().cloned());
            s.ordinary.extend(u.ordinary.iter().cloned());
        }
        for (i, s) in sessions.iter_mut().enumerate() {
            s.commands = pack_cats(&outputs[i], &s.files);
            s.commands.append(&mut commands[i]);
        }
        sessions
    }
}

/// One Codex session's share of a corpus.
pub struct Session {
    pub index: usize,
    pub seed: u64,
    pub prompt: String,
    pub files: Vec<WorkFile>,
    /// The shell commands of the scripted model, one per step.
    pub commands: Vec<String>,
    pub planted: Vec<Planted>,
    /// Distinctive substrings of the secret-free files and commands.
    pub ordinary: Vec<String>,
    /// Paths of the secret-free files.
    pub ordinary_files: Vec<String>,
}

impl Session {
    /// The files that carry planted values (all but the ordinary ones).
    pub fn secret_files(&self) -> impl Iterator<Item = &WorkFile> {
        self.files
            .iter()
            .filter(|f| !self.ordinary_files.contains(&f.path))
    }

    /// The ordinary files.
    pub fn ordinary_file_texts(&self) -> impl Iterator<Item = &WorkFile> {
        self.files
            .iter()
            .filter(|f| self.ordinary_files.contains(&f.path))
    }
}

/// `cat` commands printing `outputs` in order, several files per command while the total stays
/// within [`OUTPUT_BUDGET`].
fn pack_cats(outputs: &[String], files: &[WorkFile]) -> Vec<String> {
    let size = |p: &str| {
        files
            .iter()
            .find(|f| f.path == p)
            .map_or(0, |f| f.content.len())
    };
    let mut commands = Vec::new();
    let (mut group, mut total): (Vec<&str>, usize) = (Vec::new(), 0);
    for p in outputs {
        let n = size(p);
        if total + n > OUTPUT_BUDGET && !group.is_empty() {
            commands.push(format!("cat {}", group.join(" ")));
            group.clear();
            total = 0;
        }
        group.push(p);
        total += n;
    }
    if !group.is_empty() {
        commands.push(format!("cat {}", group.join(" ")));
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corpus_plants_every_value_where_codex_carries_it_whole() {
        let corpus = Corpus::generate(42);
        let creds: usize = corpus
            .formats_by_category()
            .iter()
            .filter(|(c, _)| c.is_credential())
            .map(|(_, f)| f.len())
            .sum();
        assert!(creds >= 120, "{creds} credential formats");
        let sessions = corpus.split(3);
        let ordinary: usize = sessions.iter().map(|s| s.ordinary.len()).sum();
        assert!(ordinary >= 150, "{ordinary} ordinary substrings");
        let planted: Vec<&Planted> = sessions.iter().flat_map(|s| &s.planted).collect();
        assert_eq!(planted.len(), corpus.planted().count());
        for s in &sessions {
            assert!(!s.prompt.is_empty() && !s.commands.is_empty());
            let everything: String = s
                .files
                .iter()
                .map(|f| f.content.as_str())
                .chain(s.commands.iter().map(String::as_str))
                .chain([s.prompt.as_str()])
                .collect::<Vec<_>>()
                .join("\n");
            for p in &s.planted {
                assert!(
                    everything.contains(&p.value),
                    "{} not planted in its session",
                    p.format
                );
            }
            for o in &s.ordinary {
                assert!(everything.contains(o.as_str()), "{o} not in its session");
            }
            // Every printed file is printed; every script a command runs is there.
            for f in &s.files {
                assert!(
                    f.content.len() <= OUTPUT_BUDGET || f.executable,
                    "{}",
                    f.path
                );
                assert!(
                    s.commands.iter().any(|c| c.contains(&f.path)),
                    "{} unused",
                    f.path
                );
            }
        }
        let ordinary: Vec<&String> = sessions.iter().flat_map(|s| &s.ordinary).collect();
        for p in &planted {
            assert!(p.value.contains(&p.core), "{}: core", p.format);
            assert!(
                p.core.len() >= 12 || p.core == p.value,
                "{}: core {}",
                p.format,
                p.core
            );
            for q in &planted {
                assert!(
                    q.value == p.value || !q.value.contains(&p.core),
                    "core of {} in {}",
                    p.format,
                    q.format
                );
            }
            for o in &ordinary {
                assert!(
                    !o.contains(&p.core) && !p.value.contains(o.as_str()),
                    "{} vs {o}",
                    p.format
                );
            }
        }
        // Same values per seed, fresh values per seed.
        assert_eq!(
            Corpus::generate(42).units[0].planted[0].value,
            planted_first(&corpus)
        );
        assert_ne!(planted_first(&Corpus::generate(43)), planted_first(&corpus));
    }

    fn planted_first(c: &Corpus) -> String {
        c.planted().next().expect("planted").value.clone()
    }
}
