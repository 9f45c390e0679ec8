//! Job files (`jobs/*.toml`): a scheduled run written down once, resolved with the command
//! line and the environment into the same [`BatchArgs`] the `check-real-name` and
//! `clear-real-name` commands build — so a job runs exactly as its hand-typed equivalent.
//!
//! Precedence lives here and only here: a flag wins over an environment variable
//! (`GSL_ENDPOINT`), which wins over the job file, which wins over the default. Relative paths
//! in a job file are relative to the job file's folder (made absolute, so the same job started
//! from another working directory is still the same job and resumes its run). An unknown key,
//! a wrong type or a missing input is exit 2 naming the key and line, or the path.

use crate::cli::{BatchArgs, Cli, Command, RunArgs, RunOptions, SendOptions};
use crate::exit::Failure;
use crate::logging::{LogFormat, LogSettings};
use crate::ops::{
    self, bind_imei::ImeiTable, data_cap::DataCapTable, inventory::InventoryTable,
    pool_members::PoolTable, sms::SmsTable, speed::SpeedTable, tags::TagsTable,
};
pub use crate::template::expand;
use serde::Deserialize;
use std::path::{Path, PathBuf};

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
    pub sms: Option<SmsTable>,
    pub tags: Option<TagsTable>,
    pub pool: Option<PoolTable>,
    pub inventory: Option<InventoryTable>,
    pub speed: Option<SpeedTable>,
    pub data_cap: Option<DataCapTable>,
    pub imei: Option<ImeiTable>,
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
    check_tables(path, &file, spec)?;
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
        inputs,
    })
}

/// The parameter tables (`[sms]`, `[tags]`, `[pool]`, `[inventory]`, `[speed]`, `[data_cap]`,
/// `[imei]`): each is there only for
/// the operation whose table it is, there when that operation needs it, and sane.
fn check_tables(path: &Path, file: &JobFile, spec: &ops::Spec) -> Result<(), Failure> {
    let present = [
        (ops::sms::TABLE, file.sms.is_some()),
        (ops::tags::TABLE, file.tags.is_some()),
        (ops::pool_members::TABLE, file.pool.is_some()),
        (ops::inventory::TABLE, file.inventory.is_some()),
        (ops::speed::TABLE, file.speed.is_some()),
        (ops::data_cap::TABLE, file.data_cap.is_some()),
        (ops::bind_imei::TABLE, file.imei.is_some()),
    ];
    for (table, there) in present {
        let own = spec.table.filter(|t| t.name == table);
        match (there, own) {
            (true, None) => {
                let owner = ops::REGISTRY
                    .iter()
                    .find(|s| s.table.is_some_and(|t| t.name == table))
                    .map_or("", |s| s.name);
                return Err(bad(
                    path,
                    format!("the [{table}] table is for operation = \"{owner}\" only"),
                ));
            }
            (
                false,
                Some(ops::Table {
                    required: Some(what),
                    ..
                }),
            ) => {
                return Err(bad(path, format!("{} needs {what}", spec.name)));
            }
            _ => {}
        }
    }
    let has_input = file.input.is_some() || file.inputs.is_some();
    if let Some(sms) = &file.sms {
        sms.check(has_input).map_err(|m| bad(path, m))?;
    }
    if let Some(t) = &file.tags {
        t.check().map_err(|m| bad(path, m))?;
    }
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
    if let Some(p) = &file.pool {
        expand(&p.billing_cycle, chrono::Local::now(), chrono::Utc::now())
            .map_err(|m| bad(path, format!("key `pool.billing_cycle`: {m}")))?;
    }
    Ok(())
}

impl Job {
    /// The job's operation (checked when the file was loaded).
    pub fn spec(&self) -> &'static ops::Spec {
        ops::spec(&self.file.operation).expect("checked when loaded")
    }

    /// The command this job stands for, from its resolved flags ([`Job::resolve`]) and its
    /// operation's table.
    pub fn command(&self, args: &RunArgs, batch: BatchArgs) -> Result<Command, Failure> {
        let parts = ops::JobParts {
            batch,
            args,
            list_rate: self.file.list_rate,
            sms: self.file.sms.as_ref(),
            tags: self.file.tags.as_ref(),
            pool: self.file.pool.as_ref(),
            inventory: self.file.inventory.as_ref(),
            speed: self.file.speed.as_ref(),
            data_cap: self.file.data_cap.as_ref(),
            imei: self.file.imei.as_ref(),
        };
        (self.spec().from_job)(&parts).map_err(|m| bad(&self.path, m))
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
            input: args.input.clone(),
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
fn duration(
    path: &Path,
    key: &str,
    text: Option<&str>,
) -> Result<Option<crate::cli::Wait>, Failure> {
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
    /// The job file's `encoding`, when it names one.
    pub encoding: Option<crate::input::InputEncoding>,
    /// The job file's `sheet`.
    pub sheet: Option<String>,
    pub quiet: u8,
    pub verbose: u8,
}

/// The log settings of a command line: the flags, else (for `run`) the job file's keys.
/// Logging starts before the command runs, so a job file's choices are read here.
pub fn log_settings(cli: &Cli) -> LogSettings {
    let hint = match &cli.command {
        Command::Run(a) => log_hint(&a.job),
        _ => LogHint::default(),
    };
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
        encoding: table
            .get("encoding")
            .and_then(toml::Value::as_str)
            .and_then(|l| crate::input::InputEncoding::parse(l).ok()),
        sheet: table
            .get("sheet")
            .and_then(toml::Value::as_str)
            .map(str::to_string),
    }
}

/// The worksheet to read from spreadsheet inputs: `--sheet`, else (for `run`) the job file's.
pub fn input_sheet(cli: &Cli) -> Option<String> {
    let given = cli.command.input_flags().and_then(|f| f.sheet.clone());
    given.or_else(|| match &cli.command {
        Command::Run(a) => log_hint(&a.job).sheet,
        _ => None,
    })
}

/// The input encoding of a command line: `--encoding`, else (for `run`) the job file's.
pub fn input_encoding(cli: &Cli) -> Option<crate::input::InputEncoding> {
    let given = cli.command.input_flags().and_then(|f| f.encoding);
    given.or_else(|| match &cli.command {
        Command::Run(a) => log_hint(&a.job).encoding,
        _ => None,
    })
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
