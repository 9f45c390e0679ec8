//! The dry-run plan: what a start would send, to which endpoint, at what rate, and what the
//! account ledger would skip — read and validated like a start, printed on stdout, nothing sent.

use super::new_run::{new_meta, one_kind_of_key, NewRun};
use crate::carrier::Carrier;
use crate::engine::EngineConfig;
use crate::exit::Failure;
use crate::input::Inputs;
use crate::journal::ingest::{ingest, IngestStats};
use crate::journal::Journal;
use crate::report::status::rounded_duration;
use std::path::{Path, PathBuf};

/// Print the plan of `run` (its inputs read into a throwaway journal when the ledger applies).
pub async fn dry_run(
    run: &NewRun,
    inputs: Option<Inputs>,
    shown_endpoint: &str,
    cfg: &EngineConfig,
) -> Result<i32, Failure> {
    let ledgered = crate::ledger::applies(run.op.as_ref());
    let mut looked = crate::ledger::Looked::default();
    let stats = match inputs {
        Some(inputs) if ledgered => {
            let (stats, l) = plan_with_ledger(run, inputs).await?;
            looked = l;
            stats
        }
        Some(inputs) => {
            let op = run.op.clone();
            tokio::task::spawn_blocking(move || ingest(inputs, None, op.as_ref()))
                .await
                .expect("ingest thread")
                .map_err(|e| Failure::usage(e.to_string()))?
        }
        None => {
            if ledgered {
                looked = whole_order_looked(run)?;
            }
            IngestStats {
                rows: 1,
                valid: 0,
                batches: 1,
                ..IngestStats::default()
            }
        }
    };
    one_kind_of_key(run, &stats)?;
    crate::out!(
        "{}",
        plan_text(run, &stats, looked.skipped, shown_endpoint, cfg).trim_end()
    );
    ledger_lines(run, &looked);
    crate::out!("nothing was sent (--dry-run)");
    Ok(crate::exit::OK)
}

/// What the account ledger would skip, act on again, or match first, each on its own line.
fn ledger_lines(run: &NewRun, looked: &crate::ledger::Looked) {
    let args = &run.args;
    let ledgered = crate::ledger::applies(run.op.as_ref());
    let skipped = looked.skipped;
    let whole = args.inputs.is_empty() && run.op.no_input_row().is_some();
    if skipped > 0 && whole {
        crate::out!(
            "  skipped:     the whole order: an earlier run already sent it this text (or may have): not sent (--again sends it)"
        );
    } else if skipped > 0 {
        crate::out!(
            "  skipped:     {skipped} cards an earlier run already did (or may have): not sent (--again sends them)"
        );
    }
    if let Some(note) = crate::ledger::again_note(looked, &new_meta(run, String::new())) {
        crate::out!("  again:       {note}");
    }
    if ledgered && args.send.again {
        crate::out!("  again:       --again: cards earlier runs did are acted on again");
    }
    if looked.unresolved > 0 {
        crate::out!(
            "  match:       {} acts of earlier runs name their cards by the other id: a start reads the card list (500 cards a call, at 1/s) to match them before confirming",
            looked.unresolved
        );
    }
}

fn plan_text(
    run: &NewRun,
    stats: &IngestStats,
    skipped: u64,
    endpoint: &str,
    cfg: &EngineConfig,
) -> String {
    let to_send = stats.valid - skipped.min(stats.valid);
    // A run without input (an SMS to a whole order) is one call for its one row.
    let whole = run.args.inputs.is_empty() && run.op.no_input_row().is_some();
    let calls = if whole {
        stats.batches.saturating_sub(skipped)
    } else if run.op.batch_size().is_some() {
        stats.batches
    } else {
        to_send
    };
    let rate = if cfg.auto_rate {
        format!(
            "auto (from {}/s, rising until a 429 names the quota)",
            cfg.rate
        )
    } else {
        format!("{}/s", cfg.rate)
    };
    let at = if cfg.auto_rate { "at most" } else { "at least" };
    let secs = calls as f64 / cfg.rate;
    let expected = match secs < 1.0 {
        true => "under a second".to_string(),
        false => format!("{} {at}", rounded_duration(secs)),
    };
    // The whole-order run's one row is the order, not a card of an input.
    let rows = match whole {
        true => "no input: the whole order in one call".to_string(),
        false => format!(
            "{} (valid {}, invalid {}, duplicate {})",
            stats.rows, stats.valid, stats.invalid, stats.duplicate
        ),
    };
    format!(
        "plan: {op}{reh}\n  endpoint:    {endpoint}\n  what:        {what}\n  rows:        {rows}\n  calls:       {calls} x {ep}\n  rate:        {rate}, concurrency {conc}\n  expected:    {expected}\n",
        op = run.op.name(),
        reh = if run.args.send.rehearse { " (REHEARSAL against the built-in simulator)" } else { "" },
        what = run.op.describe(to_send, stats.batches) + &carrier_note(run, stats),
        ep = plan_endpoint(run.op.spec().endpoint, stats.by_id > 0),
        conc = cfg.concurrency,
    )
}

/// The API a plan names; its `0` in `/v1/sim-cards/0/...` said: GSL's way to name the card by
/// its ICCID instead of its id (`iccid` is used when `sim_card_id` is 0).
fn plan_endpoint(ep: &str, by_id: bool) -> String {
    match (ep.contains("/sim-cards/0/"), by_id) {
        (true, false) => format!("{ep} (sim_card_id 0: each card named by its ICCID)"),
        (true, true) => format!("{ep} (each card's sim_card_id in place of the 0)"),
        _ => ep.to_string(),
    }
}

/// For an operation on one carrier's cards: how many of the input's cards are of another, by
/// their ICCID prefix (GSL refuses those), e.g. ` (6 of the input's cards are not China
/// Telecom by ICCID prefix: GSL refuses those)`.
pub(super) fn carrier_note(run: &NewRun, stats: &IngestStats) -> String {
    let mut refused: Vec<(Carrier, u64)> = stats
        .carriers
        .iter()
        .filter(|(c, _)| run.op.refuses_carrier(**c))
        .map(|(c, n)| (*c, *n))
        .collect();
    let other: u64 = refused.iter().map(|(_, n)| n).sum();
    if other == 0 {
        return String::new();
    }
    refused.sort_by_key(|(c, n)| (std::cmp::Reverse(*n), c.name()));
    let names: Vec<&str> = refused.iter().map(|(c, _)| c.name()).collect();
    format!(
        " ({} of the input's {} {})",
        other,
        if other == 1 { "cards is" } else { "cards are" },
        run.op.refused_carrier_words(&names.join(", "))
    )
}

/// A dry run's view of the account ledger: the input read into a throwaway journal, and how
/// many of its cards a real start would skip (or act on again, past the window).
async fn plan_with_ledger(
    run: &NewRun,
    inputs: Inputs,
) -> Result<(IngestStats, crate::ledger::Looked), Failure> {
    let tmp = std::env::temp_dir().join(format!(
        "gslbatch-plan-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    crate::rundir::create_private_dir(&tmp)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", tmp.display())))?;
    let result = async {
        let args = &run.args;
        let meta = new_meta(run, String::new());
        let mut journal =
            Journal::create(&tmp, &meta).map_err(|e| Failure::usage(e.to_string()))?;
        let op = run.op.clone();
        let (stats, mut journal) = tokio::task::spawn_blocking(move || {
            let r = ingest(inputs, Some(&mut journal), op.as_ref());
            (r, journal)
        })
        .await
        .expect("ingest thread");
        let stats = stats.map_err(|e| Failure::usage(e.to_string()))?;
        let dir = args
            .send
            .run_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("(new run)"));
        let mut sink = crate::ledger::sink(run.op.as_ref(), &meta, &dir)?
            .expect("the ledger applies to a plan with its ledger");
        let looked = crate::ledger::skip_earlier(&mut journal, &meta, &mut sink, None).await?;
        Ok((stats, looked))
    }
    .await;
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// A dry run's view of the account ledger for a send to a whole order: one act, skipped when
/// an earlier run sent the same text to the order within the window.
fn whole_order_looked(run: &NewRun) -> Result<crate::ledger::Looked, Failure> {
    let meta = new_meta(run, String::new());
    let ledger = crate::ledger::open(&meta)?;
    let key = crate::ledger::key(run.op.as_ref(), &meta, Path::new("(new run)"));
    let act = crate::ledger::CardAct {
        row: 1,
        card: String::new(),
        arg: String::new(),
    };
    let earlier = ledger
        .earlier(&key, &act)
        .map_err(|e| Failure::usage(format!("{e}: nothing was sent")))?;
    Ok(crate::ledger::Looked {
        skipped: u64::from(earlier.is_some()),
        ..Default::default()
    })
}
