//! Prints a privacy corpus (tests/it/support/corpus): the planted values by category, format,
//! channel and carrier, the commands of each scripted Codex session, the prompts and the
//! ordinary substrings; or writes each session's work tree to a folder.
//!
//!     cargo run --example privacy_corpus -- [--seed N] [--sessions N] [--summary] [--write DIR]
//!
//! `scripts/print-corpus` wraps it. Without `--seed` a random seed is used (and printed); the
//! privacy tests print theirs and split the corpus over 3 sessions.

// Test code shared with tests/it, where failing loudly on a broken generator is the point.
#[allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
#[path = "../tests/it/support/corpus/mod.rs"]
mod corpus;

use std::process::ExitCode;

struct Args {
    seed: u64,
    sessions: usize,
    summary: bool,
    write: Option<std::path::PathBuf>,
}

fn parse() -> Result<Option<Args>, String> {
    let mut a = Args {
        seed: rand::random(),
        sessions: 3,
        summary: false,
        write: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--seed" => {
                a.seed = value("--seed")?
                    .parse()
                    .map_err(|e| format!("--seed: {e}"))?
            }
            "--sessions" => {
                a.sessions = value("--sessions")?
                    .parse()
                    .map_err(|e| format!("--sessions: {e}"))?;
                if a.sessions == 0 {
                    return Err("--sessions must be at least 1".into());
                }
            }
            "--summary" => a.summary = true,
            "--write" => a.write = Some(value("--write")?.into()),
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Some(a))
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(Some(a)) => a,
        Ok(None) => return usage(None),
        Err(e) => return usage(Some(&e)),
    };
    let c = corpus::Corpus::generate(args.seed);
    let sessions = c.split(args.sessions);
    let by_cat = c.formats_by_category();
    let creds: usize = by_cat
        .iter()
        .filter(|(c, _)| c.is_credential())
        .map(|(_, f)| f.len())
        .sum();
    let ordinary: usize = sessions.iter().map(|s| s.ordinary.len()).sum();
    println!("# privacy corpus, seed {}", args.seed);
    println!(
        "# {} planted values, {creds} credential formats, {ordinary} ordinary substrings, {} sessions",
        c.planted().count(),
        sessions.len()
    );
    for (cat, formats) in &by_cat {
        let n = c.planted().filter(|p| p.category == *cat).count();
        println!(
            "#   {:<16} {:>3} formats {:>4} values",
            cat.name(),
            formats.len(),
            n
        );
    }
    for s in &sessions {
        println!(
            "# session {}: {} steps, {} planted values, {} ordinary substrings",
            s.index,
            s.commands.len(),
            s.planted.len(),
            s.ordinary.len()
        );
    }
    if let Some(dir) = &args.write {
        if let Err(e) = write(dir, &sessions) {
            eprintln!("privacy_corpus: {e}");
            return ExitCode::FAILURE;
        }
        println!("# wrote the work trees under {}", dir.display());
    }
    if args.summary {
        return ExitCode::SUCCESS;
    }
    for s in &sessions {
        println!(
            "\n## session {}: planted values (category, format, channel, carrier, value)",
            s.index
        );
        for p in &s.planted {
            let value = p.value.replace('\n', "\\n");
            println!(
                "{}\t{}\t{}\t{}\t{value}",
                p.category.name(),
                p.format,
                p.channel.name(),
                p.carrier
            );
        }
        println!("\n## session {}: prompt\n{}", s.index, s.prompt);
        println!("\n## session {}: commands", s.index);
        for cmd in &s.commands {
            println!("$ {cmd}");
        }
        println!("\n## session {}: ordinary substrings", s.index);
        for o in &s.ordinary {
            println!("{o}");
        }
    }
    ExitCode::SUCCESS
}

/// Writes session `i`'s work tree to `dir/session-i`.
fn write(dir: &std::path::Path, sessions: &[corpus::Session]) -> Result<(), String> {
    for s in sessions {
        for f in &s.files {
            let path = dir.join(format!("session-{}", s.index)).join(&f.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            std::fs::write(&path, &f.content).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

fn usage(problem: Option<&str>) -> ExitCode {
    if let Some(p) = problem {
        eprintln!("privacy_corpus: {p}");
    }
    eprintln!("usage: privacy_corpus [--seed N] [--sessions N] [--summary] [--write DIR]");
    if problem.is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
