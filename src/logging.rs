//! Logs to stderr through `tracing`, and the one progress bar they must not tear.
//!
//! On a TTY (and without `-q` or JSON logs) a single indicatif bar shows done/total, rate, ETA
//! and live counts; log lines are written through [`BarWriter`], which suspends the bar while a
//! line prints. Elsewhere there is no bar, and the engine's progress is a log line every 60 s.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

static BAR: OnceLock<ProgressBar> = OnceLock::new();
static FORMAT: OnceLock<LogFormat> = OnceLock::new();
static SETTINGS: OnceLock<LogSettings> = OnceLock::new();

/// The settings [`init`] installed (the defaults before it ran).
pub fn settings() -> LogSettings {
    SETTINGS.get().copied().unwrap_or(LogSettings {
        verbosity: 0,
        format: LogFormat::Text,
    })
}

/// Whether stderr carries JSON lines (then the end-of-run summary is one JSON line too).
pub fn json_logs() -> bool {
    FORMAT.get() == Some(&LogFormat::Json)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// How the process reports as it goes.
#[derive(Debug, Clone, Copy)]
pub struct LogSettings {
    /// -q count minus -v count: <0 more detail, >0 quieter.
    pub verbosity: i8,
    pub format: LogFormat,
}

impl LogSettings {
    /// Whether a progress bar may be drawn.
    pub fn wants_bar(&self) -> bool {
        self.verbosity <= 0 && self.format == LogFormat::Text && std::io::stderr().is_terminal()
    }
}

/// Writes a log line with the bar (if any) suspended around it. A line stderr cannot take (a
/// pipe whose reader left, `2>&1 | head -1`) is lost, not reported: tracing would report it
/// with `eprintln!`, which panics on that very stderr.
#[derive(Clone, Copy)]
pub struct BarWriter;

impl Write for BarWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _lost = match BAR.get() {
            Some(bar) if !bar.is_finished() => bar.suspend(|| std::io::stderr().write_all(buf)),
            _ => std::io::stderr().write_all(buf),
        };
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _lost = std::io::stderr().flush();
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BarWriter {
    type Writer = BarWriter;
    fn make_writer(&'a self) -> BarWriter {
        BarWriter
    }
}

/// Install the global subscriber. `GSL_LOG` (an `EnvFilter`) overrides the level when set.
/// The target of the periodic progress line: kept at `-q` (the SPEC's "with -q ... a one-line
/// progress log every 60 s"), dropped at `-qq`.
pub const PROGRESS_TARGET: &str = "gslbatch::progress";

pub fn init(s: LogSettings) {
    let _ = FORMAT.set(s.format);
    let _ = SETTINGS.set(s);
    let level = match s.verbosity {
        i8::MIN..=-3 => "trace",
        -2 => "debug",
        -1 => "info,gslbatch=debug",
        0 => "info",
        1 => "warn,gslbatch::progress=info",
        _ => "error",
    };
    // Dependencies stay at warn unless asked: their debug output can include request lines.
    let default = if s.verbosity < 0 {
        format!(
            "warn,gslbatch={}",
            level.rsplit('=').next().unwrap_or(level)
        )
    } else {
        level.to_string()
    };
    let filter = EnvFilter::try_from_env("GSL_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(BarWriter)
        .log_internal_errors(false)
        .with_target(false);
    let _ = match s.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(color_on_stderr()).try_init(),
    };
}

/// `--color`: whether log lines on stderr carry ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set (to anything but the empty string) or
    /// `TERM=dumb`.
    #[default]
    Auto,
    Always,
    Never,
}

static COLOR: OnceLock<ColorChoice> = OnceLock::new();

/// Choose colours before [`init`] (`--color`).
pub fn set_color(choice: ColorChoice) {
    let _ = COLOR.set(choice);
}

/// Whether stderr gets colours, as <https://no-color.org> and `--color` say.
fn color_on_stderr() -> bool {
    match COLOR.get().copied().unwrap_or_default() {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
            !no_color && !dumb && std::io::stderr().is_terminal()
        }
    }
}

/// The bar: rows done of the run's total, the ETA, and the labelled rate and counts (`msg`).
const BAR_TEMPLATE: &str = "{bar:30} {pos}/{len} rows · eta {eta} · {msg}";

/// Create the run's progress bar (once per process), or `None` when there should be none.
pub fn bar(s: LogSettings, total: u64) -> Option<ProgressBar> {
    if !s.wants_bar() {
        return None;
    }
    let bar = BAR.get_or_init(|| {
        let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        b.set_style(ProgressStyle::with_template(BAR_TEMPLATE).expect("static template"));
        b
    });
    bar.set_length(total);
    Some(bar.clone())
}

/// `eprintln!` that never panics: a closed or full stderr (`2>&-`, a pipe whose reader went
/// away) loses the line, not the run's exit code. With JSON logs the line is a JSON object like
/// the log's, so a scheduler's log stays one JSON object a line.
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{
        $crate::logging::say_line(&format!($($t)*));
    }};
}

/// What [`say!`] prints: the line, or with JSON logs the line as the log's JSON shape (`error:`
/// lines at level ERROR). A line that already is a JSON object goes as it is.
pub fn say_line(line: &str) {
    use std::io::Write as _;
    let error = line.starts_with("error");
    // `-qq` is "errors only": the summary and follow's lines are not errors.
    if settings().verbosity >= 2 && !error {
        return;
    }
    let mut err = std::io::stderr().lock();
    let timestamp = || chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    if json_logs() && !line.starts_with('{') {
        let level = if error { "ERROR" } else { "INFO" };
        let v = serde_json::json!({
            "timestamp": timestamp(),
            "level": level,
            "message": line,
        });
        let _ = writeln!(err, "{v}");
    } else if json_logs() && !line.starts_with("{\"timestamp\"") && line.len() > 2 {
        // A JSON object of its own (the summary): stamped first, like every other log line.
        let _ = writeln!(err, "{{\"timestamp\":\"{}\",{}", timestamp(), &line[1..]);
    } else {
        let _ = writeln!(err, "{line}");
    }
}

/// `println!` that never panics: stdout closed by `| head` ends the output, not the process.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bar_template_parses() {
        assert!(indicatif::ProgressStyle::with_template(super::BAR_TEMPLATE).is_ok());
    }
}
