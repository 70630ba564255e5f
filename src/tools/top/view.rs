//! Draws a [`Screen`] with ratatui: a header line (gateway, uptime, memory, CPU, scrape
//! status), the components table, and the redactions and alerts tables side by side.

use super::model::{Count, Kind, Row, Screen};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row as TableRow, Table};
use ratatui::Frame;

/// What the header says besides the screen's numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    /// The scraped URL.
    pub url: String,
    /// The last scrape's error, if it failed.
    pub error: Option<String>,
    /// Scrapes so far.
    pub scrapes: u64,
}

/// `12.3`, `4.5k`, `6.7M`; `–` when unknown.
pub fn number(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v >= 1e6 => format!("{:.1}M", v / 1e6),
        Some(v) if v >= 1e4 => format!("{:.1}k", v / 1e3),
        Some(v) => format!("{v:.1}"),
    }
}

fn bytes(v: Option<f64>) -> String {
    v.map_or("–".into(), |b| {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    })
}

fn duration(secs: Option<f64>) -> String {
    let Some(s) = secs else { return "–".into() };
    let s = s as u64;
    format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
}

fn queue(q: Option<(f64, f64)>) -> String {
    match q {
        Some((held, cap)) if cap > 0.0 => format!("{held:.0}/{cap:.0} {:.0}%", 100.0 * held / cap),
        Some((held, _)) => format!("{held:.0}"),
        None => "–".into(),
    }
}

fn header(screen: &Screen, status: &Status) -> Paragraph<'static> {
    let mut spans = vec![
        Span::styled(
            "codex-otel-gateway top ",
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!("{}  ", status.url)),
        Span::raw(format!("up {}  ", duration(screen.uptime))),
        Span::raw(format!("RSS {}  ", bytes(screen.rss))),
        Span::raw(match screen.cpu {
            Some(cores) => format!("CPU {:.1}%  ", 100.0 * cores),
            None => "CPU –  ".to_string(),
        }),
    ];
    match &status.error {
        Some(e) => spans.push(Span::styled(
            format!("scrape failed: {e}"),
            Style::new().fg(Color::Red),
        )),
        None => spans.push(Span::raw(format!("scrapes {}", status.scrapes))),
    }
    Paragraph::new(vec![
        Line::from(spans),
        Line::from("per second since the last scrape; q quits"),
    ])
}

fn kind_style(kind: Kind) -> Style {
    Style::new().fg(match kind {
        Kind::Receiver => Color::Cyan,
        Kind::Processor => Color::Yellow,
        Kind::Connector => Color::Magenta,
        Kind::Exporter => Color::Green,
    })
}

fn component_row(r: &Row) -> TableRow<'static> {
    let warn = |v: Option<f64>| {
        let style = if v.is_some_and(|v| v > 0.0) {
            Style::new().fg(Color::Red)
        } else {
            Style::new()
        };
        Cell::from(number(v)).style(style)
    };
    TableRow::new(vec![
        Cell::from(r.kind.as_str()).style(kind_style(r.kind)),
        Cell::from(r.id.clone()),
        Cell::from(number(r.items_in)),
        Cell::from(number(r.items_out)),
        warn(r.dropped),
        warn(r.failed),
        Cell::from(number(r.retries)),
        Cell::from(queue(r.queue)),
    ])
}

fn counts_table<'a>(title: &'a str, counts: &[Count]) -> Table<'a> {
    let rows: Vec<TableRow> = counts
        .iter()
        .map(|c| {
            TableRow::new(vec![
                Cell::from(c.name.clone()),
                Cell::from(number(c.rate)),
                Cell::from(format!("{:.0}", c.total)),
            ])
        })
        .collect();
    let widths = [
        Constraint::Fill(1),
        Constraint::Length(9),
        Constraint::Length(9),
    ];
    Table::new(rows, widths)
        .header(
            TableRow::new(vec!["RULE / KIND", "/s", "TOTAL"])
                .style(Style::new().add_modifier(Modifier::BOLD)),
        )
        .block(Block::bordered().title(title))
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, screen: &Screen, status: &Status) {
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Fill(1),
        Constraint::Length(8),
    ])
    .areas(frame.area());
    frame.render_widget(header(screen, status), top);
    let widths = [
        Constraint::Length(10),
        Constraint::Fill(1),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(10),
        Constraint::Length(9),
        Constraint::Length(10),
        Constraint::Length(14),
    ];
    let head = TableRow::new(vec![
        "KIND",
        "COMPONENT",
        "IN/s",
        "OUT/s",
        "DROPPED/s",
        "FAILED/s",
        "RETRIES/s",
        "QUEUE",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let table = Table::new(screen.rows.iter().map(component_row), widths)
        .header(head)
        .block(Block::bordered().title("Components"));
    frame.render_widget(table, middle);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);
    frame.render_widget(
        counts_table("Redactions per rule", &screen.redactions),
        left,
    );
    frame.render_widget(
        counts_table("Anomaly alerts per kind", &screen.alerts),
        right,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::top::exposition::parse;
    use crate::tools::top::model::{screen, Snapshot};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    #[test]
    fn the_screen_shows_components_rates_queue_redactions_and_alerts() {
        let text = |sent: u64, redacted: u64| {
            format!(
                "gateway_receiver_accepted_spans_total{{receiver=\"otlp\"}} {sent}\n\
                 gateway_exporter_sent_spans_total{{exporter=\"otlphttp/backend\"}} {sent}\n\
                 gateway_exporter_queue_size{{exporter=\"otlphttp/backend\"}} 3\n\
                 gateway_exporter_queue_capacity{{exporter=\"otlphttp/backend\"}} 12\n\
                 gateway_processor_events_total{{processor=\"redaction\",event=\"redactions\",rule=\"github\"}} {redacted}\n\
                 gateway_processor_events_total{{processor=\"codex_anomaly\",event=\"alerts\",rule=\"runaway_session\"}} 2\n\
                 gateway_process_uptime_seconds 3725\n"
            )
        };
        let a = Snapshot::from_samples(&parse(&text(1000, 5)).expect("text"));
        let b = Snapshot::from_samples(&parse(&text(3500, 9)).expect("text"));
        let s = screen(Some(&a), &b, 1.0);
        let status = Status {
            url: "http://127.0.0.1:8888/metrics".into(),
            error: None,
            scrapes: 2,
        };
        let mut terminal = Terminal::new(TestBackend::new(120, 20)).expect("terminal");
        terminal.draw(|f| draw(f, &s, &status)).expect("draw");
        let buffer = terminal.backend().buffer();
        let lines: Vec<String> = (0..buffer.area.height)
            .map(|y| {
                (0..buffer.area.width)
                    .map(|x| buffer[(x, y)].symbol().to_string())
                    .collect()
            })
            .collect();
        let all = lines.join("\n");
        for needle in [
            "up 1h02m05s",
            "receiver",
            "otlp",
            "exporter",
            "otlphttp/backend",
            "2500.0",
            "3/12 25%",
            "github",
            "4.0",
            "runaway_session",
            "q quits",
        ] {
            assert!(all.contains(needle), "{needle:?} not on screen:\n{all}");
        }
    }
}
