//! `pool-members`: every member of one flow pool in one billing cycle, paged at `--rate`, as a
//! report (`id,cid,sim_price_plan_id,flow_used`) and a summary on stderr (members, total flow
//! used, the five cids that used the most).
//!
//! A billing cycle that is not `YYYY-MM` with a month 01–12 is refused here, before anything is
//! sent (exit 2): the API would only answer it with a bare "invalid parameter". A well-formed
//! cycle the service will not serve comes back as 403 GSL.00011004, explained in plain words.

use super::{self as listing, float_cell, int_cell, str_cell, Fetch, Pager, ReportOut};
use crate::exit::{self, Failure};
use crate::gsl::types::{Page, PoolMember};
use crate::gsl::{Client, GslError};
use crate::input::validate_iccid;
use crate::ops::pool_members::{check_billing_cycle, PoolListing, SPEC};
use crate::simulator::SimConfig;
use std::sync::Arc;
use std::time::Instant;

pub const DEFAULT_RATE: f64 = 5.0;
pub const COLUMNS: &[&str] = SPEC.columns;
/// Cards in the rehearsal simulator's generated inventory (spread over pools 3001–3003).
const REHEARSAL_CARDS: usize = 2_000;

/// The five largest by flow used, kept as the members stream past.
#[derive(Default)]
struct Top5(Vec<(f64, String)>);

impl Top5 {
    fn offer(&mut self, flow: f64, cid: &str) {
        if self.0.len() == 5 && self.0.last().is_some_and(|(f, _)| *f >= flow) {
            return;
        }
        self.0.push((flow, cid.to_string()));
        self.0.sort_by(|a, b| b.0.total_cmp(&a.0));
        self.0.truncate(5);
    }
}

fn explain(args: &PoolListing, err: &GslError, client: &Client) -> Failure {
    let what = format!(
        "pool-members of pool {} for {}",
        args.pool, args.billing_cycle
    );
    match err.fault() {
        Some(f) if f.error_code == "GSL.00011004" => Failure::failed(format!(
            "the service does not serve billing cycle {} ({} {} {}: invalid billing cycle): \
             the cycle is well-formed, so the service keeps no member data it will give for that \
             month; try a more recent one",
            args.billing_cycle, f.http_status, f.error_code, f.error_msg
        )),
        Some(f) if f.error_code == "GSL.00010004" => Failure::failed(format!(
            "{what}: the API refused the query as an invalid parameter ({} {} {}): check that \
             pool {} exists{}",
            f.http_status,
            f.error_code,
            f.error_msg,
            args.pool,
            if args.cid.is_some() {
                " and the --cid"
            } else {
                ""
            }
        )),
        _ => listing::query_failure(&what, err, client),
    }
}

impl crate::ops::Listing for PoolListing {
    fn run(self: Box<Self>) -> crate::ops::ListingFuture {
        Box::pin(run(*self))
    }
}

/// The listing, told at its end as the flags ask (`--metrics-file`, `--notify`).
pub async fn run(args: PoolListing) -> Result<i32, Failure> {
    let teller = listing::teller(&args.list)?;
    let mut end = crate::tell::ListingEnd::new(SPEC.name, args.list.rehearse);
    let result = list(args, &mut end).await;
    teller.tell(end, &result);
    result
}

async fn list(args: PoolListing, end: &mut crate::tell::ListingEnd) -> Result<i32, Failure> {
    check_billing_cycle(&args.billing_cycle).map_err(Failure::usage)?;
    let cid = match &args.cid {
        Some(c) => Some(validate_iccid(c).map_err(|e| Failure::usage(format!("--cid: {e}")))?),
        None => None,
    };
    let rate = listing::check_rate("--rate", args.rate.unwrap_or(DEFAULT_RATE))?;
    let max_attempts = listing::max_attempts(&args.list)?;
    let rehearsal = args.list.rehearse;
    let (client, _sim) = listing::client(&args.list, || SimConfig {
        cards: REHEARSAL_CARDS,
        rate: Some(rate.ceil() as u32),
        ..SimConfig::default()
    })
    .await?;

    let (pool, cycle) = (args.pool, args.billing_cycle.clone());
    let fetch: Fetch<PoolMember> = Arc::new(move |c: Client, offset| {
        let mut page =
            Page::new(listing::PAGE_LIMIT, offset).filter("billing_cycle", cycle.clone());
        if let Some(cid) = &cid {
            page = page.filter("cid", cid);
        }
        Box::pin(async move {
            c.pool_members(pool, &page)
                .await
                .map(|p| (p.count, p.pool_members))
        })
    });
    let pager = Pager::new(client.clone(), SPEC.name, rate, max_attempts);
    let dest = listing::report_dest(args.list.report.as_deref(), SPEC.name);
    let out = ReportOut::start_encoded(
        dest.clone(),
        COLUMNS.iter().map(|c| c.to_string()).collect(),
        rehearsal,
        args.list
            .report_encoding
            .unwrap_or(crate::model::ReportEncoding::Utf8),
    );
    // A signal ends the listing with what was listed so far, in a partial report.
    let stop = crate::run::signals::shutdown("no partial report was written");
    let progress = listing::Listed::start(SPEC.name);
    let counted = &progress;
    let t0 = Instant::now();
    let (mut members, mut total, mut top) = (0u64, 0f64, Top5::default());
    let listing = pager.each_page(fetch, |items| {
        counted.add(items.len());
        let rows = items
            .into_iter()
            .map(|m| {
                members += 1;
                let flow = m.flow_used.unwrap_or(0.0);
                total += flow;
                top.offer(flow, m.cid.as_deref().unwrap_or(""));
                vec![
                    int_cell(m.id),
                    str_cell(m.cid.as_deref()),
                    int_cell(m.sim_price_plan_id),
                    float_cell(m.flow_used),
                ]
            })
            .collect();
        out.rows(rows)
    });
    let listed = tokio::select! {
        listed = listing => Some(listed),
        () = stop => None,
    };
    progress.finish();
    end.add_calls(pager.stats.get());
    end.rows = members;
    end.report = Some(dest.to_string());
    let Some(listed) = listed else {
        let (n, partial) = out.commit_partial()?;
        end.report = Some(partial.to_string());
        crate::say!(
            "pool-members: interrupted after {n} members listed; the partial report is {partial} \
             — incomplete: the list was not read to its end, {dest} was left as it was. Run it \
             again for every member."
        );
        return Ok(crate::exit::INTERRUPTED);
    };
    match listed {
        Err(output) => return Err(out.commit().err().unwrap_or(output)),
        Ok(Err(e)) => {
            out.abandon();
            return Err(explain(&args, &e, &client));
        }
        Ok(Ok(())) => {}
    }
    out.commit()?;
    let (calls, throttled, retries) = pager.stats.get();
    if rehearsal {
        crate::say!("{}", crate::report::summary::REHEARSAL_LINE);
    }
    let tops: Vec<String> = top
        .0
        .iter()
        .map(|(f, c)| format!("{c} ({f:.3} MB)"))
        .collect();
    crate::say!(
        "pool-members: pool {} cycle {}: {members} members, total flow used {total:.3} MB; \
         top {} by flow used: {}; {} ({throttled} answered 429, {retries} retried) \
         in {:.1}s; report: {dest}",
        args.pool,
        args.billing_cycle,
        tops.len(),
        if tops.is_empty() {
            "-".to_string()
        } else {
            tops.join(", ")
        },
        crate::model::count(calls, "call", "calls"),
        t0.elapsed().as_secs_f64(),
    );
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_cycles() {
        assert!(check_billing_cycle("2025-01").is_ok());
        assert!(check_billing_cycle("2025-12").is_ok());
        for bad in [
            "2021-13",
            "2021-00",
            "2021-1",
            "202101",
            "21-01",
            "2021/01",
            "２021-01",
        ] {
            assert!(check_billing_cycle(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn top5_keeps_the_largest_in_order() {
        let mut t = Top5::default();
        for (i, f) in [3.0, 9.0, 1.0, 7.0, 5.0, 8.0, 2.0].iter().enumerate() {
            t.offer(*f, &i.to_string());
        }
        let flows: Vec<f64> = t.0.iter().map(|x| x.0).collect();
        assert_eq!(flows, vec![9.0, 8.0, 7.0, 5.0, 3.0]);
    }
}
