//! The HTML report's charts as inline SVG, written by the same `maud` templates as the page: no
//! script, no font, no stylesheet fetched; the numbers drawn are the numbers given, each bar
//! labelled with its value (and carrying it in `data-count`, which the tests read back).

use maud::{html, Markup};

/// A bar's colour for a report status or outcome; grey for anything else.
pub fn colour(label: &str) -> &'static str {
    match label {
        "ok" | "done" => "#2e7d32",
        "failed" => "#c62828",
        "invalid" => "#ef6c00",
        "duplicate" => "#757575",
        "unknown" => "#6a1b9a",
        "pending" | "processing" => "#1565c0",
        "skipped" => "#9e9e9e",
        "not_followed" => "#90a4ae",
        _ => "#546e7a",
    }
}

/// Horizontal bars, one per `(label, value)`, zeros included (a zero is a fact too).
pub fn bars(id: &str, title: &str, items: &[(String, u64)]) -> Markup {
    let (label_w, bar_w, row_h) = (120.0, 360.0, 26.0);
    let max = items.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1) as f64;
    let height = row_h * items.len() as f64 + 34.0;
    let width = label_w + bar_w + 70.0;
    html! {
        figure.chart id=(id) {
            figcaption { (title) }
            svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(title)
                width=(width) height=(height) viewBox=(format!("0 0 {width} {height}")) {
                @for (i, (label, v)) in items.iter().enumerate() {
                    @let y = 10.0 + row_h * i as f64;
                    @let w = if *v == 0 { 0.0 } else { (bar_w * *v as f64 / max).max(2.0) };
                    text x=(label_w - 8.0) y=(y + 16.0) text-anchor="end" font-size="13" { (label) }
                    rect x=(label_w) y=(y + 3.0) width=(w) height=(row_h - 8.0) fill=(colour(label))
                        data-label=(label) data-count=(v) {}
                    text x=(label_w + w + 6.0) y=(y + 16.0) font-size="13" class="value" { (v) }
                }
            }
        }
    }
}

/// One bucket of the rate chart.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bucket {
    /// Seconds since the first bucket.
    pub at: i64,
    /// Calls answered per second over the bucket.
    pub per_sec: f64,
    /// Rows of the bucket that ended answered 429.
    pub throttled: u64,
}

/// Calls per second over time as columns, the quota as a dashed line, buckets with a 429 in
/// them marked with a red dot above their column.
pub fn rate(
    id: &str,
    title: &str,
    buckets: &[Bucket],
    width_secs: i64,
    quota: Option<f64>,
) -> Markup {
    let (left, top, plot_w, plot_h) = (48.0, 12.0, 640.0, 180.0);
    let peak = buckets.iter().map(|b| b.per_sec).fold(0.0f64, f64::max);
    let max = peak.max(quota.unwrap_or(0.0)).max(1.0) * 1.1;
    let n = buckets
        .last()
        .map_or(1, |b| b.at / width_secs.max(1) + 1)
        .max(1) as f64;
    let col_w = plot_w / n;
    let y_of = |v: f64| top + plot_h - plot_h * v / max;
    let span = buckets.last().map_or(0, |b| b.at + width_secs);
    html! {
        figure.chart id=(id) {
            figcaption { (title) }
            svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(title)
                width=(left + plot_w + 20.0) height=(top + plot_h + 40.0)
                viewBox=(format!("0 0 {} {}", left + plot_w + 20.0, top + plot_h + 40.0)) {
                line x1=(left) y1=(top + plot_h) x2=(left + plot_w) y2=(top + plot_h) stroke="#999" {}
                line x1=(left) y1=(top) x2=(left) y2=(top + plot_h) stroke="#999" {}
                text x=(left - 6.0) y=(top + 10.0) text-anchor="end" font-size="11" { (format!("{:.0}", max)) }
                text x=(left - 6.0) y=(top + plot_h) text-anchor="end" font-size="11" { "0" }
                @for b in buckets {
                    @let x = left + col_w * (b.at / width_secs.max(1)) as f64;
                    rect x=(x) y=(y_of(b.per_sec)) width=((col_w - 0.5).max(0.5))
                        height=(top + plot_h - y_of(b.per_sec)) fill="#1565c0" {}
                    @if b.throttled > 0 {
                        circle cx=(x + col_w / 2.0) cy=(y_of(b.per_sec) - 5.0) r="3.5" fill="#c62828"
                            class="throttled" data-count=(b.throttled) {}
                    }
                }
                @if let Some(q) = quota {
                    line x1=(left) y1=(y_of(q)) x2=(left + plot_w) y2=(y_of(q))
                        stroke="#c62828" stroke-dasharray="6 4" {}
                    text x=(left + plot_w) y=(y_of(q) - 4.0) text-anchor="end" font-size="11" fill="#c62828" {
                        (format!("rate {q} calls/s"))
                    }
                }
                text x=(left) y=(top + plot_h + 16.0) font-size="11" { "0 s" }
                text x=(left + plot_w) y=(top + plot_h + 16.0) text-anchor="end" font-size="11" {
                    (format!("{span} s"))
                }
                text x=(left + plot_w / 2.0) y=(top + plot_h + 32.0) text-anchor="middle" font-size="11" {
                    (format!("time since the first answer; one column = {width_secs} s"))
                }
            }
        }
    }
}
