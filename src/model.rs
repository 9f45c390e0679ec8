//! Words every stage shares: a row's status.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

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
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Ok,
        Status::Failed,
        Status::Invalid,
        Status::Duplicate,
        Status::Unknown,
        Status::Pending,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Invalid => "invalid",
            Status::Duplicate => "duplicate",
            Status::Unknown => "unknown",
            Status::Pending => "pending",
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
