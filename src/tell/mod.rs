//! What a run tells the world when it ends, besides its exit code, log and report: a metrics
//! file for node_exporter's textfile collector ([`metrics`]) and webhook notifications to
//! generic receivers and DingTalk / WeCom / Feishu group robots ([`notify`]).
//!
//! The flags are one struct, [`TellFlags`], flattened into every sending command's options and
//! checked with them before anything is sent (a bad URL or an unwritable metrics path is exit 2).
//! [`install`] keeps the checked settings for the process; the end of a run calls [`at_end`]
//! once the summary is written (and makes an HTML report again, now that the summary says how
//! the run ended). A listing (`inventory`, `usage`, `pool-members`) has no journal nor
//! `summary.json`: it checks the same flags into a [`Teller`] before its first call and tells
//! its [`ListingEnd`] (rows listed, calls, exit code, changes, marks) when it ends. Nothing here changes a run's exit code: a metrics file or a
//! notification that cannot be written or delivered is a warning in the log.
//!
//! The settings are never stored in the journal: webhook URLs carry access tokens and the
//! signing secret is one, so `resume` takes them again from its own flags (a job file's keys
//! are read again by `run JOB.toml`).

pub mod bodies;
pub mod flags;
pub mod listing;
pub mod metrics;
pub mod notify;
pub mod sign;

pub use flags::{JobNotify, NotifyFormat, NotifyOn, TellFlags};
pub use listing::{ListingEnd, Teller};

use crate::report::Summary;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The environment variable holding the robots' signing secret (DingTalk "加签", Feishu "签名校验").
pub const SECRET_ENV: &str = "GSL_NOTIFY_SECRET";

/// How long all notifications of a run's end may take together, by default.
pub const DEFAULT_TIMEOUT_SECS: f64 = 10.0;

/// The checked settings a run's end acts on.
#[derive(Clone, Default)]
pub struct Tell {
    pub metrics_file: Option<PathBuf>,
    pub targets: Vec<notify::Target>,
    pub on: NotifyOn,
    /// DingTalk's / Feishu's signing secret.
    pub secret: Option<String>,
    /// All notifications together, retries included.
    pub timeout: Duration,
}

impl std::fmt::Debug for Tell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URLs' tokens nor the secret.
        f.debug_struct("Tell")
            .field("metrics_file", &self.metrics_file)
            .field("targets", &self.targets.len())
            .field("on", &self.on)
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Tell {
    /// Check the flags: every URL parses as http(s), the metrics file's folder is writable, the
    /// secret file is readable. The message names the flag, never a URL's token or the secret.
    pub fn from_flags(f: &TellFlags) -> Result<Tell, String> {
        let format = f.notify_format.unwrap_or(NotifyFormat::Auto);
        let targets = f
            .notify
            .iter()
            .enumerate()
            .map(|(i, u)| {
                notify::Target::parse(u, format).map_err(|e| format!("--notify #{}: {e}", i + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(p) = &f.metrics_file {
            metrics::check_writable(p).map_err(|e| {
                format!(
                    "--metrics-file {}: cannot write there ({e}); nothing was sent",
                    p.display()
                )
            })?;
        }
        let secret = match &f.notify_secret_file {
            Some(p) => Some(read_secret(p)?),
            None => std::env::var(SECRET_ENV).ok().filter(|s| !s.is_empty()),
        };
        if let Some(s) = &secret {
            if s.trim() != s || s.chars().any(char::is_control) {
                return Err(format!(
                    "{}: the signing secret has surrounding white space or control characters",
                    f.notify_secret_file
                        .as_ref()
                        .map_or(SECRET_ENV.to_string(), |p| p.display().to_string())
                ));
            }
        }
        let timeout = f.notify_timeout.unwrap_or(DEFAULT_TIMEOUT_SECS);
        if !(timeout.is_finite() && timeout > 0.0 && timeout <= 300.0) {
            return Err(format!(
                "--notify-timeout {timeout}: must be more than 0 and at most 300 seconds"
            ));
        }
        Ok(Tell {
            metrics_file: f.metrics_file.clone(),
            targets,
            on: f.notify_on.unwrap_or_default(),
            secret,
            timeout: Duration::from_secs_f64(timeout),
        })
    }
}

/// A secret file's one line (a final newline is not part of it).
fn read_secret(p: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| format!("--notify-secret-file {}: cannot read it ({e})", p.display()))?;
    let s = text.strip_suffix('\n').unwrap_or(&text);
    let s = s.strip_suffix('\r').unwrap_or(s);
    if s.is_empty() {
        return Err(format!(
            "--notify-secret-file {}: the file is empty",
            p.display()
        ));
    }
    Ok(s.to_string())
}

static INSTALLED: Mutex<Option<Tell>> = Mutex::new(None);

/// Check the flags and keep them for this process's [`at_end`]. Called where a run's other
/// settings are checked, before anything is sent.
pub fn install(f: &TellFlags) -> Result<(), String> {
    let t = Tell::from_flags(f)?;
    *INSTALLED.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
    Ok(())
}

/// The counts per kind of change a run found against an earlier run: the history writes them
/// to `NAME.summary.json` beside the run's report (`check-real-name --compare-with`) before the
/// run's end is told. `None` when the run compared with nothing (not asked, or a job's first
/// run), or that file is an earlier run's.
pub fn changes_of(summary: &Summary) -> Option<BTreeMap<String, u64>> {
    let report = summary.report_path.as_deref().filter(|p| *p != "-")?;
    let not_before = summary
        .started_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(std::time::SystemTime::from);
    crate::history::beside::changes_since(Path::new(report), not_before)
}

/// How many changes of any kind the run found against an earlier run (`None`: it compared
/// with none); `--notify-on change` fires on more than 0.
pub fn changes_found(summary: &Summary) -> Option<u64> {
    changes_of(summary).map(|c| c.values().sum())
}

/// The end of a run: write the metrics file and send the notifications the flags asked for.
/// Never fails and never changes the exit code; problems are logged as warnings.
pub fn at_end(summary: &Summary) {
    html_again(summary);
    let Some(t) = INSTALLED.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
        return;
    };
    run_end(&t, summary);
}

/// An HTML report is made again once `summary.json` is written, so the page says how the run
/// ended (its stop reason and exit code), which the report rendered before it could not.
fn html_again(summary: &Summary) {
    let Some(dest) = summary.report_path.as_deref() else {
        return;
    };
    let dest = Path::new(dest);
    if crate::report::ReportFormat::from_path(dest) != crate::report::ReportFormat::Html {
        return;
    }
    let rendered = crate::journal::Journal::open_read(Path::new(&summary.run_dir))
        .map_err(|e| e.to_string())
        .and_then(|j| crate::report::html::render(&j, dest).map_err(|e| e.to_string()));
    if let Err(e) = rendered {
        tracing::warn!("the HTML report keeps its first rendering: {e}");
    }
}

/// [`at_end`] with given settings.
pub fn run_end(t: &Tell, summary: &Summary) {
    let changes = changes_of(summary);
    if let Some(p) = &t.metrics_file {
        match metrics::write(p, summary, changes.as_ref()) {
            Ok(()) => tracing::info!("metrics written to {}", p.display()),
            Err(e) => tracing::warn!("the metrics file was not written: {e}"),
        }
    }
    let wanted = match t.on {
        NotifyOn::Always => true,
        NotifyOn::Failure => is_failure(summary),
        NotifyOn::Change => found(changes.as_ref()),
    };
    notify_if(t, wanted, || {
        bodies::Message::of_run(summary, changes.as_ref())
    });
}

/// Any change of any kind among `changes`.
fn found(changes: Option<&BTreeMap<String, u64>>) -> bool {
    changes.is_some_and(|c| c.values().any(|n| *n > 0))
}

/// Send the message to every target when `wanted`, else log why not.
fn notify_if(t: &Tell, wanted: bool, message: impl FnOnce() -> bodies::Message) {
    if t.targets.is_empty() {
        return;
    }
    if wanted {
        notify::send_all(t, &message());
    } else {
        tracing::info!(
            "no notification: --notify-on {} does not apply to this run",
            format!("{:?}", t.on).to_lowercase()
        );
    }
}

/// A run that did not end well: exit 1 (rows failed), 3 (aborted), 130 (interrupted), or an
/// outcome `follow` read as failed.
pub fn is_failure(s: &Summary) -> bool {
    matches!(
        s.exit_code,
        Some(crate::exit::ROWS_FAILED | crate::exit::ABORTED | crate::exit::INTERRUPTED)
    ) || s.outcomes.failed > 0
}
