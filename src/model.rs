//! Words every stage shares: a row's status, and the outcome `follow` finds for it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// `1 card`, `2 cards`: a count with its noun, singular when it is one.
pub fn count(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The outcome of one input row, exactly the report's `status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The API accepted it.
    Ok,
    /// The API refused it, or retries ran out.
    Failed,
    /// Rejected before sending.
    Invalid,
    /// The same card appears on an earlier row.
    Duplicate,
    /// Sent, but the outcome never arrived, on a non-idempotent operation.
    Unknown,
    /// Not performed (yet): the run was aborted or interrupted before it.
    Pending,
    /// Not sent: an earlier run already did it, or may have (the account ledger).
    Skipped,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Ok,
        Status::Failed,
        Status::Invalid,
        Status::Duplicate,
        Status::Unknown,
        Status::Pending,
        Status::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Invalid => "invalid",
            Status::Duplicate => "duplicate",
            Status::Unknown => "unknown",
            Status::Pending => "pending",
            Status::Skipped => "skipped",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown status {s:?}"))
    }
}

/// What finally became of a row whose request was accepted, as `follow` reads it from the
/// API's records (work orders, SMS delivery): exactly the report's `outcome` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The carrier or the platform carried it out.
    Done,
    /// It did not happen: the work order failed, the message was not delivered.
    Failed,
    /// Not finished yet: follow again later.
    Processing,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Done, Outcome::Failed, Outcome::Processing];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Failed => "failed",
            Outcome::Processing => "processing",
        }
    }

    /// The outcome a follow-up status names (`work_order_status` or `sms_status`).
    pub fn from_follow_status(s: &str) -> Option<Outcome> {
        match s {
            "success" | "delivered" => Some(Outcome::Done),
            "failed" => Some(Outcome::Failed),
            "processing" | "sending" => Some(Outcome::Processing),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `--rate`: calls per second, or `auto` (start at [`Rate::AUTO_START`], rise while no 429
/// comes, and hold at the quota the first 429 names). Stored and read as a number or `"auto"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    PerSecond(f64),
    Auto,
}

impl Rate {
    /// Where `--rate auto` starts: the default quota, which no account is below.
    pub const AUTO_START: f64 = 5.0;

    /// The calls per second to start at.
    pub fn start(self) -> f64 {
        match self {
            Rate::PerSecond(r) => r,
            Rate::Auto => Rate::AUTO_START,
        }
    }

    pub fn is_auto(self) -> bool {
        self == Rate::Auto
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rate::PerSecond(r) => write!(f, "{r}"),
            Rate::Auto => f.write_str("auto"),
        }
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(Rate::Auto);
        }
        match s.parse::<f64>() {
            Ok(r) if r.is_finite() && r > 0.0 => Ok(Rate::PerSecond(r)),
            _ => Err(format!(
                "{s}: must be a positive number of calls per second, or auto"
            )),
        }
    }
}

impl Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Rate::PerSecond(r) => s.serialize_f64(*r),
            Rate::Auto => s.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Rate, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(r) => Ok(Rate::PerSecond(r)),
            Raw::Word(w) => w.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// `--encoding`: the text encoding every input of a run or listing is read in, instead of the
/// detected one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputEncoding(pub &'static encoding_rs::Encoding);

impl InputEncoding {
    /// A WHATWG label (`utf-8`, `utf-16le`, `gb18030`, `gbk`, ...).
    pub fn parse(label: &str) -> Result<InputEncoding, String> {
        encoding_rs::Encoding::for_label(label.trim().as_bytes())
            .map(InputEncoding)
            .ok_or_else(|| {
                format!("{label}: not an encoding; use utf-8, utf-16le, utf-16be or gb18030 (gbk)")
            })
    }
}

/// `--report-encoding`: how a CSV report's text is encoded (see `report::encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum ReportEncoding {
    /// UTF-8 without a byte-order mark (scripts, Unix tools).
    #[serde(rename = "utf-8")]
    #[value(name = "utf-8")]
    Utf8,
    /// UTF-8 with a byte-order mark (Excel opens it right on any Windows).
    #[serde(rename = "utf-8-bom")]
    #[value(name = "utf-8-bom")]
    Utf8Bom,
    /// GB18030 (GBK's superset), for older tools on Chinese Windows.
    #[serde(rename = "gb18030")]
    #[value(name = "gb18030")]
    Gb18030,
}

impl ReportEncoding {
    /// A job file's `report_encoding` value.
    pub fn parse(s: &str) -> Result<ReportEncoding, String> {
        <ReportEncoding as clap::ValueEnum>::from_str(s.trim(), true)
            .map_err(|_| format!("{s:?}: use utf-8, utf-8-bom or gb18030"))
    }
}
