//! The messages a run's end posts: the summary as JSON for any webhook, and the group robots'
//! own formats — DingTalk `markdown`, WeCom (企业微信) `markdown`, Feishu `text` — each a few
//! lines a person reads on a phone: what ran, how it ended, the counts that are not zero, the
//! top errors in plain words, and the command that carries on.
//!
//! Nothing secret is in them: the summary holds no credential, and a webhook's own URL (with
//! its token) is never part of a message.

use super::NotifyFormat;
use crate::report::Summary;
use serde_json::{json, Value};

/// WeCom refuses markdown over 4096 bytes; DingTalk allows more. One limit for all robots.
const MAX_BYTES: usize = 3800;

/// What the exit code means, in a few words.
fn ending(code: Option<i32>) -> &'static str {
    match code {
        Some(crate::exit::OK) => "every row ok",
        Some(crate::exit::ROWS_FAILED) => "some rows failed",
        Some(crate::exit::ABORTED) => "aborted, resumable",
        Some(crate::exit::PROCESSING) => "outcomes still processing",
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

/// The message's lines after the title; `bold` marks a markdown label.
pub fn lines(s: &Summary, markdown: bool) -> Vec<String> {
    let b = |t: &str| {
        if markdown {
            format!("**{t}**")
        } else {
            t.to_string()
        }
    };
    let mut out = Vec::new();
    let counts: Vec<String> = s
        .counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(st, n)| format!("{st} {n}"))
        .collect();
    out.push(format!("{} {}: {}", b("rows"), s.rows, counts.join(", ")));
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

/// The markdown message: a heading and one line per figure.
pub fn markdown(s: &Summary) -> String {
    let mut t = format!("### {}\n\n", title(s));
    for l in lines(s, true) {
        t.push_str("- ");
        t.push_str(&l);
        t.push('\n');
    }
    bounded(t)
}

/// The plain-text message.
pub fn plain(s: &Summary) -> String {
    let mut t = title(s);
    for l in lines(s, false) {
        t.push('\n');
        t.push_str(&l);
    }
    bounded(t)
}

/// The body posted in `format` (never `Auto`: the target resolved it). `feishu_sign` is
/// Feishu's `(timestamp, sign)` when a secret is set; DingTalk signs in the URL instead.
pub fn body(format: NotifyFormat, s: &Summary, feishu_sign: Option<(i64, String)>) -> Value {
    match format {
        NotifyFormat::Dingtalk => json!({
            "msgtype": "markdown",
            "markdown": { "title": title(s), "text": markdown(s) },
        }),
        NotifyFormat::Wecom => json!({
            "msgtype": "markdown",
            "markdown": { "content": markdown(s) },
        }),
        NotifyFormat::Feishu => {
            let mut v = json!({
                "msg_type": "text",
                "content": { "text": plain(s) },
            });
            if let Some((ts, sign)) = feishu_sign {
                v["timestamp"] = json!(ts.to_string());
                v["sign"] = json!(sign);
            }
            v
        }
        NotifyFormat::Json | NotifyFormat::Auto => json!({
            "source": "gslbatch",
            "event": "run_ended",
            "title": title(s),
            "text": plain(s),
            "failure": super::is_failure(s),
            "summary": s,
        }),
    }
}
