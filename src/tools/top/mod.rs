//! `codex-otel-gateway top`: a live terminal view of a running gateway in the spirit of
//! `vector top`. Client side only: it scrapes the admin listener's plain `/metrics` once a
//! second ([`exposition`]), turns two scrapes into per-component rates ([`model`]) and draws
//! them ([`view`]) until `q` (or Esc, Ctrl-C) is pressed. A failed scrape is shown in the header
//! and retried at the next tick; the gateway needs nothing enabled for it.

pub mod exposition;
pub mod model;
pub mod view;

use model::{Screen, Snapshot};
use processors::units::parse_duration;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::DefaultTerminal;
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use view::Status;

/// `codex-otel-gateway top` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct TopArgs {
    /// The gateway's admin listener (service.telemetry.metrics.address), e.g.
    /// http://127.0.0.1:8888; `/metrics` is appended unless the URL has a path.
    #[arg(long, default_value = "http://127.0.0.1:8888")]
    pub admin: String,
    /// Time between scrapes, e.g. "1s", "500ms".
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
}

/// Why `top` could not run (a failing scrape is not one: it is shown and retried).
#[derive(Debug, thiserror::Error)]
pub enum TopError {
    /// `--admin` is not a plain `http://` URL.
    #[error("--admin {url:?}: {reason}")]
    Url {
        /// As given.
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// `--interval` is zero.
    #[error("--interval must be more than zero")]
    Interval,
    /// Standard output is not a terminal.
    #[error("top draws on a terminal, and standard output is not one")]
    NotATerminal,
    /// The terminal could not be set up, drawn on or read.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    /// The HTTP client or its runtime could not start.
    #[error("cannot start the HTTP client: {0}")]
    Client(String),
}

/// Why one scrape failed.
#[derive(Debug, thiserror::Error)]
enum ScrapeError {
    #[error("{0}")]
    Http(String),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("not Prometheus text: {0}")]
    Parse(#[from] exposition::ParseError),
}

/// `<admin>/metrics`, or the URL itself when it has a path.
pub fn metrics_url(admin: &str) -> Result<String, TopError> {
    let bad = |reason| TopError::Url {
        url: admin.to_string(),
        reason,
    };
    let rest = admin
        .strip_prefix("http://")
        .ok_or_else(|| bad("only plain http:// URLs are served by the admin listener"))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    Ok(if path.is_empty() {
        format!("http://{authority}/metrics")
    } else {
        admin.to_string()
    })
}

/// Runs the view until `q`.
pub fn run(args: TopArgs) -> Result<(), TopError> {
    let url = metrics_url(&args.admin)?;
    if args.interval.is_zero() {
        return Err(TopError::Interval);
    }
    if !std::io::stdout().is_terminal() {
        return Err(TopError::NotATerminal);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TopError::Client(e.to_string()))?;
    let client = reqwest::Client::builder()
        .timeout(args.interval.max(Duration::from_secs(1)))
        .build()
        .map_err(|e| TopError::Client(e.to_string()))?;
    let scrape = |url: &str| runtime.block_on(scrape(&client, url));
    let mut terminal = ratatui::try_init()?;
    let result = event_loop(&mut terminal, &url, args.interval, scrape);
    ratatui::try_restore()?;
    result
}

async fn scrape(client: &reqwest::Client, url: &str) -> Result<Snapshot, ScrapeError> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| ScrapeError::Http(error_text(&e)))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(ScrapeError::Status(status));
    }
    let text = response
        .text()
        .await
        .map_err(|e| ScrapeError::Http(error_text(&e)))?;
    Ok(Snapshot::from_samples(&exposition::parse(&text)?))
}

/// The innermost cause: "Connection refused (os error 111)" rather than reqwest's outer text.
fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Whether a key press ends `top`.
fn quits(key: KeyEvent) -> bool {
    key.kind == KeyEventKind::Press
        && (matches!(
            key.code,
            KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc
        ) || (key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL)))
}

/// Scrapes every `interval`, redraws after each scrape and on resizes, until a quitting key.
fn event_loop(
    terminal: &mut DefaultTerminal,
    url: &str,
    interval: Duration,
    mut scrape: impl FnMut(&str) -> Result<Snapshot, ScrapeError>,
) -> Result<(), TopError> {
    let mut status = Status {
        url: url.to_string(),
        ..Status::default()
    };
    let mut previous: Option<(Instant, Snapshot)> = None;
    let mut screen = Screen::default();
    loop {
        let tick = Instant::now();
        match scrape(url) {
            Ok(snapshot) => {
                let earlier = previous
                    .as_ref()
                    .map(|(at, s)| (tick.duration_since(*at), s));
                let secs = earlier.map_or(0.0, |(d, _)| d.as_secs_f64());
                screen = model::screen(earlier.map(|(_, s)| s), &snapshot, secs);
                previous = Some((tick, snapshot));
                status.error = None;
                status.scrapes += 1;
            }
            Err(e) => status.error = Some(e.to_string()),
        }
        terminal.draw(|f| view::draw(f, &screen, &status))?;
        while let Some(left) = (tick + interval).checked_duration_since(Instant::now()) {
            if !event::poll(left)? {
                break;
            }
            match event::read()? {
                Event::Key(key) if quits(key) => return Ok(()),
                Event::Resize(..) => {
                    terminal.draw(|f| view::draw(f, &screen, &status))?;
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_urls_get_metrics_appended_and_bad_ones_are_refused() {
        assert_eq!(
            metrics_url("http://127.0.0.1:8888").expect("ok"),
            "http://127.0.0.1:8888/metrics"
        );
        assert_eq!(
            metrics_url("http://gw:9/").expect("ok"),
            "http://gw:9/metrics"
        );
        assert_eq!(
            metrics_url("http://gw:9/custom/metrics").expect("ok"),
            "http://gw:9/custom/metrics"
        );
        for bad in ["https://gw:8888", "127.0.0.1:8888", "http:///metrics"] {
            assert!(metrics_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn q_esc_and_ctrl_c_quit_other_keys_do_not() {
        let key = |code, modifiers| KeyEvent::new(code, modifiers);
        assert!(quits(key(KeyCode::Char('q'), KeyModifiers::NONE)));
        assert!(quits(key(KeyCode::Esc, KeyModifiers::NONE)));
        assert!(quits(key(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(!quits(key(KeyCode::Char('c'), KeyModifiers::NONE)));
        assert!(!quits(key(KeyCode::Char('x'), KeyModifiers::NONE)));
    }
}
