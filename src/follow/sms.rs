//! Follow-up of send-sms runs: each cid's delivery in the run's window → `sms_status`,
//! `sent_time`, `received_time`; `unknown` rows settled by an SMS to that cid with the run's
//! content in the window.
//!
//! The details list can be read per cid or for the whole window: one probe of the window's
//! size picks whichever takes fewer calls (a quiet account's window is a few pages for
//! thousands of cids; a busy account's is better asked cid by cid).

use super::orders::FollowError;
use super::{
    is_fatal, rows_of_interest, with_note, Api, Clocks, FollowRow, FollowStats, Reader, PAGE,
};
use crate::gsl::types::{Page, SmsDetail};
use crate::gsl::GslError;
use crate::journal::{FollowUpdate, Journal, RowState};
use crate::model::Status;
use crate::ops::sms::SmsParams;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;

/// `sms_status` for a detail's status (1 sending, 2 delivered, 3 failed).
pub fn sms_status(status: Option<i64>) -> Option<&'static str> {
    match status {
        Some(1) => Some("sending"),
        Some(2) => Some("delivered"),
        Some(3) => Some("failed"),
        _ => None,
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The window's details, filtered by `cid` when given (every page).
async fn window(
    reader: Arc<Reader>,
    cid: Option<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<SmsDetail>, GslError> {
    let r = reader.clone();
    reader
        .all_pages(
            Api::SmsDetails,
            move |offset| {
                let (r, cid) = (r.clone(), cid.clone());
                async move {
                    let mut page = Page::new(PAGE, offset)
                        .filter("start_time", rfc3339(start))
                        .filter("end_time", rfc3339(end));
                    if let Some(c) = cid {
                        page = page.filter("cid", c);
                    }
                    let p = r.client.sms_details(&page).await?;
                    Ok((p.sms_details, p.count))
                }
            },
            |_| true,
        )
        .await
}

/// The latest message among `ds` (by sent time).
fn latest<'a>(ds: impl Iterator<Item = &'a SmsDetail>) -> Option<&'a SmsDetail> {
    ds.max_by_key(|d| d.sent_time.as_deref().and_then(super::parse_time))
}

/// A whole-order row's status over every matching message: sending while any is, else
/// delivered when any was, else failed.
fn aggregate(ds: &[&SmsDetail]) -> Option<FollowUpdate> {
    if ds.is_empty() {
        return None;
    }
    let n = |s| ds.iter().filter(|d| d.sms_status == Some(s)).count();
    let (sending, delivered, failed) = (n(1), n(2), n(3));
    let status = if sending > 0 {
        "sending"
    } else if delivered > 0 {
        "delivered"
    } else {
        "failed"
    };
    Some(FollowUpdate {
        row: 0,
        status: Some(status.into()),
        detail: Some(format!(
            "{} messages: {delivered} delivered, {failed} failed, {sending} sending",
            ds.len()
        )),
        time1: ds.iter().filter_map(|d| d.sent_time.clone()).min(),
        time2: ds.iter().filter_map(|d| d.received_time.clone()).max(),
    })
}

pub async fn follow(
    journal: &mut Journal,
    reader: &Arc<Reader>,
    params: &SmsParams,
    since: DateTime<Utc>,
    clocks: Clocks,
    settle_after: std::time::Duration,
) -> Result<FollowStats, FollowError> {
    let mut stats = FollowStats::default();
    let rows: Vec<FollowRow> = rows_of_interest(journal, |r| {
        (r.status == RowState::Is(Status::Ok)
            && !matches!(r.follow_status.as_deref(), Some("delivered" | "failed")))
            || r.status == RowState::Is(Status::Unknown)
    })?;
    if rows.is_empty() {
        return Ok(stats);
    }
    // The window ends in the API's time, with the margin: its clock may also have moved.
    let until = clocks.now_latest() + super::CLOCK_SKEW;
    let key = |r: &FollowRow| r.key.clone();
    let whole_order = rows.iter().any(|r| key(r).is_empty());
    let cids: Vec<String> = {
        let mut c: Vec<String> = rows.iter().map(key).filter(|k| !k.is_empty()).collect();
        c.sort();
        c.dedup();
        c
    };
    // How big is the window? One small probe decides between one list and a call per cid.
    let probe = {
        let r = reader.clone();
        reader
            .read(Api::SmsDetails, || {
                let page = Page::new(10, 1)
                    .filter("start_time", rfc3339(since))
                    .filter("end_time", rfc3339(until));
                let r = r.clone();
                async move { r.client.sms_details(&page).await }
            })
            .await
    };
    let window_count = match probe {
        Ok(p) => p.count.max(0) as usize,
        Err(e) if is_fatal(&e) => return Err(FollowError::Api(e)),
        Err(e) => {
            tracing::warn!(error = %e, "SMS details refused: nothing followed");
            stats.refused += 1;
            stats.still_unknown = rows.iter().filter(|r| r.unknown).count() as u64;
            stats.open = rows.len() as u64 - stats.still_unknown;
            return Ok(stats);
        }
    };
    let mut by_cid: HashMap<String, Vec<SmsDetail>> = HashMap::new();
    let mut all: Vec<SmsDetail> = Vec::new();
    let mut refused_cids = std::collections::HashSet::new();
    if whole_order || window_count.div_ceil(PAGE as usize) <= cids.len() {
        match window(reader.clone(), None, since, until).await {
            Ok(ds) => all = ds,
            Err(e) if is_fatal(&e) => return Err(FollowError::Api(e)),
            Err(e) => {
                tracing::warn!(error = %e, "SMS details refused");
                stats.refused += 1;
                refused_cids.extend(cids.iter().cloned());
            }
        }
    } else {
        let results = reader
            .each(cids.clone(), move |reader, cid| {
                window(reader, Some(cid), since, until)
            })
            .await;
        for (cid, r) in results {
            match r {
                Ok(ds) => all.extend(ds),
                Err(e) if is_fatal(&e) => return Err(FollowError::Api(e)),
                Err(e) => {
                    tracing::warn!(cid, error = %e, "SMS details refused");
                    stats.refused += 1;
                    refused_cids.insert(cid);
                }
            }
        }
    }
    // Only this run's message is evidence: same content, in the window.
    all.retain(|d| d.sms_content.as_deref() == Some(params.content.as_str()));
    for d in &all {
        if let Some(c) = d.cid.as_deref() {
            by_cid
                .entry(c.trim().to_uppercase())
                .or_default()
                .push(d.clone());
        }
    }
    let since_text = rfc3339(since);
    let clocks = clocks.refreshed(&reader.client);
    let no_proof = clocks.why_no_proof_of_absence();
    let mut updates = Vec::new();
    for r in &rows {
        let k = key(r);
        let update = if k.is_empty() {
            aggregate(&all.iter().collect::<Vec<_>>())
        } else {
            by_cid
                .get(&k)
                .and_then(|ds| latest(ds.iter()))
                .map(|d| FollowUpdate {
                    row: 0,
                    status: sms_status(d.sms_status).map(str::to_string),
                    detail: None,
                    time1: d.sent_time.clone(),
                    time2: d.received_time.clone(),
                })
        };
        let Some(mut u) = update else {
            let proven_absent = !k.is_empty()
                && !refused_cids.contains(&k)
                && no_proof.is_none()
                && r.settled_long_ago(settle_after, &clocks);
            if r.unknown && proven_absent {
                let note = format!(
                    "follow: proven never to have happened: no SMS with this run's content to \
                     this cid since {since_text}, and the request is older than any gateway \
                     holds one; `gslbatch resume` sends it"
                );
                if journal.unknown_to_pending(r.row, &note)? {
                    stats.pended.push(r.row);
                }
            } else if r.unknown {
                stats.still_unknown += 1;
                let why = if refused_cids.contains(&k) {
                    "follow: the SMS details could not be read".to_string()
                } else if let Some(why) = no_proof.as_ref().filter(|_| !k.is_empty()) {
                    why.clone()
                } else {
                    format!("follow: no SMS with this run's content found for this cid since {since_text}")
                };
                journal.set_error_msg(r.row, &with_note(r.error_msg.as_deref(), &why))?;
            } else {
                stats.open += 1;
            }
            continue;
        };
        if r.unknown {
            let note = with_note(
                r.error_msg.as_deref(),
                "follow: outcome proven by an SMS with this run's content to this cid",
            );
            if journal.settle_unknown(r.row, None, &note)? {
                stats.settled += 1;
            }
        }
        stats.followed += 1;
        if !matches!(u.status.as_deref(), Some("delivered" | "failed")) {
            stats.open += 1;
        }
        u.row = r.row;
        updates.push(u);
    }
    journal.set_follow(&updates)?;
    Ok(stats)
}
