//! Job files (`jobs/*.toml`): a scheduled run written down once, resolved with the command
//! line and the environment into the same [`BatchArgs`] the `check-real-name` and
//! `clear-real-name` commands build — so a job runs exactly as its hand-typed equivalent.
//!
//! Precedence lives here and only here: a flag wins over an environment variable
//! (`GSL_ENDPOINT`), which wins over the job file, which wins over the default. Relative paths
//! in a job file are relative to the job file's folder (made absolute, so the same job started
//! from another working directory is still the same job and resumes its run). An unknown key,
//! a wrong type or a missing input is exit 2 naming the key and line, or the path.

use crate::cli::{BatchArgs, RunArgs, RunOptions, SendOptions};
use crate::exit::Failure;
use crate::logging::LogFormat;
use chrono::Datelike;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Operations a job file may name. Not every one of them runs in every build: see
/// [`crate::cmd::run`].
pub const OPERATIONS: &[&str] = &[
    "check-real-name",
    "clear-real-name",
    "send-sms",
    "set-tags",
    "inventory",
    "pool-members",
];

/// The file as written; every key optional but `operation`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobFile {
    pub operation: String,
    pub input: Option<String>,
    pub inputs: Option<Vec<String>>,
    /// May hold `{date}` `{time}` (local) and `{utcdate}` `{utctime}`.
    pub run_dir: Option<String>,
    pub endpoint: Option<String>,
    pub rate: Option<f64>,
    /// The SIM card list's rate (inventory), default 1.
    pub list_rate: Option<f64>,
    pub concurrency: Option<usize>,
    pub max_attempts: Option<u32>,
    pub timeout: Option<f64>,
    pub report: Option<String>,
    pub column: Option<String>,
    /// Confirms a destructive run without a prompt: for unattended runs.
    pub yes: Option<bool>,
    pub rehearse: Option<bool>,
    pub dry_run: Option<bool>,
    /// As many `-q` / `-v` (used when the command line gives none).
    pub quiet: Option<u8>,
    pub verbose: Option<u8>,
    pub max_failure_rate: Option<f64>,
    pub failure_min_rows: Option<u64>,
    pub token_file: Option<String>,
    pub log_format: Option<JobLogFormat>,
    pub sms: Option<Sms>,
    pub tags: Option<Tags>,
    pub pool: Option<Pool>,
    pub inventory: Option<InventoryFilters>,
}

/// The `[inventory]` table (inventory only): `--real-named` and `--order-id`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryFilters {
    pub real_named: Option<bool>,
    pub order_id: Option<u64>,
}

/// The `[tags]` table (set-tags only): what `--tag` and `--batch-size` say on the command line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tags {
    /// Tag names or ids, at most 10; `["none"]` clears the cards' tags.
    pub names: Vec<String>,
    pub batch_size: Option<u32>,
}

/// The `[pool]` table (pool-members only): `--pool`, `--billing-cycle`, `--cid`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    pub id: u64,
    /// `YYYY-MM`, or `{month}` / `{lastmonth}` (local time) for a scheduled report.
    pub billing_cycle: String,
    pub cid: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobLogFormat {
    Text,
    Json,
}

impl From<JobLogFormat> for LogFormat {
    fn from(f: JobLogFormat) -> LogFormat {
        match f {
            JobLogFormat::Text => LogFormat::Text,
            JobLogFormat::Json => LogFormat::Json,
        }
    }
}

/// The `[sms]` table (send-sms only): checked now, used by the send-sms operation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sms {
    pub content: Option<String>,
    pub template_id: Option<String>,
    pub order_id: Option<OrderId>,
    pub batch_size: Option<u32>,
}

/// An order id as a number or a string of digits.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OrderId {
    Number(u64),
    Text(String),
}

/// A loaded, checked job file.
#[derive(Debug, Clone)]
pub struct Job {
    pub path: PathBuf,
    /// The job file's folder, absolute: relative paths in the file start here.
    pub dir: PathBuf,
    pub file: JobFile,
    /// `input` / `inputs`, resolved against [`Job::dir`] (`-` stays stdin).
    pub inputs: Vec<String>,
}

fn bad(path: &Path, msg: impl std::fmt::Display) -> Failure {
    Failure::usage(format!("job file {}: {msg}", path.display()))
}

/// The 1-based line of byte `pos` and the key written on that line, if any.
fn line_and_key(text: &str, pos: usize) -> (usize, Option<String>) {
    let pos = pos.min(text.len());
    let line_no = text[..pos].matches('\n').count() + 1;
    let start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    (line_no, key)
}

/// Parse `text` (the contents of `path`), naming the key and line of any error.
pub fn parse(path: &Path, text: &str) -> Result<JobFile, Failure> {
    toml::from_str::<JobFile>(text).map_err(|e| {
        let msg = e.message().trim().to_string();
        match e.span() {
            Some(span) if !text.is_empty() => {
                let (line, key) = line_and_key(text, span.start);
                match key {
                    Some(k) => bad(path, format!("key `{k}` (line {line}): {msg}")),
                    None => bad(path, format!("line {line}: {msg}")),
                }
            }
            _ => bad(path, msg),
        }
    })
}

/// Read, parse and check a job file.
pub fn load(path: &Path) -> Result<Job, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read job file {}: {e}", path.display())))?;
    let file = parse(path, &text)?;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(parent).map_err(|e| bad(path, e))?;
    let op = file.operation.as_str();
    if !OPERATIONS.contains(&op) {
        return Err(bad(
            path,
            format!(
                "key `operation`: unknown operation {op:?}; one of {}",
                OPERATIONS.join(", ")
            ),
        ));
    }
    let written: Vec<String> = match (&file.input, &file.inputs) {
        (Some(_), Some(_)) => {
            return Err(bad(path, "keys `input` and `inputs`: give one, not both"))
        }
        (Some(i), None) => vec![i.clone()],
        (None, Some(v)) => v.clone(),
        (None, None) => vec![],
    };
    let mut inputs = Vec::with_capacity(written.len());
    for i in written {
        if i == "-" {
            inputs.push(i);
            continue;
        }
        let p = dir.join(&i);
        if !p.is_file() {
            return Err(bad(
                path,
                format!("input {} (from {i:?}) does not exist", p.display()),
            ));
        }
        inputs.push(p.display().to_string());
    }
    let needs_input = matches!(op, "check-real-name" | "clear-real-name" | "set-tags");
    if needs_input && inputs.is_empty() {
        return Err(bad(path, format!("{op} needs `input` or `inputs`")));
    }
    check_sms(path, &file)?;
    check_tables(path, &file)?;
    if let Some(t) = &file.run_dir {
        expand(t, chrono::Local::now(), chrono::Utc::now())
            .map_err(|m| bad(path, format!("key `run_dir`: {m}")))?;
    }
    Ok(Job {
        path: path.to_path_buf(),
        dir,
        file,
        inputs,
    })
}

fn check_sms(path: &Path, file: &JobFile) -> Result<(), Failure> {
    let send = file.operation == "send-sms";
    let Some(sms) = &file.sms else {
        return if send {
            Err(bad(path, "send-sms needs an [sms] table with `content`"))
        } else {
            Ok(())
        };
    };
    if !send {
        return Err(bad(
            path,
            "the [sms] table is for operation = \"send-sms\" only",
        ));
    }
    match (&sms.content, &sms.template_id) {
        (Some(c), _) if c.trim().is_empty() => {
            return Err(bad(path, "key `sms.content`: empty"));
        }
        (None, None) => return Err(bad(path, "[sms] needs `content` (or `template_id`)")),
        _ => {}
    }
    if let Some(OrderId::Text(t)) = &sms.order_id {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(
                path,
                format!("key `sms.order_id`: {t:?} is not a number"),
            ));
        }
    }
    let most = crate::engine::sms::MAX_BATCH;
    if let Some(n) = sms
        .batch_size
        .filter(|n| !(1..=most).contains(&(*n as usize)))
    {
        return Err(bad(
            path,
            format!("key `sms.batch_size`: {n} is not 1..={most}"),
        ));
    }
    if sms.order_id.is_none() && file.input.is_none() && file.inputs.is_none() {
        return Err(bad(
            path,
            "send-sms needs `input`/`inputs` or `sms.order_id`",
        ));
    }
    Ok(())
}

/// The `[tags]` and `[pool]` tables: present exactly for their operation, and sane.
fn check_tables(path: &Path, file: &JobFile) -> Result<(), Failure> {
    let op = file.operation.as_str();
    match (&file.tags, op) {
        (None, "set-tags") => return Err(bad(path, "set-tags needs a [tags] table with `names`")),
        (Some(_), "set-tags") | (None, _) => {}
        (Some(_), _) => {
            return Err(bad(
                path,
                "the [tags] table is for operation = \"set-tags\" only",
            ))
        }
    }
    if let Some(t) = &file.tags {
        if t.names.is_empty() {
            return Err(bad(
                path,
                "key `tags.names`: empty (`[\"none\"]` clears the tags)",
            ));
        }
        if let Some(n) = t.batch_size.filter(|n| !(1..=500).contains(n)) {
            return Err(bad(
                path,
                format!("key `tags.batch_size`: {n} is not 1..=500"),
            ));
        }
    }
    match (&file.pool, op) {
        (None, "pool-members") => {
            return Err(bad(
                path,
                "pool-members needs a [pool] table with `id` and `billing_cycle`",
            ))
        }
        (Some(_), "pool-members") | (None, _) => {}
        (Some(_), _) => {
            return Err(bad(
                path,
                "the [pool] table is for operation = \"pool-members\" only",
            ))
        }
    }
    if file.inventory.is_some() && op != "inventory" {
        return Err(bad(
            path,
            "the [inventory] table is for operation = \"inventory\" only",
        ));
    }
    if let Some(r) = file.list_rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(bad(
            path,
            format!("key `list_rate`: {r} is not a positive number"),
        ));
    }
    if op == "pool-members" && (file.input.is_some() || file.inputs.is_some()) {
        return Err(bad(
            path,
            "pool-members reads no input: remove `input`/`inputs`",
        ));
    }
    if let Some(p) = &file.pool {
        expand(&p.billing_cycle, chrono::Local::now(), chrono::Utc::now())
            .map_err(|m| bad(path, format!("key `pool.billing_cycle`: {m}")))?;
    }
    Ok(())
}

/// Expand `{date}` `{time}` `{month}` `{lastmonth}` (local) and `{utcdate}` `{utctime}` in a
/// run-dir or billing-cycle template.
pub fn expand<L: chrono::TimeZone, U: chrono::TimeZone>(
    template: &str,
    local: chrono::DateTime<L>,
    utc: chrono::DateTime<U>,
) -> Result<String, String>
where
    L::Offset: std::fmt::Display,
    U::Offset: std::fmt::Display,
{
    let this_month = local.date_naive().with_day(1).expect("day 1 exists");
    let last_month = this_month.pred_opt().unwrap_or(this_month);
    let out = template
        .replace("{month}", &this_month.format("%Y-%m").to_string())
        .replace("{lastmonth}", &last_month.format("%Y-%m").to_string())
        .replace("{date}", &local.format("%Y-%m-%d").to_string())
        .replace("{time}", &local.format("%H%M%S").to_string())
        .replace("{utcdate}", &utc.format("%Y-%m-%d").to_string())
        .replace("{utctime}", &utc.format("%H%M%S").to_string());
    if let Some(i) = out.find('{') {
        let rest = &out[i..];
        let end = rest.find('}').map_or(rest.len(), |j| j + 1);
        return Err(format!(
            "unknown placeholder {} (use {{date}}, {{time}}, {{month}}, {{lastmonth}}, {{utcdate}}, {{utctime}})",
            &rest[..end]
        ));
    }
    Ok(out)
}

impl Job {
    fn rel(&self, p: &str) -> String {
        if p == "-" {
            return p.to_string();
        }
        self.dir.join(p).display().to_string()
    }

    /// The command this job stands for, flags and environment applied (see the module doc).
    pub fn resolve(&self, args: &RunArgs) -> Result<BatchArgs, Failure> {
        let f = &self.file;
        let env_endpoint = std::env::var("GSL_ENDPOINT").ok().filter(|v| !v.is_empty());
        let endpoint = args
            .endpoint
            .clone()
            .or(env_endpoint)
            .or_else(|| f.endpoint.clone())
            .unwrap_or_else(|| crate::gsl::client::DEFAULT_ENDPOINT.to_string());
        let run_dir = match (&args.send.run_dir, &f.run_dir) {
            (Some(d), _) => Some(d.clone()),
            (None, Some(t)) => {
                let d = expand(t, chrono::Local::now(), chrono::Utc::now())
                    .map_err(|m| bad(&self.path, format!("key `run_dir`: {m}")))?;
                Some(self.dir.join(d))
            }
            (None, None) => None,
        };
        let o = &args.run;
        let run = RunOptions {
            rate: o.rate.or(f.rate),
            concurrency: o.concurrency.or(f.concurrency),
            max_attempts: o.max_attempts.or(f.max_attempts),
            timeout: o.timeout.or(f.timeout),
            max_failure_rate: o.max_failure_rate.or(f.max_failure_rate),
            failure_min_rows: o.failure_min_rows.or(f.failure_min_rows),
            token_file: o
                .token_file
                .clone()
                .or_else(|| f.token_file.as_deref().map(|p| PathBuf::from(self.rel(p)))),
            report: o
                .report
                .clone()
                .or_else(|| f.report.as_deref().map(|p| self.rel(p))),
        };
        Ok(BatchArgs {
            inputs: self.inputs.clone(),
            endpoint,
            column: args.column.clone().or_else(|| f.column.clone()),
            send: SendOptions {
                rehearse: args.send.rehearse || f.rehearse.unwrap_or(false),
                run_dir,
                dry_run: args.send.dry_run || f.dry_run.unwrap_or(false),
                yes: args.send.yes || f.yes.unwrap_or(false),
            },
            run,
        })
    }
}

/// What a job file says about logging: `log_format`, `quiet`, `verbose`.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogHint {
    pub format: Option<LogFormat>,
    pub quiet: u8,
    pub verbose: u8,
}

/// The job file's logging keys, read leniently before logging starts (the full check, with
/// its error message, comes when the job runs).
pub fn log_hint(path: &Path) -> LogHint {
    let table: Option<toml::Table> = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| toml::from_str(&text).ok());
    let Some(table) = table else {
        return LogHint::default();
    };
    let count = |key: &str| {
        table
            .get(key)
            .and_then(toml::Value::as_integer)
            .map_or(0, |n| n.clamp(0, 3) as u8)
    };
    LogHint {
        format: match table.get("log_format").and_then(toml::Value::as_str) {
            Some("json") => Some(LogFormat::Json),
            Some("text") => Some(LogFormat::Text),
            _ => None,
        },
        quiet: count("quiet"),
        verbose: count("verbose"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn placeholders_expand() {
        let local = chrono::FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(2026, 3, 1, 2, 3, 4)
            .unwrap();
        let utc = local.with_timezone(&chrono::Utc);
        assert_eq!(
            expand("runs/n-{date}-{time}-{utcdate}-{utctime}", local, utc).unwrap(),
            "runs/n-2026-03-01-020304-2026-02-28-180304"
        );
        assert!(expand("runs/{day}", local, utc)
            .unwrap_err()
            .contains("{day}"));
    }

    #[test]
    fn errors_name_key_and_line() {
        let p = Path::new("j.toml");
        let e = parse(p, "operation = \"check-real-name\"\nrate = \"fast\"\n").unwrap_err();
        assert!(e.message.contains("`rate` (line 2)"), "{}", e.message);
        let e = parse(p, "operation = \"check-real-name\"\n\nspeed = 3\n").unwrap_err();
        assert!(e.message.contains("`speed` (line 3)"), "{}", e.message);
    }
}
