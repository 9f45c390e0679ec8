//! What a report row says, independent of how it is written: the column list a run's report has
//! (which depends on the operation, on whether `follow` has run, and on the input's extra columns)
//! and one typed cell per column. Keeping this apart from the CSV/JSON writers means the three
//! formats cannot drift: they all print the same cells under the same names.

use crate::gsl::CardRef;
use crate::journal::{RunMeta, StoredRow, INFLIGHT};
use crate::model::Status;

/// The `error_msg` of a non-idempotent row that was in flight when its process stopped.
pub const INFLIGHT_MSG: &str =
    "in flight when the process stopped: it may or may not have happened";

/// Whether sending an operation's request twice is harmless. Mirrors the engine's operations
/// (`engine::operation`), which only cover the card operations so far; anything not known to be
/// idempotent is treated as not, so a crashed row is shown `unknown` rather than silently redone.
pub fn is_idempotent(operation: &str) -> bool {
    matches!(
        operation,
        "check-real-name" | "set-tags" | "inventory" | "pool-members"
    )
}

/// The status a report shows for a journal status. `inflight` only exists in the journal: a
/// crashed run rendered before `resume` shows it as `resume` will settle it.
pub fn shown_status(journal_status: &str, idempotent: bool) -> Option<Status> {
    if journal_status == INFLIGHT {
        Some(if idempotent {
            Status::Pending
        } else {
            Status::Unknown
        })
    } else {
        journal_status.parse().ok()
    }
}

/// One report value with its natural type; CSV prints `Null` as an empty cell, JSON as `null`.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Str(String),
    Int(i64),
    /// A measure such as `flow_used` (a JSON number, not a string).
    Float(f64),
    Bool(bool),
}

impl Cell {
    fn str(v: Option<String>) -> Cell {
        v.map_or(Cell::Null, Cell::Str)
    }
    fn int(v: Option<i64>) -> Cell {
        v.map_or(Cell::Null, Cell::Int)
    }
}

/// The shape of one run's report.
#[derive(Debug, Clone)]
pub struct Layout {
    pub columns: Vec<String>,
    pub rehearsal: bool,
    sms: bool,
    tags: bool,
    follow: bool,
    idempotent: bool,
    extras: usize,
    /// The SMS run's `--order-id`, a number in JSON reports.
    order_id: Cell,
}

const CARD_COLUMNS: &[&str] = &[
    "row",
    "iccid",
    "sim_card_id",
    "status",
    "work_order_id",
    "real_named",
    "http_status",
    "error_code",
    "error_msg",
    "attempts",
    "latency_ms",
    "finished_at",
];
const CARD_FOLLOW: &[&str] = &["work_order_status", "work_order_detail"];
const SMS_COLUMNS: &[&str] = &[
    "row",
    "cid",
    "batch",
    "order_id",
    "status",
    "http_status",
    "error_code",
    "error_msg",
    "attempts",
    "latency_ms",
    "finished_at",
];
const SMS_FOLLOW: &[&str] = &["sms_status", "sent_time", "received_time"];
/// set-tags: a row per card with the batch it went in; there is nothing to follow up.
const TAG_COLUMNS: &[&str] = &[
    "row",
    "iccid",
    "sim_card_id",
    "batch",
    "status",
    "http_status",
    "error_code",
    "error_msg",
    "attempts",
    "latency_ms",
    "finished_at",
];

/// Whether an input column's name is one of the report's own (any layout, any case): such a
/// column is carried as `input_<name>` so it cannot overwrite or be mistaken for a result.
pub fn is_report_column(name: &str) -> bool {
    // `rehearsal` marks a rehearsal's rows (see the report writer).
    [
        CARD_COLUMNS,
        CARD_FOLLOW,
        SMS_COLUMNS,
        SMS_FOLLOW,
        TAG_COLUMNS,
        &["rehearsal"],
    ]
    .iter()
    .flat_map(|cols| cols.iter())
    .any(|c| c.eq_ignore_ascii_case(name))
}

impl Layout {
    /// `follow`: whether any row carries follow-up data (the follow columns appear only then).
    pub fn new(meta: &RunMeta, follow: bool) -> Layout {
        let sms = meta.operation == "send-sms";
        let tags = meta.operation == "set-tags";
        let (base, extra): (&[&str], &[&str]) = if sms {
            (SMS_COLUMNS, SMS_FOLLOW)
        } else if tags {
            (TAG_COLUMNS, &[])
        } else {
            (CARD_COLUMNS, CARD_FOLLOW)
        };
        let follow = follow && !tags;
        let mut columns: Vec<String> = base.iter().map(|c| c.to_string()).collect();
        if follow {
            columns.extend(extra.iter().map(|c| c.to_string()));
        }
        columns.extend(meta.extra_columns.iter().cloned());
        let order_id = match meta.params.get("order_id") {
            Some(serde_json::Value::Number(n)) => n.as_i64().map_or(Cell::Null, Cell::Int),
            Some(serde_json::Value::String(s)) => s.parse().map_or(Cell::Str(s.clone()), Cell::Int),
            _ => Cell::Null,
        };
        Layout {
            columns,
            rehearsal: meta.rehearsal,
            sms,
            tags,
            follow,
            idempotent: is_idempotent(&meta.operation),
            extras: meta.extra_columns.len(),
            order_id,
        }
    }

    /// The cells of one row, in column order, and the status shown (after the `inflight` mapping).
    /// `None` when the journal holds a status this build does not know.
    pub fn cells(&self, r: StoredRow) -> Option<(Status, Vec<Cell>)> {
        let status = shown_status(&r.status, self.idempotent)?;
        let mut error_msg = r.error_msg;
        if r.status == INFLIGHT && status == Status::Unknown && error_msg.is_none() {
            error_msg = Some(INFLIGHT_MSG.to_string());
        }
        let mut c = Vec::with_capacity(self.columns.len());
        c.push(Cell::Int(r.row as i64));
        // A row given by `sim_card_id` (journal key `#<id>`) shows it in its own column.
        let by_id = match r.key.as_deref().map(CardRef::from_key) {
            Some(CardRef::Id(id)) if !self.sms => Some(id as i64),
            _ => None,
        };
        // No ICCID / cid (a row given by sim_card_id that no answer named, an SMS to a whole
        // order): null in JSON.
        c.push(if r.raw.is_empty() {
            Cell::Null
        } else {
            Cell::Str(r.raw)
        });
        let sim_card_id = Cell::int(r.sim_card_id.or(by_id));
        if self.sms {
            c.push(Cell::int(r.batch));
            c.push(self.order_id.clone());
            c.push(Cell::Str(status.as_str().to_string()));
        } else if self.tags {
            c.push(sim_card_id);
            c.push(Cell::int(r.batch));
            c.push(Cell::Str(status.as_str().to_string()));
        } else {
            c.push(sim_card_id);
            c.push(Cell::Str(status.as_str().to_string()));
            c.push(Cell::int(r.work_order_id));
            c.push(r.real_named.map_or(Cell::Null, Cell::Bool));
        }
        c.push(Cell::int(r.http_status.map(i64::from)));
        c.push(Cell::str(r.error_code));
        c.push(Cell::str(error_msg));
        c.push(Cell::Int(i64::from(r.attempts)));
        c.push(Cell::int(r.latency_ms.map(|v| v as i64)));
        c.push(Cell::str(r.finished_at));
        if self.follow {
            c.push(Cell::str(r.follow_status));
            if self.sms {
                c.push(Cell::str(r.follow_time1));
                c.push(Cell::str(r.follow_time2));
            } else {
                c.push(Cell::str(r.follow_detail));
            }
        }
        // A row read before a later input added columns has fewer extras: those cells are absent.
        let mut extras = r.extras.into_iter();
        for _ in 0..self.extras {
            c.push(Cell::str(extras.next()));
        }
        Some((status, c))
    }
}
