//! Job files (`jobs/*.toml`): a scheduled run written down once, resolved with the command
//! line and the environment into the same [`BatchArgs`] an operation's subcommand builds, and
//! its operation's table (`[sms]`...) handed to that operation's registry entry — so a job runs
//! exactly as its hand-typed equivalent. The file is read once ([`JobText`]): before logging
//! starts, for its logging keys, and then checked.
//!
//! Precedence lives here and only here: a flag wins over an environment variable
//! (`GSL_ENDPOINT`), which wins over the job file, which wins over the default. Relative paths
//! in a job file are relative to the job file's folder (made absolute, so the same job started
//! from another working directory is still the same job and resumes its run). An unknown key,
//! a wrong type or a missing input is exit 2 naming the key and line, or the path.

use crate::cli::{Chosen, Command, Globals, Parsed, RunArgs};
use crate::exit::Failure;
use crate::flags::{BatchArgs, InputFlags, RunOptions, SendOptions, Wait};
use crate::logging::{LogFormat, LogSettings};
use crate::ops::{self, Invocation, JobTable, TableError};
pub use crate::template::expand;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The file as written, but its operations' tables (`[sms]`...: each operation reads its own,
/// [`ops::Spec::table`]); every key optional but `operation`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobFile {
    pub operation: String,
    pub input: Option<String>,
    pub inputs: Option<Vec<String>>,
    /// May hold `{date}` `{time}` (local) and `{utcdate}` `{utctime}`.
    pub run_dir: Option<String>,
    pub endpoint: Option<String>,
    /// Calls per second, or `"auto"`.
    pub rate: Option<crate::model::Rate>,
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
    /// As `--ca-cert`: a PEM file of CAs to trust besides the system's.
    pub ca_cert: Option<String>,
    /// As `--report-encoding`: `"utf-8"`, `"utf-8-bom"` or `"gb18030"`.
    pub report_encoding: Option<crate::model::ReportEncoding>,
    pub log_format: Option<JobLogFormat>,
    /// As `--encoding`: the input files' text encoding (`"gb18030"`).
    pub encoding: Option<String>,
    /// As `--sheet`: the worksheet of spreadsheet inputs to read.
    pub sheet: Option<String>,
    /// Follow the outcomes after sending, for at most this long (`"2h"`), as `--follow=2h`.
    pub follow: Option<String>,
    /// As `--again`: also act on cards an earlier run already did.
    pub again: Option<bool>,
    /// As `--again-window`: `"30d"`.
    pub again_window: Option<String>,
    /// As `--compare-with`: `"previous"` (this job's last finished run) or a run dir.
    pub compare: Option<String>,
    /// As `--notify`: a list of webhook URLs, or a table `{ urls, format, on, secret_file, timeout }`.
    pub notify: Option<crate::tell::flags::JobNotify>,
    /// As `--metrics-file`.
    pub metrics_file: Option<String>,
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

/// A loaded, checked job file.
#[derive(Debug, Clone)]
pub struct Job {
    pub path: PathBuf,
    /// The job file's folder, absolute: relative paths in the file start here.
    pub dir: PathBuf,
    pub file: JobFile,
    /// The operations' tables the file has, by name.
    pub tables: BTreeMap<String, JobTable>,
    /// `input` / `inputs`, resolved against [`Job::dir`] (`-` stays stdin).
    pub inputs: Vec<String>,
}

/// The registry entry whose table is called `name`: the one map from table name to operation.
fn table_owner(name: &str) -> Option<&'static ops::Spec> {
    ops::REGISTRY
        .iter()
        .copied()
        .find(|s| s.table.is_some_and(|t| t.name == name))
}

/// A job file's text, read once: its logging keys are looked at before logging starts
/// ([`JobText::hint`]), and the same text is checked into a [`Job`] ([`JobText::load`]).
#[derive(Debug, Clone)]
pub struct JobText {
    pub path: PathBuf,
    text: Result<Arc<str>, String>,
}

impl JobText {
    /// Read the job file at `path` (an error is kept for [`JobText::load`] to report).
    pub fn read(path: &Path) -> JobText {
        JobText {
            path: path.to_path_buf(),
            text: std::fs::read_to_string(path)
                .map(Arc::from)
                .map_err(|e| format!("cannot read job file {}: {e}", path.display())),
        }
    }

    /// The job file of a `run` command line.
    pub fn of(cli: &Parsed) -> Option<JobText> {
        match &cli.chosen {
            Chosen::Command(c) => match c.as_ref() {
                Command::Run(a) => Some(JobText::read(&a.job)),
                _ => None,
            },
            Chosen::Operation(..) => None,
        }
    }

    /// Parse and check the job.
    pub fn load(&self) -> Result<Job, Failure> {
        let text = self.text.as_ref().map_err(Failure::usage)?;
        check(&self.path, text)
    }
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

/// A message about `text` (the contents of `path`) naming the key and line of `span`.
fn located(path: &Path, text: &str, msg: &str, span: Option<std::ops::Range<usize>>) -> Failure {
    match span {
        Some(span) if !text.is_empty() => {
            let (line, key) = line_and_key(text, span.start);
            match key {
                Some(k) => bad(path, format!("key `{k}` (line {line}): {msg}")),
                None => bad(path, format!("line {line}: {msg}")),
            }
        }
        _ => bad(path, msg),
    }
}

/// An operation's table error, as a job file error.
fn table_error(path: &Path, text: &str, e: TableError) -> Failure {
    located(path, text, &e.message, e.span)
}

/// Parse `text` (the contents of `path`), naming the key and line of any error: the common
/// keys, and each operation's table as written.
pub fn parse(path: &Path, text: &str) -> Result<(JobFile, BTreeMap<String, JobTable>), Failure> {
    let err = |e: toml::de::Error| located(path, text, e.message().trim(), e.span());
    let mut root = toml::de::DeTable::parse(text).map_err(err)?;
    let shared: Arc<str> = Arc::from(text);
    let mut tables = BTreeMap::new();
    let owned: Vec<&'static str> = root
        .get_ref()
        .keys()
        .filter_map(|key| table_owner(key.get_ref())?.table.map(|t| t.name))
        .collect();
    for name in owned {
        root.get_mut().remove(name);
        tables.insert(name.to_string(), JobTable::new(shared.clone(), name));
    }
    let file = JobFile::deserialize(toml::de::Deserializer::from(root)).map_err(|e| {
        let mut msg = e.message().trim().to_string();
        // The tables are keys of the file too: an unknown key's message lists them.
        if msg.starts_with("unknown field") && msg.contains(", expected one of ") {
            for spec in ops::REGISTRY {
                if let Some(t) = spec.table {
                    msg.push_str(&format!(", `{}`", t.name));
                }
            }
        }
        located(path, text, &msg, e.span())
    })?;
    // Each table read by its operation, so that a wrong value names its key and line here.
    let has_input = file.input.is_some() || file.inputs.is_some();
    for (name, table) in &tables {
        let check = table_owner(name).and_then(|s| s.table).map(|t| t.check);
        if let Some(check) = check {
            check(table, has_input).map_err(|e| table_error(path, text, e))?;
        }
    }
    Ok((file, tables))
}

/// Read, parse and check a job file.
pub fn load(path: &Path) -> Result<Job, Failure> {
    JobText::read(path).load()
}

/// Parse and check `text`, the contents of the job file `path`.
fn check(path: &Path, text: &str) -> Result<Job, Failure> {
    let (file, tables) = parse(path, text)?;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(parent).map_err(|e| bad(path, e))?;
    let Some(spec) = ops::spec(&file.operation) else {
        return Err(bad(
            path,
            format!(
                "key `operation`: unknown operation {:?}; one of {}",
                file.operation,
                ops::names()
            ),
        ));
    };
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
    if spec.input == ops::Input::Required && inputs.is_empty() {
        return Err(bad(
            path,
            format!("{} needs `input` or `inputs`", spec.name),
        ));
    }
    check_tables(path, &file, &tables, spec)?;
    duration(path, "again_window", file.again_window.as_deref())?;
    duration(path, "follow", file.follow.as_deref())?;
    if let Some(t) = &file.run_dir {
        expand(t, chrono::Local::now(), chrono::Utc::now())
            .map_err(|m| bad(path, format!("key `run_dir`: {m}")))?;
    }
    Ok(Job {
        path: path.to_path_buf(),
        dir,
        file,
        tables,
        inputs,
    })
}

/// The operations' tables (`[sms]`, `[tags]`, `[speed]`...; each read and checked by its
/// operation when the file was parsed): each is there only for the operation whose table it
/// is, and there when that operation needs it.
fn check_tables(
    path: &Path,
    file: &JobFile,
    tables: &BTreeMap<String, JobTable>,
    spec: &ops::Spec,
) -> Result<(), Failure> {
    for table in tables.keys() {
        if spec.table.is_none_or(|t| t.name != table) {
            let owner = table_owner(table).map_or("", |s| s.name);
            return Err(bad(
                path,
                format!("the [{table}] table is for operation = \"{owner}\" only"),
            ));
        }
    }
    if let Some(ops::Table {
        name,
        required: Some(what),
        ..
    }) = spec.table
    {
        if !tables.contains_key(name) {
            return Err(bad(path, format!("{} needs {what}", spec.name)));
        }
    }
    let has_input = file.input.is_some() || file.inputs.is_some();
    if let Some(e) = &file.encoding {
        crate::input::InputEncoding::parse(e)
            .map_err(|m| bad(path, format!("key `encoding`: {m}")))?;
    }
    if let Some(r) = file.list_rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(bad(
            path,
            format!("key `list_rate`: {r} is not a positive number"),
        ));
    }
    if spec.input == ops::Input::None && has_input {
        return Err(bad(
            path,
            format!("{} reads no input: remove `input`/`inputs`", spec.name),
        ));
    }
    Ok(())
}

impl Job {
    /// The job's operation (checked when the file was loaded).
    pub fn spec(&self) -> &'static ops::Spec {
        ops::spec(&self.file.operation).expect("checked when loaded")
    }

    /// What this job asks for, from its resolved flags ([`Job::resolve`]) and its operation's
    /// table.
    pub fn invocation(&self, args: &RunArgs, batch: BatchArgs) -> Result<Invocation, Failure> {
        let spec = self.spec();
        let compare = self.file.compare.as_deref();
        let history = crate::history::for_job(spec, &self.path, compare, &args.history)
            .map_err(|m| bad(&self.path, m))?;
        let parts = ops::JobParts {
            batch,
            list_rate: args.list_rate.or(self.file.list_rate),
            table: spec.table.and_then(|t| self.tables.get(t.name)),
            history,
        };
        (spec.from_job)(&parts).map_err(|m| bad(&self.path, m))
    }

    fn rel(&self, p: &str) -> String {
        if p == "-" {
            return p.to_string();
        }
        lexical(&self.dir.join(p)).display().to_string()
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
            .unwrap_or_else(crate::gsl::client::default_endpoint);
        let rehearse = args.send.rehearse || f.rehearse.unwrap_or(false);
        let run_dir = match (&args.send.run_dir, &f.run_dir) {
            (Some(d), _) => Some(d.clone()),
            (None, Some(t)) => {
                let d = expand(t, chrono::Local::now(), chrono::Utc::now())
                    .map_err(|m| bad(&self.path, format!("key `run_dir`: {m}")))?;
                let base = lexical(&self.dir.join(d.trim_end_matches('/')));
                // A rehearsal of the job never shares (or blocks) the real run's directory.
                let tail = if rehearse {
                    crate::run::start::REHEARSAL_SUFFIX
                } else {
                    ""
                };
                // A `{time}` asks for a directory per start: a second start within the same
                // second gets `-2` rather than meeting the first run's directory.
                Some(if t.contains("{time}") || t.contains("{utctime}") {
                    crate::rundir::unused_name(&base, tail)
                } else {
                    let mut d = base.into_os_string();
                    d.push(tail);
                    PathBuf::from(d)
                })
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
            ca_cert: o
                .ca_cert
                .clone()
                .or_else(|| f.ca_cert.as_deref().map(|p| PathBuf::from(self.rel(p)))),
            report: o
                .report
                .clone()
                .or_else(|| f.report.as_deref().map(|p| self.rel(p))),
            report_encoding: o.report_encoding.or(f.report_encoding),
            tell: o
                .tell
                .with_job(f.notify.as_ref(), f.metrics_file.as_deref(), |p| {
                    self.rel(p)
                }),
        };
        Ok(BatchArgs {
            inputs: self.inputs.clone(),
            endpoint,
            column: args.column.clone().or_else(|| f.column.clone()),
            input: InputFlags {
                // Checked when the file was loaded.
                encoding: args.input.encoding.or_else(|| {
                    f.encoding
                        .as_deref()
                        .and_then(|e| crate::input::InputEncoding::parse(e).ok())
                }),
                sheet: args.input.sheet.clone().or_else(|| f.sheet.clone()),
            },
            send: SendOptions {
                rehearse,
                run_dir,
                dry_run: args.send.dry_run || f.dry_run.unwrap_or(false),
                yes: args.send.yes || f.yes.unwrap_or(false),
                follow: args
                    .send
                    .follow
                    .or(duration(&self.path, "follow", f.follow.as_deref())?),
                again: args.send.again || f.again.unwrap_or(false),
                again_window: args.send.again_window.or(duration(
                    &self.path,
                    "again_window",
                    f.again_window.as_deref(),
                )?),
            },
            run,
        })
    }
}

/// A duration key of the job file (`follow = "2h"`), naming the key when it is not one.
fn duration(path: &Path, key: &str, text: Option<&str>) -> Result<Option<Wait>, Failure> {
    text.map(|t| {
        t.parse()
            .map_err(|m| bad(path, format!("key `{key}`: {m}")))
    })
    .transpose()
}

/// `a/b/../c` as `a/c`, without touching the disk (the run dir may not exist yet): paths in
/// messages read as an operator would write them, not `jobs/../runs/...`.
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// What a job file says about logging: `log_format`, `quiet`, `verbose`.
#[derive(Debug, Default, Clone)]
pub struct LogHint {
    pub format: Option<LogFormat>,
    pub quiet: u8,
    pub verbose: u8,
}

/// The log settings of a command line: the flags, else (for `run`) the job file's keys.
/// Logging starts before the command runs, so a job file's choices are read here.
pub fn log_settings(cli: &Globals, job: Option<&JobText>) -> LogSettings {
    let hint = job.map(JobText::hint).unwrap_or_default();
    let (quiet, verbose) = if cli.quiet == 0 && cli.verbose == 0 {
        (hint.quiet, hint.verbose)
    } else {
        (cli.quiet, cli.verbose)
    };
    LogSettings {
        verbosity: (quiet as i8).saturating_sub(verbose as i8),
        format: cli.log_format.or(hint.format).unwrap_or_default(),
    }
}

impl JobText {
    /// The job file's logging keys, read leniently before logging starts (the full check,
    /// with its error message, comes when the job runs).
    pub fn hint(&self) -> LogHint {
        let table: Option<toml::Table> = self
            .text
            .as_ref()
            .ok()
            .and_then(|text| toml::from_str(text).ok());
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_key_and_line() {
        let p = Path::new("j.toml");
        let e = parse(p, "operation = \"check-real-name\"\nrate = \"fast\"\n").unwrap_err();
        assert!(e.message.contains("`rate` (line 2)"), "{}", e.message);
        let e = parse(p, "operation = \"check-real-name\"\n\nspeed = 3\n").unwrap_err();
        assert!(e.message.contains("`speed` (line 3)"), "{}", e.message);
    }
}
