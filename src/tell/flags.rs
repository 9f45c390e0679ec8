//! The flags and job-file keys of [`super`]: plain data, so the command line's structs can
//! hold them without depending on what a run's end does with them.

use std::path::PathBuf;

/// `--metrics-file`, `--notify` and their options, for runs and listings alike.
#[derive(Clone, Default, clap::Args)]
pub struct TellFlags {
    /// When the run ends, write its figures in the Prometheus text format to FILE (atomically: for node_exporter's textfile collector, name it *.prom).
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
    /// When the run ends, POST to this webhook (repeatable): a DingTalk, WeCom or Feishu robot message chosen by the URL's host, else the summary as JSON. GSL_NOTIFY_URLS (space-separated) keeps a robot's token out of the process list.
    #[arg(
        long = "notify",
        value_name = "URL",
        env = "GSL_NOTIFY_URLS",
        hide_env_values = true,
        value_delimiter = ' '
    )]
    pub notify: Vec<String>,
    /// The message format for every --notify URL [default: auto: by the URL's host].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub notify_format: Option<NotifyFormat>,
    /// When to notify: always, failure (exit code 1, 3 or 130, or a failed outcome), change (--compare-with found changes against an earlier run; never on a job's first run) [default: always].
    #[arg(long, value_enum, value_name = "WHEN")]
    pub notify_on: Option<NotifyOn>,
    /// Read the robots' signing secret (DingTalk 加签, Feishu 签名校验) from this file; GSL_NOTIFY_SECRET holds it too. Never given on the command line.
    #[arg(long, value_name = "FILE")]
    pub notify_secret_file: Option<PathBuf>,
    /// Seconds all notifications together may take, retries included [default: 10].
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    pub notify_timeout: Option<f64>,
}

impl std::fmt::Debug for TellFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A webhook URL carries its robot's token: counted, never shown.
        f.debug_struct("TellFlags")
            .field("metrics_file", &self.metrics_file)
            .field("notify", &format_args!("{} URL(s)", self.notify.len()))
            .field("notify_format", &self.notify_format)
            .field("notify_on", &self.notify_on)
            .field("notify_secret_file", &self.notify_secret_file)
            .field("notify_timeout", &self.notify_timeout)
            .finish()
    }
}

/// A robot's message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyFormat {
    /// By the URL's host: oapi.dingtalk.com, qyapi.weixin.qq.com, open.feishu.cn / open.larksuite.com; JSON otherwise.
    Auto,
    /// The summary as a JSON object, for any webhook.
    Json,
    /// A DingTalk group robot's markdown message, signed when a secret is given.
    Dingtalk,
    /// A WeCom (企业微信) group robot's markdown message.
    Wecom,
    /// A Feishu / Lark group robot's text message, signed when a secret is given.
    Feishu,
}

/// When a run's end is notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyOn {
    #[default]
    Always,
    /// Exit code 1, 3 or 130, or an outcome that failed.
    Failure,
    /// The run compared with an earlier one (`--compare-with`) and found changes (see
    /// [`super::changes_found`]); a job's first run has nothing to compare with.
    Change,
}

/// The job file's `notify` key: a list of URLs, or a table with the options too.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum JobNotify {
    Urls(Vec<String>),
    Table(JobNotifyTable),
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobNotifyTable {
    pub urls: Vec<String>,
    pub format: Option<NotifyFormat>,
    pub on: Option<NotifyOn>,
    /// A file holding the signing secret, relative to the job file.
    pub secret_file: Option<String>,
    pub timeout: Option<f64>,
}

impl TellFlags {
    /// The flags with a job file's `notify` and `metrics_file` keys where no flag was given;
    /// `rel` makes a job-relative path.
    pub fn with_job(
        &self,
        notify: Option<&JobNotify>,
        metrics_file: Option<&str>,
        rel: impl Fn(&str) -> String,
    ) -> TellFlags {
        let mut t = self.clone();
        if t.metrics_file.is_none() {
            t.metrics_file = metrics_file.map(|p| PathBuf::from(rel(p)));
        }
        match notify {
            Some(JobNotify::Urls(urls)) if t.notify.is_empty() => t.notify = urls.clone(),
            Some(JobNotify::Table(tab)) => {
                if t.notify.is_empty() {
                    t.notify = tab.urls.clone();
                }
                t.notify_format = t.notify_format.or(tab.format);
                t.notify_on = t.notify_on.or(tab.on);
                t.notify_timeout = t.notify_timeout.or(tab.timeout);
                if t.notify_secret_file.is_none() {
                    t.notify_secret_file =
                        tab.secret_file.as_deref().map(|p| PathBuf::from(rel(p)));
                }
            }
            _ => {}
        }
        t
    }
}
