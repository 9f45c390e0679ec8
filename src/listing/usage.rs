//! `usage`: flow total, used and left per card, from the usage query (≤ 50 cards a call, at
//! `--rate`). With INPUT the report has one row per input row, in input order, joined with the
//! input's columns; a card the query does not answer is `failed`. Without INPUT the cards come
//! from the SIM card list first (500 a call, at `--list-rate`). The printed summary gives the
//! totals and the top users.

use super::{self as listing, float_cell, int_cell, str_cell, Fetch, Lookup, Pager, ReportOut};
use crate::exit::{self, Failure};
use crate::gsl::types::{FlowUsage, Page, SimCard, UsageQuery};
use crate::gsl::{CardRef, Client};
use crate::history::compare::State;
use crate::input::{Dedupe, InputOptions, Inputs, ReadOptions};
use crate::ops::usage::UsageListing;
use crate::report::layout::Cell;
use crate::simulator::SimConfig;
use crate::tell::ListingEnd;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

/// Cards per usage query: the most the API answers.
pub const PER_CALL: usize = 50;
/// The users the summary names.
const TOP: usize = 5;
const REHEARSAL_CARDS: usize = 2_000;
pub const NOT_ANSWERED: &str = "the usage query did not answer for this card";

/// One input row (or one listed card, without INPUT).
struct Row {
    row: u64,
    raw: String,
    key: Result<String, String>,
    duplicate_of: Option<u64>,
    extras: Vec<String>,
}

fn read(
    paths: &[String],
    column: Option<String>,
    reading: &ReadOptions,
) -> Result<(Vec<Row>, Vec<String>), Failure> {
    let opts = InputOptions {
        column,
        default_column: crate::ops::usage::SPEC.default_column,
        sim_card_ids: true,
    };
    let mut inputs =
        Inputs::open_with(paths, &opts, reading).map_err(|e| Failure::usage(e.to_string()))?;
    let mut dedupe = Dedupe::new();
    let mut rows = Vec::new();
    for rec in inputs.by_ref() {
        let rec = rec.map_err(|e| Failure::usage(e.to_string()))?;
        let duplicate_of = rec.key.as_ref().ok().and_then(|k| dedupe.check(k, rec.row));
        rows.push(Row {
            row: rec.row,
            raw: rec.raw,
            key: rec.key,
            duplicate_of,
            extras: rec.extras,
        });
    }
    Ok((rows, inputs.extra_columns().to_vec()))
}

/// The distinct valid keys in order, in query groups of at most 50 of one kind (ICCIDs or
/// sim_card_ids), each group written as one lookup key: the keys joined by newlines.
fn groups(rows: &[Row]) -> Vec<String> {
    let (mut by_id, mut by_iccid) = (Vec::new(), Vec::new());
    for r in rows.iter().filter(|r| r.duplicate_of.is_none()) {
        if let Ok(k) = &r.key {
            if CardRef::is_id_key(k) {
                by_id.push(k.as_str());
            } else {
                by_iccid.push(k.as_str());
            }
        }
    }
    let mut out = Vec::new();
    for keys in [by_iccid, by_id] {
        out.extend(keys.chunks(PER_CALL).map(|c| c.join("\n")));
    }
    out
}

fn query(group: &str) -> UsageQuery {
    let keys: Vec<&str> = group.lines().collect();
    match keys.first().map(|k| CardRef::from_key(k)) {
        Some(CardRef::Id(_)) => UsageQuery {
            sim_card_ids: Some(
                keys.iter()
                    .filter_map(|k| match CardRef::from_key(k) {
                        CardRef::Id(id) => Some(id as i64),
                        CardRef::Iccid(_) => None,
                    })
                    .collect(),
            ),
            ..UsageQuery::default()
        },
        _ => UsageQuery {
            iccids: Some(keys.iter().map(|k| k.to_string()).collect()),
            ..UsageQuery::default()
        },
    }
}

fn cells(u: &FlowUsage) -> Vec<Cell> {
    vec![
        int_cell(u.sim_card_id),
        str_cell(u.iccid.as_deref()),
        str_cell(u.price_plan_id.as_deref()),
        str_cell(u.price_plan_name.as_deref()),
        float_cell(u.flow_total),
        float_cell(u.flow_used),
        float_cell(u.flow_left),
    ]
}

/// The fleet's cards from the SIM card list, as rows without input columns.
async fn fleet(pager: &Pager) -> Result<Result<Vec<Row>, crate::gsl::GslError>, Failure> {
    let fetch: Fetch<SimCard> = Arc::new(|c: Client, offset| {
        let page = Page::new(listing::PAGE_LIMIT, offset);
        Box::pin(async move { c.sim_cards(&page).await.map(|p| (p.count, p.sim_cards)) })
    });
    let mut rows = Vec::new();
    let listed = pager
        .each_page(fetch, |cards| {
            for c in cards {
                let iccid = c.iccid.or(c.cid).map(|k| k.trim().to_ascii_uppercase());
                rows.push(Row {
                    row: rows.len() as u64 + 1,
                    raw: iccid.clone().unwrap_or_default(),
                    key: Ok(iccid.unwrap_or_else(|| CardRef::id_key(c.sim_card_id.unsigned_abs()))),
                    duplicate_of: None,
                    extras: Vec::new(),
                });
            }
            Ok(())
        })
        .await?;
    Ok(listed.map(|()| rows))
}

impl crate::ops::Listing for UsageListing {
    fn run(self: Box<Self>) -> crate::ops::ListingFuture {
        Box::pin(run(*self))
    }
}

/// The listing, told at its end as the flags ask (`--metrics-file`, `--notify`).
pub async fn run(args: UsageListing) -> Result<i32, Failure> {
    let teller = listing::teller(&args.list)?;
    let mut end = ListingEnd::new(crate::ops::usage::SPEC.name, args.list.rehearse);
    let result = list(args, &mut end).await;
    teller.tell(end, &result);
    result
}

async fn list(args: UsageListing, end: &mut ListingEnd) -> Result<i32, Failure> {
    let rate = listing::check_rate("--rate", args.rate.unwrap_or(5.0))?;
    let list_rate = listing::check_rate(
        "--list-rate",
        args.list_rate
            .unwrap_or(super::inventory::DEFAULT_LIST_RATE),
    )?;
    let max_attempts = listing::max_attempts(&args.list)?;
    crate::run::settings::timeout(&listing::run_options(&args.list))?;
    let input = if args.inputs.is_empty() {
        None
    } else {
        let (paths, column, reading) = (
            args.inputs.clone(),
            args.column.clone(),
            ReadOptions {
                encoding: args.encoding,
                sheet: args.sheet.clone(),
            },
        );
        Some(
            tokio::task::spawn_blocking(move || read(&paths, column, &reading))
                .await
                .expect("input thread")?,
        )
    };
    let asked = listing::report_dest(args.list.report.as_deref(), crate::ops::usage::SPEC.name);
    let mut hist = crate::history::Recorder::open(
        &args.history,
        crate::history::Setup {
            operation: crate::ops::usage::SPEC.name,
            endpoint: &args.list.endpoint,
            rehearsal: args.list.rehearse,
            identity: args.inputs.clone(),
            dest: &asked,
            marks: Some(&args.marks),
        },
    )?;
    let (client, _sim) = listing::client(&args.list, || match &input {
        Some((rows, _)) => {
            let keys: Vec<String> = rows.iter().filter_map(|r| r.key.clone().ok()).collect();
            SimConfig::from_iccids(&keys)
        }
        None => SimConfig {
            cards: REHEARSAL_CARDS,
            ..SimConfig::default()
        },
    })
    .await?;
    // A signal ends the query with what was answered so far, in a partial report.
    let stop = crate::run::signals::shutdown("no partial report was written");
    let t0 = Instant::now();
    let list_pager = Pager::new(client.clone(), "sim-cards", list_rate, max_attempts);
    let (rows, extra_columns) = match input {
        Some(i) => i,
        None => match fleet(&list_pager).await? {
            Ok(rows) => (rows, Vec::new()),
            Err(e) => {
                end.add_calls(list_pager.stats.get());
                return Err(listing::query_failure("the SIM card list", &e, &client));
            }
        },
    };
    let pager = Pager::new(client.clone(), "flow-usage", rate, max_attempts);
    let lookup: Lookup<FlowUsage> = Arc::new(|c: Client, group: String| {
        let q = query(&group);
        Box::pin(async move { c.flow_usage(&q).await.map(|u| (u.len() as i64, u)) })
    });
    let mut found: HashMap<String, FlowUsage> = HashMap::new();
    let progress = listing::Listed::start(crate::ops::usage::SPEC.name);
    progress.set_total(
        rows.iter()
            .filter(|r| r.key.is_ok() && r.duplicate_of.is_none())
            .count() as u64,
    );
    let counted = &progress;
    let query_all = pager.each_lookup(groups(&rows), lookup, |answers| {
        counted.add(answers.len());
        for u in answers {
            if let Some(i) = &u.iccid {
                found.insert(i.trim().to_ascii_uppercase(), u.clone());
            }
            if let Some(id) = u.sim_card_id {
                found.insert(CardRef::id_key(id.unsigned_abs()), u);
            }
        }
        Ok(())
    });
    let answered = tokio::select! {
        answered = query_all => Some(answered?),
        () = stop => None,
    };
    let (got, of) = (progress.listed(), progress.total());
    progress.finish();
    end.add_calls(pager.stats.get());
    end.add_calls(list_pager.stats.get());
    let interrupted = answered.is_none();
    if let Some(Err(e)) = answered {
        return Err(listing::query_failure("the usage query", &e, &client));
    }
    let dest = match interrupted {
        true => listing::partial_dest(&asked),
        false => asked.clone(),
    };
    let joined = !args.inputs.is_empty();
    let mut columns: Vec<String> = if joined {
        vec!["row".into(), "status".into(), "error_msg".into()]
    } else {
        Vec::new()
    };
    columns.extend(
        crate::ops::usage::SPEC
            .columns
            .iter()
            .map(|c| c.to_string()),
    );
    for extra in &extra_columns {
        let clash = columns.iter().any(|c| c.eq_ignore_ascii_case(extra));
        columns.push(if clash {
            format!("input_{extra}")
        } else {
            extra.clone()
        });
    }
    let report_encoding = args
        .list
        .report_encoding
        .unwrap_or_else(|| crate::report::encoding::for_inputs(&args.inputs));
    if let Some(h) = hist.as_mut().filter(|_| !interrupted) {
        h.columns(&mut columns, "iccid", report_encoding);
    }
    let out = ReportOut::start_encoded(dest.clone(), columns, args.list.rehearse, report_encoding);
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut totals = [0.0f64; 3];
    let mut users: Vec<(f64, String)> = Vec::new();
    let mut batch = Vec::with_capacity(1024);
    for r in rows {
        let usage = r
            .key
            .as_ref()
            .ok()
            .filter(|_| r.duplicate_of.is_none())
            .and_then(|k| found.get(k));
        let (status, why) = match (&r.key, r.duplicate_of, usage) {
            (Err(why), _, _) => ("invalid", Some(why.clone())),
            (Ok(_), Some(first), _) => ("duplicate", Some(format!("the same card as row {first}"))),
            (Ok(_), None, None) if interrupted => (
                "pending",
                Some("not reached: the usage query was interrupted".to_string()),
            ),
            (Ok(_), None, None) => ("failed", Some(NOT_ANSWERED.to_string())),
            (Ok(_), None, Some(_)) => ("ok", None),
        };
        *counts.entry(status.into()).or_default() += 1;
        let mut row_cells = if joined {
            vec![
                Cell::Int(r.row as i64),
                Cell::Str(status.into()),
                why.map_or(Cell::Null, Cell::Str),
            ]
        } else {
            Vec::new()
        };
        match usage {
            Some(u) => {
                for (t, v) in totals
                    .iter_mut()
                    .zip([u.flow_total, u.flow_used, u.flow_left])
                {
                    *t += v.unwrap_or(0.0);
                }
                users.push((
                    u.flow_used.unwrap_or(0.0),
                    u.iccid.clone().unwrap_or_else(|| r.raw.clone()),
                ));
                row_cells.extend(cells(u));
            }
            None if joined => {
                let mut blank = vec![Cell::Null; crate::ops::usage::SPEC.columns.len()];
                match r.key.as_deref().map(CardRef::from_key) {
                    Ok(CardRef::Id(id)) => blank[0] = Cell::Int(id as i64),
                    _ => blank[1] = Cell::Str(r.raw.clone()),
                }
                row_cells.extend(blank);
            }
            None => continue,
        }
        let mut extras = r.extras.into_iter();
        for _ in &extra_columns {
            row_cells.push(extras.next().map_or(Cell::Null, Cell::Str));
        }
        match (hist.as_mut().filter(|_| !interrupted), usage) {
            (Some(h), Some(u)) => {
                let key = crate::history::key_of(u.iccid.as_deref(), u.sim_card_id);
                h.row(&key, State::of_usage(u), &mut row_cells)?
            }
            (Some(h), None) => h.blank(&mut row_cells),
            (None, _) => {}
        }
        batch.push(row_cells);
        if batch.len() == 1024 {
            out.rows(std::mem::take(&mut batch))?;
        }
    }
    out.rows(batch)?;
    out.commit()?;
    end.report = Some(dest.to_string());
    // Without INPUT a row is a card the query answered; with it, an input row.
    end.rows = match joined {
        true => counts.values().sum(),
        false => users.len() as u64,
    };
    if joined {
        end.counts = counts.clone();
    }
    if interrupted {
        crate::say!(
            "usage: interrupted after {got} of {of} cards answered; the partial report is {dest} \
             — incomplete: not every card was asked, {asked} was left as it was. Run usage again \
             for every card."
        );
        return Ok(crate::exit::INTERRUPTED);
    }
    users.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let top: Vec<String> = users
        .iter()
        .take(TOP)
        .map(|(mb, who)| format!("{who} {mb:.1} MB"))
        .collect();
    let (calls, throttled, retries) = pager.stats.get();
    let (list_calls, ..) = list_pager.stats.get();
    let status_text: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    if args.list.rehearse {
        crate::say!("{}", crate::report::summary::REHEARSAL_LINE);
    }
    crate::say!(
        "usage: {} cards in {}{} ({throttled} answered 429, {retries} retried) in \
         {:.1}s; flow total {:.1} MB, used {:.1} MB, left {:.1} MB; top users: {}; rows: {}. \
         report: {dest}",
        users.len(),
        crate::model::count(calls, "usage call", "usage calls"),
        if list_calls > 0 {
            format!(
                " after {} to the SIM card list",
                crate::model::count(list_calls, "call", "calls")
            )
        } else {
            String::new()
        },
        t0.elapsed().as_secs_f64(),
        totals[0],
        totals[1],
        totals[2],
        if top.is_empty() {
            "none".into()
        } else {
            top.join(", ")
        },
        if status_text.is_empty() {
            "none".into()
        } else {
            status_text.join(", ")
        },
    );
    let code = exit::from_counts(&counts);
    match hist {
        Some(h) => {
            let (code, found) = h.finish_found(code)?;
            end.changes = found.changes;
            end.marks = found.marks;
            Ok(code)
        }
        None => Ok(code),
    }
}
