//! What a report row says, independent of how it is written: the column list a run's report has
//! (which depends on the operation, on whether `follow` has run, and on the input's extra columns)
//! and one typed cell per column. Keeping this apart from the CSV/JSON writers means the three
//! formats cannot drift: they all print the same cells under the same names.

use crate::gsl::CardRef;
use crate::journal::{RowState, RunMeta, StoredRow, INFLIGHT};
use crate::model::{Outcome, Status};
use crate::ops;

/// The `error_msg` of a non-idempotent row that was in flight when its process stopped.
pub const INFLIGHT_MSG: &str =
    "in flight when the process stopped: it may or may not have happened";

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

/// One column a run's report can have, parsed once from the registry's column names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Row,
    /// The card: `iccid`, or `cid` in an SMS report.
    Card,
    SimCardId,
    Batch,
    OrderId,
    Status,
    WorkOrderId,
    RealNamed,
    HttpStatus,
    ErrorCode,
    ErrorMsg,
    Attempts,
    LatencyMs,
    FinishedAt,
    /// `work_order_status` / `sms_status`.
    FollowStatus,
    /// `work_order_detail`.
    FollowDetail,
    /// `sent_time`, `received_time`.
    FollowTime1,
    FollowTime2,
    /// `outcome`, `outcome_detail`: what the accepted request came to.
    Outcome,
    OutcomeDetail,
}

impl Col {
    fn parse(name: &str) -> Option<Col> {
        Some(match name {
            "row" => Col::Row,
            "iccid" | "cid" => Col::Card,
            "sim_card_id" => Col::SimCardId,
            "batch" => Col::Batch,
            "order_id" => Col::OrderId,
            "status" => Col::Status,
            "work_order_id" => Col::WorkOrderId,
            "real_named" => Col::RealNamed,
            "http_status" => Col::HttpStatus,
            "error_code" => Col::ErrorCode,
            "error_msg" => Col::ErrorMsg,
            "attempts" => Col::Attempts,
            "latency_ms" => Col::LatencyMs,
            "finished_at" => Col::FinishedAt,
            "work_order_status" | "sms_status" => Col::FollowStatus,
            "work_order_detail" => Col::FollowDetail,
            "sent_time" => Col::FollowTime1,
            "received_time" => Col::FollowTime2,
            "outcome" => Col::Outcome,
            "outcome_detail" => Col::OutcomeDetail,
            _ => return None,
        })
    }
}

/// Whether an input column's name is one of the report's own (any run's report, any case):
/// such a column is carried as `input_<name>` so it cannot overwrite or be mistaken for a
/// result.
pub fn is_report_column(name: &str) -> bool {
    // `rehearsal` marks a rehearsal's rows (see the report writer).
    ops::REGISTRY
        .iter()
        .filter(|s| s.rebuild.is_some())
        .flat_map(|s| s.columns.iter().chain(s.follow_columns))
        .chain(&["rehearsal"])
        .any(|c| c.eq_ignore_ascii_case(name))
}

/// The shape of one run's report.
#[derive(Debug, Clone)]
pub struct Layout {
    pub columns: Vec<String>,
    pub rehearsal: bool,
    cols: Vec<Col>,
    idempotent: bool,
    follow: ops::Follow,
    extras: usize,
    /// The SMS run's `--order-id`, a number in JSON reports.
    order_id: Cell,
}

impl Layout {
    /// `follow`: whether any row carries follow-up data (the follow columns appear only then).
    /// The columns are the operation's, from the registry.
    pub fn new(meta: &RunMeta, follow: bool) -> Layout {
        let spec = ops::spec(&meta.operation);
        let base = spec.map_or(ops::CARD_COLUMNS, |s| s.columns);
        let extra = spec.map_or(ops::WORK_ORDER_FOLLOW, |s| s.follow_columns);
        let mut columns: Vec<String> = base.iter().map(|c| c.to_string()).collect();
        if follow {
            columns.extend(extra.iter().map(|c| c.to_string()));
        }
        let cols = columns.iter().filter_map(|c| Col::parse(c)).collect();
        columns.extend(meta.extra_columns.iter().cloned());
        let order_id = match meta.params.get("order_id") {
            Some(serde_json::Value::Number(n)) => n.as_i64().map_or(Cell::Null, Cell::Int),
            Some(serde_json::Value::String(s)) => s.parse().map_or(Cell::Str(s.clone()), Cell::Int),
            _ => Cell::Null,
        };
        Layout {
            columns,
            rehearsal: meta.rehearsal,
            cols,
            idempotent: ops::is_idempotent(&meta.operation),
            follow: spec.map_or(ops::Follow::None, |s| s.follow),
            extras: meta.extra_columns.len(),
            order_id,
        }
    }

    /// The cells of one row, in column order, and the status shown (after the `inflight` mapping).
    /// `None` when the journal holds a status this build does not know.
    pub fn cells(&self, r: StoredRow) -> Option<(Status, Vec<Cell>)> {
        let status = r.status.shown(self.idempotent)?;
        let mut error_msg = r.error_msg;
        if r.status == RowState::InFlight && status == Status::Unknown && error_msg.is_none() {
            error_msg = Some(INFLIGHT_MSG.to_string());
        }
        // A row given by `sim_card_id` (journal key `#<id>`) shows it in its own column.
        let by_id = match r.key.as_deref().map(CardRef::from_key) {
            Some(CardRef::Id(id)) => Some(id as i64),
            _ => None,
        };
        let mut raw = Some(r.raw).filter(|raw| !raw.is_empty());
        let mut error_code = r.error_code;
        let mut finished_at = r.finished_at;
        let (mut follow_status, mut follow_detail) = (r.follow_status, r.follow_detail);
        let (mut t1, mut t2) = (r.follow_time1, r.follow_time2);
        let outcome = (status == Status::Ok)
            .then(|| {
                follow_status
                    .as_deref()
                    .and_then(Outcome::from_follow_status)
            })
            .flatten();
        let mut outcome_detail = match outcome {
            Some(Outcome::Failed) => {
                Some(follow_detail.clone().unwrap_or_else(|| match self.follow {
                    ops::Follow::Sms => "the message was not delivered".to_string(),
                    _ => "the work order failed".to_string(),
                }))
            }
            Some(Outcome::Processing) => Some(match self.follow {
                ops::Follow::Sms => "still sending: follow again later".to_string(),
                _ => "the work order is still processing: follow again later".to_string(),
            }),
            _ => None,
        };
        let mut c = Vec::with_capacity(self.columns.len());
        for col in &self.cols {
            c.push(match col {
                Col::Row => Cell::Int(r.row as i64),
                // No ICCID / cid (a row given by sim_card_id that no answer named, an SMS to a
                // whole order): null in JSON.
                Col::Card => Cell::str(raw.take()),
                Col::SimCardId => Cell::int(r.sim_card_id.or(by_id)),
                Col::Batch => Cell::int(r.batch),
                Col::OrderId => self.order_id.clone(),
                Col::Status => Cell::Str(status.as_str().to_string()),
                Col::WorkOrderId => Cell::int(r.work_order_id),
                Col::RealNamed => r.real_named.map_or(Cell::Null, Cell::Bool),
                Col::HttpStatus => Cell::int(r.http_status.map(i64::from)),
                Col::ErrorCode => Cell::str(error_code.take()),
                Col::ErrorMsg => Cell::str(error_msg.take()),
                Col::Attempts => Cell::Int(i64::from(r.attempts)),
                Col::LatencyMs => Cell::int(r.latency_ms.map(|v| v as i64)),
                Col::FinishedAt => Cell::str(finished_at.take()),
                Col::FollowStatus => Cell::str(follow_status.take()),
                Col::FollowDetail => Cell::str(follow_detail.take()),
                Col::FollowTime1 => Cell::str(t1.take()),
                Col::FollowTime2 => Cell::str(t2.take()),
                Col::Outcome => Cell::str(outcome.map(|o| o.as_str().to_string())),
                Col::OutcomeDetail => Cell::str(outcome_detail.take()),
            });
        }
        // A row read before a later input added columns has fewer extras: those cells are absent.
        let mut extras = r.extras.into_iter();
        for _ in 0..self.extras {
            c.push(Cell::str(extras.next()));
        }
        Some((status, c))
    }
}
