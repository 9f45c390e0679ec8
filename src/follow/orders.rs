//! Follow-up of clear-real-name runs: each work order's details → `work_order_status` and its
//! description per row; `unknown` rows settled by a type-14 work order created since the run
//! started whose details name the row's card.

use super::{is_fatal, rows_of_interest, with_note, Api, FollowStats, Reader, PAGE};
use crate::gsl::types::{Page, WorkOrder, WorkOrderDetail};
use crate::gsl::GslError;
use crate::journal::{FollowUpdate, Journal, JournalError};
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The work-order type of real-name clearing.
pub const CLEAR_REAL_NAME: i64 = 14;

/// `work_order_status` for a detail's status (1 success, 2 processing, 3 failed).
pub fn detail_status(status: Option<i64>) -> Option<&'static str> {
    match status {
        Some(1) => Some("success"),
        Some(2) => Some("processing"),
        Some(3) => Some("failed"),
        _ => None,
    }
}

fn same_card(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Every detail of one work order (paged).
async fn details(reader: Arc<Reader>, id: i64) -> Result<Vec<WorkOrderDetail>, GslError> {
    let r = reader.clone();
    reader
        .all_pages(
            Api::WorkOrderDetails,
            move |offset| {
                let r = r.clone();
                async move {
                    let p = r
                        .client
                        .work_order_details(id, &Page::new(PAGE, offset))
                        .await?;
                    Ok((p.work_order_details, p.count))
                }
            },
            |_| true,
        )
        .await
}

/// Type-14 work orders created at or after `since`. The list comes newest first, so the walk
/// stops at the first page holding only older orders.
async fn orders_since(
    reader: &Arc<Reader>,
    since: DateTime<Utc>,
) -> Result<Vec<WorkOrder>, GslError> {
    let r = reader.clone();
    let created = |w: &WorkOrder| w.create_time.as_deref().and_then(super::parse_time);
    let all = reader
        .all_pages(
            Api::WorkOrders,
            move |offset| {
                let r = r.clone();
                async move {
                    let page = Page::new(PAGE, offset).filter("work_order_type", CLEAR_REAL_NAME);
                    let p = r.client.work_orders(&page).await?;
                    Ok((p.work_orders, p.count))
                }
            },
            |page| page.iter().any(|w| created(w).is_some_and(|t| t >= since)),
        )
        .await?;
    // An order without a readable creation time proves nothing about this run.
    Ok(all
        .into_iter()
        .filter(|w| w.work_order_type.is_none_or(|t| t == CLEAR_REAL_NAME))
        .filter(|w| created(w).is_some_and(|t| t >= since))
        .collect())
}

pub async fn follow(
    journal: &mut Journal,
    reader: &Arc<Reader>,
    since: DateTime<Utc>,
) -> Result<FollowStats, FollowError> {
    let mut stats = FollowStats::default();
    let mut run_orders = BTreeSet::new();
    let rows = rows_of_interest(journal, |r| {
        if let Some(id) = r.work_order_id {
            run_orders.insert(id);
        }
        (r.status == "ok" && r.work_order_id.is_some()) || r.status == "unknown"
    })?;
    let (ok_rows, unknown_rows): (Vec<_>, Vec<_>) =
        rows.into_iter().partition(|r| r.status == "ok");

    // 1. Each distinct work order of the run still open, read once.
    let open: Vec<_> = ok_rows
        .iter()
        .filter(|r| !matches!(r.follow_status.as_deref(), Some("success" | "failed")))
        .collect();
    let ids: Vec<i64> = open
        .iter()
        .filter_map(|r| r.work_order_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut found: HashMap<i64, Vec<WorkOrderDetail>> = HashMap::new();
    for (id, r) in reader.each(ids, details).await {
        match r {
            Ok(d) => {
                found.insert(id, d);
            }
            Err(e) if is_fatal(&e) => return Err(FollowError::Api(e)),
            Err(e) => {
                stats.refused += 1;
                tracing::warn!(work_order_id = id, error = %e, "work order details refused");
            }
        }
    }
    let mut updates = Vec::new();
    for r in &open {
        let key = r.key.as_deref().unwrap_or("");
        let detail = r
            .work_order_id
            .and_then(|id| found.get(&id))
            .and_then(|ds| {
                ds.iter()
                    .find(|d| d.cid.as_deref().is_some_and(|c| same_card(c, key)))
                    .or(if ds.len() == 1 { ds.first() } else { None })
            });
        let status = detail.and_then(|d| detail_status(d.status));
        match (detail, status) {
            (Some(d), Some(s)) => {
                stats.followed += 1;
                if s == "processing" {
                    stats.open += 1;
                }
                updates.push(FollowUpdate {
                    row: r.row,
                    status: Some(s.to_string()),
                    detail: d.description.clone(),
                    ..FollowUpdate::default()
                });
            }
            _ => stats.open += 1,
        }
    }
    journal.set_follow(&updates)?;

    // 2. Unknown rows: only a work order created since the run began that names the card.
    if unknown_rows.is_empty() {
        return Ok(stats);
    }
    let orders = match orders_since(reader, since).await {
        Ok(o) => o,
        Err(e) if is_fatal(&e) => return Err(FollowError::Api(e)),
        Err(e) => {
            tracing::warn!(error = %e, "work order list refused: unknown rows stay unknown");
            stats.refused += 1;
            Vec::new()
        }
    };
    // Orders the run already holds belong to its `ok` rows: no need to read them again.
    let candidates: Vec<i64> = orders
        .iter()
        .map(|w| w.id)
        .filter(|id| !run_orders.contains(id))
        .collect();
    let wanted: HashMap<String, usize> = unknown_rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.key.as_deref().map(|k| (k.trim().to_uppercase(), i)))
        .collect();
    let mut evidence: HashMap<usize, (i64, WorkOrderDetail)> = HashMap::new();
    for (id, r) in reader.each(candidates, details).await {
        match r {
            Ok(ds) => {
                for d in ds {
                    let Some(cid) = d.cid.as_deref() else {
                        continue;
                    };
                    if let Some(i) = wanted.get(&cid.trim().to_uppercase()) {
                        evidence.entry(*i).or_insert((id, d));
                    }
                }
            }
            Err(e) if is_fatal(&e) => return Err(FollowError::Api(e)),
            Err(e) => {
                stats.refused += 1;
                tracing::warn!(work_order_id = id, error = %e, "work order details refused");
            }
        }
    }
    let since_text = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut updates = Vec::new();
    for (i, r) in unknown_rows.iter().enumerate() {
        match evidence.remove(&i) {
            Some((id, d)) => {
                let note = with_note(
                    r.error_msg.as_deref(),
                    &format!("follow: outcome proven by work order {id} for this card"),
                );
                if journal.settle_unknown(r.row, Some(id), &note)? {
                    stats.settled += 1;
                }
                let status = detail_status(d.status);
                if status == Some("processing") || status.is_none() {
                    stats.open += 1;
                }
                stats.followed += 1;
                updates.push(FollowUpdate {
                    row: r.row,
                    status: status.map(str::to_string),
                    detail: d.description.clone(),
                    ..FollowUpdate::default()
                });
            }
            None => {
                stats.still_unknown += 1;
                let note = format!("follow: no work order found for this card since {since_text}");
                journal.set_error_msg(r.row, &with_note(r.error_msg.as_deref(), &note))?;
            }
        }
    }
    journal.set_follow(&updates)?;
    Ok(stats)
}

/// Why a follow pass stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Api(GslError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}
