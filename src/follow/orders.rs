//! Follow-up of the runs whose requests become work orders (clear-real-name, the card-state
//! operations): each work order's details → `work_order_status` and its description per row;
//! `unknown` rows settled by a work order of the run's type created since the run started whose
//! details name the row's card.

use super::{
    is_fatal, rows_of_interest, with_note, Api, Clocks, FollowRow, FollowStats, Reader, PAGE,
};
use crate::gsl::types::{Page, WorkOrder, WorkOrderDetail};
use crate::gsl::{CardRef, GslError};
use crate::journal::{FollowUpdate, Journal, JournalError, RowState};
use crate::model::Status;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Work orders whose details are read between two journal writes.
const DETAILS_PER_WRITE: usize = 200;

/// `work_order_status` for a detail's status (1 success, 2 processing, 3 failed).
pub fn detail_status(status: Option<i64>) -> Option<&'static str> {
    match status {
        Some(1) => Some("success"),
        Some(2) => Some("processing"),
        Some(3) => Some("failed"),
        _ => None,
    }
}

/// The keys a detail's card answers to: its cid (ICCID) and `#<sim_card_id>`.
fn detail_keys(d: &WorkOrderDetail) -> impl Iterator<Item = String> + '_ {
    let cid = d.cid.as_deref().map(|c| c.trim().to_uppercase());
    let id = d.sim_card_id.map(|id| CardRef::id_key(id.unsigned_abs()));
    cid.into_iter().chain(id)
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

/// What the list of the run's type of work orders since the run began says, kept small: the state of the
/// run's own open orders that their counts settle, and the ids of every other order (the
/// places an `unknown` row's card may be found).
#[derive(Default)]
struct Listed {
    settled: HashMap<i64, (&'static str, Option<String>)>,
    others: Vec<i64>,
}

/// `success` when every card of the order succeeded, `processing` when every card is still in
/// progress; anything else (a failure, a mix, counts missing) needs the order's details.
fn settled_by_counts(w: &WorkOrder) -> Option<&'static str> {
    let total = w.total_count.filter(|t| *t > 0)?;
    if w.success_count == Some(total) {
        Some("success")
    } else if w.process_count == Some(total) {
        Some("processing")
    } else {
        None
    }
}

/// The run's type of work orders created at or after `since`, 500 to a call. The list comes newest
/// first, so the walk stops at the first page holding only older orders (orders created
/// while it walks push the others back a page: seen twice, never missed). Unless every order
/// is wanted (`all`: there are unknown rows to look for), it also stops once each `open` order
/// was seen, or after page 1 when fewer of them are left than pages (their details are read
/// one call each instead).
async fn list_since(
    reader: &Arc<Reader>,
    order_type: i64,
    since: DateTime<Utc>,
    open: &BTreeSet<i64>,
    run_orders: &BTreeSet<i64>,
    all: bool,
) -> Result<Listed, GslError> {
    let r = reader.clone();
    let created = |w: &WorkOrder| w.create_time.as_deref().and_then(super::parse_time);
    let mut listed = Listed::default();
    let mut others = BTreeSet::new();
    let mut seen_open = BTreeSet::new();
    let mut first_page = true;
    reader
        .walk(
            Api::WorkOrders,
            move |offset| {
                let r = r.clone();
                async move {
                    let page = Page::new(PAGE, offset).filter("work_order_type", order_type);
                    let p = r.client.work_orders(&page).await?;
                    Ok((p.work_orders, p.count))
                }
            },
            |page, count| {
                let mut any_recent = false;
                for w in page {
                    // An order without a readable creation time proves nothing about this run.
                    if w.work_order_type.is_some_and(|t| t != order_type)
                        || created(&w).is_none_or(|t| t < since)
                    {
                        continue;
                    }
                    any_recent = true;
                    if open.contains(&w.id) {
                        seen_open.insert(w.id);
                        if let Some(status) = settled_by_counts(&w) {
                            listed.settled.insert(w.id, (status, w.fail_reason.clone()));
                        }
                    } else if !run_orders.contains(&w.id) {
                        others.insert(w.id);
                    }
                }
                let page_one = std::mem::replace(&mut first_page, false);
                let unseen = (open.len() - seen_open.len()) as u64;
                let pages_left = (count.max(0) as u64)
                    .div_ceil(u64::from(PAGE))
                    .saturating_sub(1);
                let enough = !all && (unseen == 0 || (page_one && unseen < pages_left));
                any_recent && !enough
            },
        )
        .await?;
    listed.others = others.into_iter().collect();
    Ok(listed)
}

/// Follow the work orders (of `order_type`, the operation's) of a run's rows.
pub async fn follow(
    journal: &mut Journal,
    reader: &Arc<Reader>,
    order_type: i64,
    since: DateTime<Utc>,
    clocks: Clocks,
    settle_after: std::time::Duration,
) -> Result<FollowStats, FollowError> {
    let mut stats = FollowStats::default();
    let mut run_orders = BTreeSet::new();
    let rows = rows_of_interest(journal, |r| {
        if let Some(id) = r.work_order_id {
            run_orders.insert(id);
        }
        let open = r.status == RowState::Is(Status::Ok)
            && r.work_order_id.is_some()
            && !matches!(r.follow_status.as_deref(), Some("success" | "failed"));
        open || r.status == RowState::Is(Status::Unknown)
    })?;
    let (unknown_rows, open): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.unknown);

    // 1. The run's work orders still open. The list (500 orders a call) settles those wholly
    //    done or wholly in progress; only the rest have their details read, one call each.
    let open_ids: BTreeSet<i64> = open.iter().filter_map(|r| r.work_order_id).collect();
    let listed = if open_ids.is_empty() && unknown_rows.is_empty() {
        Some(Listed::default())
    } else {
        match list_since(
            reader,
            order_type,
            since,
            &open_ids,
            &run_orders,
            !unknown_rows.is_empty(),
        )
        .await
        {
            Ok(l) => Some(l),
            Err(e) if is_fatal(&e) => return Err(FollowError::Api(e)),
            Err(e) => {
                tracing::warn!(error = %e, "work order list refused: reading each order's details; unknown rows stay unknown");
                stats.refused += 1;
                None
            }
        }
    };
    let settled = listed.as_ref().map(|l| &l.settled);
    let mut updates = Vec::new();
    let mut to_read: BTreeMap<i64, Vec<&FollowRow>> = BTreeMap::new();
    for r in &open {
        let Some(id) = r.work_order_id else { continue };
        match settled.and_then(|s| s.get(&id)) {
            Some((status, reason)) => {
                stats.followed += 1;
                if *status == "processing" {
                    stats.open += 1;
                }
                // Empty rather than absent: an earlier follow's "processing" must not stay.
                updates.push(FollowUpdate {
                    row: r.row,
                    status: Some(status.to_string()),
                    detail: Some(reason.clone().unwrap_or_default()),
                    ..FollowUpdate::default()
                });
            }
            None => to_read.entry(id).or_default().push(r),
        }
    }
    journal.set_follow(&updates)?;
    // What each chunk of detail reads found is in the journal before the next chunk starts:
    // an interrupted follow keeps it.
    let ids: Vec<i64> = to_read.keys().copied().collect();
    for chunk in ids.chunks(DETAILS_PER_WRITE) {
        let mut updates = Vec::new();
        for (id, got) in reader.each(chunk.to_vec(), details).await {
            let ds = match got {
                Ok(ds) => ds,
                Err(e) if is_fatal(&e) => return Err(FollowError::Api(e)),
                Err(e) => {
                    stats.refused += 1;
                    tracing::warn!(work_order_id = id, error = %e, "work order details refused");
                    Vec::new()
                }
            };
            for r in to_read.get(&id).into_iter().flatten() {
                let key = r.key.as_str();
                let detail = ds
                    .iter()
                    .find(|d| detail_keys(d).any(|k| k == key))
                    .or(if ds.len() == 1 { ds.first() } else { None });
                match detail.and_then(|d| Some((detail_status(d.status)?, d))) {
                    Some((status, d)) => {
                        stats.followed += 1;
                        if status == "processing" {
                            stats.open += 1;
                        }
                        updates.push(FollowUpdate {
                            row: r.row,
                            status: Some(status.to_string()),
                            detail: d.description.clone(),
                            ..FollowUpdate::default()
                        });
                    }
                    None => stats.open += 1,
                }
            }
        }
        journal.set_follow(&updates)?;
    }

    // 2. Unknown rows: only a work order created since the run began that names the card.
    if unknown_rows.is_empty() {
        return Ok(stats);
    }
    // Orders the run already holds belong to its `ok` rows: no need to read them again.
    let list_read = listed.is_some();
    let candidates = listed.map(|l| l.others).unwrap_or_default();
    let wanted: HashMap<String, usize> = unknown_rows
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.key.is_empty())
        .map(|(i, r)| (r.key.clone(), i))
        .collect();
    let mut evidence: HashMap<usize, (i64, WorkOrderDetail)> = HashMap::new();
    // Absence proves something only when every candidate order's details were read.
    let mut every_detail_read = true;
    for (id, r) in reader.each(candidates, details).await {
        match r {
            Ok(ds) => {
                for d in ds {
                    let row = detail_keys(&d).find_map(|k| wanted.get(&k).copied());
                    if let Some(i) = row {
                        evidence.entry(i).or_insert((id, d));
                    }
                }
            }
            Err(e) if is_fatal(&e) => return Err(FollowError::Api(e)),
            Err(e) => {
                stats.refused += 1;
                every_detail_read = false;
                tracing::warn!(work_order_id = id, error = %e, "work order details refused");
            }
        }
    }
    let since_text = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // The reads just made measured the API's clock too.
    let clocks = clocks.refreshed(&reader.client);
    let no_proof = clocks.why_no_proof_of_absence();
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
            None if list_read
                && every_detail_read
                && no_proof.is_none()
                && r.settled_long_ago(settle_after, &clocks) =>
            {
                let note = format!(
                    "follow: proven never to have happened: no work order of type {order_type} \
                     created since {since_text} holds this card, and the request is older than \
                     any gateway holds one; `gslbatch resume` sends it"
                );
                if journal.unknown_to_pending(r.row, &note)? {
                    stats.pended.push(r.row);
                }
            }
            None => {
                stats.still_unknown += 1;
                let note = if let (true, Some(why)) = (list_read && every_detail_read, &no_proof) {
                    why.clone()
                } else if list_read && every_detail_read {
                    format!(
                        "follow: no work order found for this card since {since_text} (yet: \
                         it is proven absent once the request is older than --settle-after)"
                    )
                } else if list_read {
                    "follow: some work orders' details could not be read; run follow again"
                        .to_string()
                } else {
                    "follow: the work order list could not be read; run follow again".to_string()
                };
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
