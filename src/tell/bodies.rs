//! The messages a run's (or a listing's) end posts: the summary as JSON for any webhook, and the group robots'
//! own formats — DingTalk `markdown`, WeCom (企业微信) `markdown`, Feishu `text` — each a few
//! lines a person reads on a phone: what ran, how it ended, the counts that are not zero, the
//! top errors in plain words, and the command that carries on.
//!
//! Nothing secret is in them: the summary holds no credential, and a webhook's own URL (with
//! its token) is never part of a message.

use super::{ListingEnd, NotifyFormat};
use crate::report::Summary;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// WeCom refuses markdown over 4096 bytes; DingTalk allows more. One limit for all robots.
const MAX_BYTES: usize = 3800;

/// What the exit code means, in a few words.
fn ending(code: Option<i32>) -> &'static str {
    match code {
        Some(crate::exit::OK) => "every row ok",
        Some(crate::exit::ROWS_FAILED) => "some rows failed",
        Some(crate::exit::ABORTED) => "aborted, resumable",
        Some(crate::exit::PROCESSING) => "outcomes still processing",
        Some(crate::exit::CHANGED) => "changes found",
        Some(crate::exit::INTERRUPTED) => "interrupted, resumable",
        _ => "ended",
    }
}

/// The one-line headline: `gslbatch check-real-name: exit 1 (some rows failed)`.
pub fn title(s: &Summary) -> String {
    let code = s.exit_code.map_or("-".to_string(), |c| c.to_string());
    format!(
        "{}gslbatch {}: exit {code} ({})",
        if s.rehearsal { "[REHEARSAL] " } else { "" },
        s.operation,
        ending(s.exit_code)
    )
}

/// A label, bold in markdown.
fn label(t: &str, markdown: bool) -> String {
    if markdown {
        format!("**{t}**")
    } else {
        t.to_string()
    }
}

/// `changes: real_named 3, sim_status 1` (the kinds found), `changes: none`.
fn changes_line(changes: &BTreeMap<String, u64>, markdown: bool) -> String {
    let found: Vec<String> = changes
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    format!(
        "{} {}",
        label("changes:", markdown),
        match found.is_empty() {
            true => "none".to_string(),
            false => found.join(", "),
        }
    )
}

/// The message's lines after the title; `markdown` makes the labels bold. `changes`: the
/// counts per kind of change when the run compared with an earlier one.
pub fn lines(s: &Summary, markdown: bool, changes: Option<&BTreeMap<String, u64>>) -> Vec<String> {
    let b = |t: &str| label(t, markdown);
    let mut out = Vec::new();
    let counts: Vec<String> = s
        .counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(st, n)| format!("{st} {n}"))
        .collect();
    out.push(format!("{} {}: {}", b("rows"), s.rows, counts.join(", ")));
    if let Some(c) = changes {
        out.push(changes_line(c, markdown));
    }
    let o = &s.outcomes;
    if o.done + o.failed + o.processing > 0 {
        out.push(format!("{} {}", b("outcomes"), o.to_text()));
    }
    if let Some(r) = s
        .stop_reason
        .as_ref()
        .filter(|r| !r.starts_with("finished"))
    {
        out.push(format!("{} {r}", b("stopped:")));
    }
    for (code, n) in &s.top_errors {
        match s.error_explanations.get(code) {
            Some(w) => out.push(format!("{} ×{n}: {w}", b(code))),
            None => out.push(format!("{} ×{n}", b(code))),
        }
    }
    let rate = s
        .achieved_rate
        .map_or(String::new(), |r| format!(", {r:.2} calls/s"));
    out.push(format!(
        "{} {} (throttled {}, retries {}){rate}, {:.1}s",
        b("calls"),
        s.calls,
        s.throttled,
        s.retries,
        s.duration_secs
    ));
    if let Some(q) = s.quota_found {
        out.push(format!("{} {q} calls/s (named by a 429)", b("quota")));
    }
    if let Some(n) = &s.next_command {
        out.push(format!("{} {n}", b("next:")));
    }
    out.push(format!("{} {}", b("run dir:"), s.run_dir));
    out
}

/// `text` cut to [`MAX_BYTES`] at a character boundary.
fn bounded(mut text: String) -> String {
    if text.len() > MAX_BYTES {
        let mut end = MAX_BYTES - 3;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// A message as every format says it: its title, its lines (markdown and plain), and the
/// generic webhook's JSON object.
#[derive(Debug, Clone)]
pub struct Message {
    pub title: String,
    pub markdown_lines: Vec<String>,
    pub plain_lines: Vec<String>,
    pub json: Value,
}

impl Message {
    /// A run's end; `changes` as for [`lines`].
    pub fn of_run(s: &Summary, changes: Option<&BTreeMap<String, u64>>) -> Message {
        let title = title(s);
        let plain_lines = lines(s, false, changes);
        let json = json!({
            "source": "gslbatch",
            "event": "run_ended",
            "title": title,
            "text": text(&title, &plain_lines),
            "failure": super::is_failure(s),
            "changes": changes,
            "summary": s,
        });
        Message {
            markdown_lines: lines(s, true, changes),
            plain_lines,
            title,
            json,
        }
    }

    /// A listing's end (`inventory`, `usage`, `pool-members`).
    pub fn of_listing(l: &ListingEnd) -> Message {
        let title = format!(
            "{}gslbatch {}: exit {} ({})",
            if l.rehearsal { "[REHEARSAL] " } else { "" },
            l.operation,
            l.exit_code,
            match &l.error {
                Some(_) => "failed",
                None => ending(Some(l.exit_code)),
            }
        );
        let plain_lines = listing_lines(l, false);
        let json = json!({
            "source": "gslbatch",
            "event": "listing_ended",
            "title": title,
            "text": text(&title, &plain_lines),
            "failure": l.is_failure(),
            "changes": l.changes,
            "listing": l,
        });
        Message {
            markdown_lines: listing_lines(l, true),
            plain_lines,
            title,
            json,
        }
    }
}

/// A listing's lines after the title.
fn listing_lines(l: &ListingEnd, markdown: bool) -> Vec<String> {
    let b = |t: &str| label(t, markdown);
    let mut out = Vec::new();
    let counts: Vec<String> = l
        .counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(st, n)| format!("{st} {n}"))
        .collect();
    out.push(match counts.is_empty() {
        true => format!("{} {}", b("rows listed"), l.rows),
        false => format!("{} {}: {}", b("rows listed"), l.rows, counts.join(", ")),
    });
    if let Some(c) = &l.changes {
        out.push(changes_line(c, markdown));
    }
    if let Some(m) = &l.marks {
        let n = |k: &str| m.get(k).copied().unwrap_or(0);
        out.push(format!(
            "{} spike {}, silent {} ({} judged, {} not judged)",
            b("marks:"),
            n("spike"),
            n("silent"),
            n("judged"),
            n("not_judged")
        ));
    }
    if let Some(e) = &l.error {
        out.push(format!("{} {e}", b("error:")));
    }
    out.push(format!(
        "{} {} (throttled {}, retries {}), {:.1}s",
        b("calls"),
        l.calls,
        l.throttled,
        l.retries,
        l.duration_secs
    ));
    if let Some(r) = &l.report {
        out.push(format!("{} {r}", b("report:")));
    }
    out
}

/// The title and the lines as one plain text.
fn text(title: &str, lines: &[String]) -> String {
    let mut t = title.to_string();
    for l in lines {
        t.push('\n');
        t.push_str(l);
    }
    bounded(t)
}

/// The markdown message: a heading and one line per figure.
pub fn markdown(m: &Message) -> String {
    let mut t = format!("### {}\n\n", m.title);
    for l in &m.markdown_lines {
        t.push_str("- ");
        t.push_str(l);
        t.push('\n');
    }
    bounded(t)
}

/// The plain-text message.
pub fn plain(m: &Message) -> String {
    text(&m.title, &m.plain_lines)
}

/// The body posted in `format` (never `Auto`: the target resolved it). `feishu_sign` is
/// Feishu's `(timestamp, sign)` when a secret is set; DingTalk signs in the URL instead.
pub fn body(format: NotifyFormat, m: &Message, feishu_sign: Option<(i64, String)>) -> Value {
    match format {
        NotifyFormat::Dingtalk => json!({
            "msgtype": "markdown",
            "markdown": { "title": m.title, "text": markdown(m) },
        }),
        NotifyFormat::Wecom => json!({
            "msgtype": "markdown",
            "markdown": { "content": markdown(m) },
        }),
        NotifyFormat::Feishu => {
            let mut v = json!({
                "msg_type": "text",
                "content": { "text": plain(m) },
            });
            if let Some((ts, sign)) = feishu_sign {
                v["timestamp"] = json!(ts.to_string());
                v["sign"] = json!(sign);
            }
            v
        }
        NotifyFormat::Json | NotifyFormat::Auto => m.json.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_robot_says_the_changes_in_one_line_and_the_json_has_the_counts() {
        let mut end = ListingEnd::new(crate::ops::inventory::SPEC.name, false);
        end.rows = 20;
        end.exit_code = crate::exit::CHANGED;
        end.changes = Some(
            [
                ("gone", 0),
                ("new", 0),
                ("real_named", 3),
                ("sim_status", 0),
            ]
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect(),
        );
        let m = Message::of_listing(&end);
        assert_eq!(m.title, "gslbatch inventory: exit 5 (changes found)");
        let ding = body(NotifyFormat::Dingtalk, &m, None);
        let wecom = body(NotifyFormat::Wecom, &m, None);
        let feishu = body(NotifyFormat::Feishu, &m, None);
        for md in [&ding["markdown"]["text"], &wecom["markdown"]["content"]] {
            assert!(
                md.as_str()
                    .unwrap()
                    .contains("\n- **changes:** real_named 3\n"),
                "{md}"
            );
        }
        let text = feishu["content"]["text"].as_str().unwrap();
        assert!(text.contains("\nchanges: real_named 3\n"), "{text}");
        let json = body(NotifyFormat::Json, &m, None);
        assert_eq!(json["changes"]["real_named"], 3);
        assert_eq!(json["listing"]["rows"], 20);
        assert_eq!(json["failure"], false, "a change is not a failure");
        end.changes = Some(BTreeMap::new());
        let quiet = Message::of_listing(&end);
        assert!(quiet.plain_lines.contains(&"changes: none".to_string()));
    }
}
