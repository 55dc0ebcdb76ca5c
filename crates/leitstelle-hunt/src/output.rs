//! Writing detections and the summary.

use std::io::{self, Write};

use crate::{Detection, Summary};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Jsonl,
}

const COLUMNS: [&str; 12] = [
    "timestamp",
    "computer",
    "channel",
    "event_id",
    "record_id",
    "level",
    "rule_title",
    "rule_id",
    "tags",
    "file",
    "fields",
    "type",
];

fn fields_text(d: &Detection) -> String {
    d.fields
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(" ¦ ")
}

fn row(d: &Detection) -> [String; 12] {
    [
        d.timestamp.clone().unwrap_or_default(),
        d.computer.clone().unwrap_or_default(),
        d.channel.clone().unwrap_or_default(),
        d.event_id.clone().unwrap_or_default(),
        d.record_id.map(|r| r.to_string()).unwrap_or_default(),
        d.level.to_string(),
        d.rule_title.clone(),
        d.rule_id.clone().unwrap_or_default(),
        d.tags.join(" "),
        d.file.clone(),
        fields_text(d),
        d.kind.to_string(),
    ]
}

/// Quotes a CSV cell when needed (RFC 4180). Cells that a spreadsheet would run as a formula
/// (`=`, `+`, `-`, `@` first) get a leading apostrophe: event data is attacker-controlled.
pub fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Makes a cell safe for a one-line table: control characters (terminal escapes from event
/// data included) become visible escapes.
fn table_cell(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes the detections in the chosen format.
pub fn write_detections(
    w: &mut dyn Write,
    format: Format,
    detections: &[Detection],
) -> io::Result<()> {
    match format {
        Format::Jsonl => {
            for d in detections {
                serde_json::to_writer(&mut *w, d)?;
                w.write_all(b"\n")?;
            }
        }
        Format::Csv => {
            writeln!(w, "{}", COLUMNS.join(","))?;
            for d in detections {
                let cells: Vec<String> = row(d).iter().map(|c| csv_cell(c)).collect();
                writeln!(w, "{}", cells.join(","))?;
            }
        }
        Format::Table => {
            // Timestamp, computer, channel, id, record, level, title, fields.
            let idx = [0usize, 1, 2, 3, 4, 5, 6, 10];
            let max = [27usize, 24, 40, 6, 9, 13, 70, 160];
            let rows: Vec<Vec<String>> = detections
                .iter()
                .map(|d| {
                    let mut r = row(d);
                    if d.kind == "correlation" {
                        r[6] = format!("{} (correlation)", r[6]);
                    }
                    idx.iter()
                        .zip(max)
                        .map(|(&i, m)| table_cell(&r[i], m))
                        .collect()
                })
                .collect();
            let header: Vec<String> = idx.iter().map(|&i| COLUMNS[i].to_string()).collect();
            let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
            for r in &rows {
                for (i, c) in r.iter().enumerate() {
                    widths[i] = widths[i].max(c.chars().count());
                }
            }
            let line = |cells: &[String]| -> String {
                let n = cells.len();
                cells
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        if i + 1 == n {
                            c.clone()
                        } else {
                            format!("{c:<w$}", w = widths[i])
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("  ")
            };
            writeln!(w, "{}", line(&header))?;
            for r in &rows {
                writeln!(w, "{}", line(r))?;
            }
        }
    }
    Ok(())
}

/// Writes the human-readable summary.
pub fn write_summary(w: &mut dyn Write, s: &Summary) -> io::Result<()> {
    writeln!(w, "── summary ──")?;
    writeln!(w, "files:        {} ({} bytes)", s.files, s.bytes)?;
    writeln!(
        w,
        "events:       {} scanned, {} outside the time range",
        s.events, s.events_filtered
    )?;
    writeln!(
        w,
        "rules:        {} loaded, {} filtered out by options, {} filters, {} correlations evaluated",
        s.rules_loaded, s.rules_filtered_out, s.filters, s.correlations
    )?;
    if !s.rules_skipped.is_empty() {
        let parts: Vec<String> = s
            .rules_skipped
            .iter()
            .map(|(r, n)| format!("{r}: {n}"))
            .collect();
        writeln!(w, "rules skipped: {}", parts.join(", "))?;
    }
    let levels: Vec<String> = ["critical", "high", "medium", "low", "informational"]
        .iter()
        .map(|l| format!("{l} {}", s.by_level.get(*l).copied().unwrap_or(0)))
        .collect();
    writeln!(w, "detections:   {} ({})", s.detections, levels.join(", "))?;
    for (title, level, n) in s.by_rule.iter().take(15) {
        writeln!(w, "  {n:>7}  {level:<13} {}", table_cell(title, 100))?;
    }
    if s.by_rule.len() > 15 {
        writeln!(w, "  … and {} more rules", s.by_rule.len() - 15)?;
    }
    writeln!(w, "errors:       {}", s.errors)?;
    for e in s.error_samples.iter().take(10) {
        writeln!(w, "  {}", table_cell(e, 300))?;
    }
    if s.errors > 10 {
        writeln!(
            w,
            "  … and {} more (`--errors FILE` writes every error)",
            s.errors - 10
        )?;
    }
    writeln!(
        w,
        "elapsed:      {:.3} s, {:.0} events/s",
        s.elapsed_secs, s.events_per_sec
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=cmd|'/c calc'!A1"), "'=cmd|'/c calc'!A1");
    }

    #[test]
    fn table_cells_escape_control_characters() {
        assert_eq!(table_cell("a\x1b[31mb\n", 100), "a\\u{1b}[31mb\\n");
        assert_eq!(table_cell("abcdef", 3), "abc…");
    }
}
