//! `status RUN_DIR`: where a run stands, readable while it is live (`--json` for scripts).

use crate::cli::StatusArgs;
use crate::exit::{Failure, OK};
use crate::journal::{Journal, INFLIGHT};
use crate::model::Status;
use crate::report::layout::shown_status;
use crate::run::settings::human_duration;
use crate::rundir;
use serde_json::json;
use std::collections::BTreeMap;

pub fn run(args: StatusArgs) -> Result<i32, Failure> {
    let journal = Journal::open_read(&args.run_dir).map_err(|e| Failure::usage(e.to_string()))?;
    let e = |e: crate::journal::JournalError| Failure::usage(e.to_string());
    let meta = journal.meta().map_err(e)?;
    let raw = journal.counts().map_err(e)?;
    let sessions = journal.sessions().map_err(e)?;
    let holder = rundir::holder(&args.run_dir);
    // The report's statuses, every one (0 included). Rows in flight are `pending` while a
    // process drives the run (and counted apart); once none does, they are what the report
    // shows: `unknown`, or `pending` for an operation that is safe to repeat.
    let idempotent = crate::ops::is_idempotent(&meta.operation);
    let in_flight = raw.get(INFLIGHT).copied().unwrap_or(0);
    let mut counts: BTreeMap<&str, u64> = Status::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for (status, n) in &raw {
        let shown = match (status.as_str(), holder.is_some()) {
            (INFLIGHT, true) => Some(Status::Pending),
            (s, _) => shown_status(s, idempotent),
        };
        if let Some(s) = shown {
            *counts.entry(s.as_str()).or_default() += n;
        }
    }
    // The same figure as the summary's, live: the rate the pacer holds.
    let rate = crate::report::summary::achieved_rate(sessions.iter().map(|(_, _, t, _)| t));
    let left = counts.get("pending").copied().unwrap_or(0);
    // A finished run has no ETA (nothing left), not "0s"; nor has one no process drives.
    let eta = rate
        .filter(|r| *r > 0.0 && left > 0 && holder.is_some())
        .map(|r| left as f64 / r);
    let last = journal.last_update().map_err(e)?;
    let outcomes = crate::report::Outcomes::of(&journal, &meta.operation)
        .map_err(|e| Failure::usage(e.to_string()))?;
    // Why it stopped and what carries on: the last summary's words (none while it runs).
    let said = |key: &str| {
        holder
            .is_none()
            .then(|| crate::report::Summary::saved(&args.run_dir, key))
            .flatten()
    };
    let (stop_reason, next_command) = (said("stop_reason"), said("next_command"));
    let top_errors: Vec<serde_json::Value> = journal
        .top_errors(5)
        .map_err(e)?
        .into_iter()
        .map(|(code, n)| {
            let words = crate::report::explain::explain(&code, &meta.operation);
            json!({"code": code, "count": n, "explanation": words})
        })
        .collect();
    if args.json {
        let v = json!({
            "gslbatch_version": env!("CARGO_PKG_VERSION"),
            "run_dir": args.run_dir.display().to_string(),
            "operation": meta.operation,
            "rehearsal": meta.rehearsal,
            "counts": counts,
            "outcomes": outcomes,
            "rows": counts.values().sum::<u64>(),
            "in_flight": if holder.is_some() { in_flight } else { 0 },
            "rate": rate,
            "eta_secs": eta,
            "started_at": meta.created_at,
            "last_update": last,
            "live": holder.is_some(),
            "holder_pid": holder,
            "settings": crate::run::settings::effective(&meta.settings),
            "stop_reason": stop_reason,
            "top_errors": top_errors,
            "next_command": next_command,
        });
        crate::out!("{}", serde_json::to_string_pretty(&v).expect("json"));
    } else {
        crate::out!(
            "run:        {} ({}{})",
            args.run_dir.display(),
            meta.operation,
            if meta.rehearsal { ", REHEARSAL" } else { "" }
        );
        let mut line: Vec<String> = counts
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        if holder.is_some() && in_flight > 0 {
            line.push(format!("{in_flight} of the pending in flight"));
        }
        crate::out!(
            "rows:       {} ({})",
            counts.values().sum::<u64>(),
            line.join(", ")
        );
        crate::out!("outcomes:   {}", outcomes.to_text());
        crate::out!(
            "rate:       {}",
            rate.map_or("-".into(), |r| format!("{r:.2} calls/s"))
        );
        crate::out!("eta:        {}", eta.map_or("-".into(), human_duration));
        let set = crate::run::settings::effective(&meta.settings);
        crate::out!(
            "settings:   rate {}, concurrency {}, max attempts {}, timeout {}s, max failure rate {} once {} rows finished",
            set["rate"].as_f64().map_or_else(|| "auto".to_string(), |r| format!("{r}/s")), set["concurrency"].as_str().map_or_else(|| set["concurrency"].to_string(), str::to_string), set["max_attempts"], set["timeout_secs"],
            set["max_failure_rate"], set["failure_min_rows"]
        );
        if let Some(q) = meta.settings.quota {
            crate::out!("quota:      {q} calls/s, as the gateway named it in a 429; resume carries on at it");
        }
        crate::out!("started:    {}", meta.created_at);
        crate::out!("updated:    {}", last.unwrap_or_else(|| "-".into()));
        for t in &top_errors {
            crate::out!(
                "error:      {} x{}{}",
                t["code"].as_str().unwrap_or_default(),
                t["count"],
                t["explanation"]
                    .as_str()
                    .map(|w| format!(" — {w}"))
                    .unwrap_or_default()
            );
        }
        if let Some(r) = &stop_reason {
            crate::out!("stopped:    {r}");
        }
        if let Some(c) = &next_command {
            crate::out!("next:       {c}");
        }
        crate::out!(
            "process:    {}",
            holder.map_or("none (not running)".into(), |p| format!(
                "pid {p} is driving it"
            ))
        );
    }
    Ok(OK)
}
