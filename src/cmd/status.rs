//! `status RUN_DIR`: where a run stands, readable while it is live (`--json` for scripts).

use super::batch::human_duration;
use crate::cli::StatusArgs;
use crate::exit::{Failure, OK};
use crate::journal::{Journal, INFLIGHT};
use crate::rundir;
use serde_json::json;

pub fn run(args: StatusArgs) -> Result<i32, Failure> {
    let journal = Journal::open_read(&args.run_dir).map_err(|e| Failure::usage(e.to_string()))?;
    let e = |e: crate::journal::JournalError| Failure::usage(e.to_string());
    let meta = journal.meta().map_err(e)?;
    let counts = journal.counts().map_err(e)?;
    let sessions = journal.sessions().map_err(e)?;
    let holder = rundir::holder(&args.run_dir);
    let (mut calls, mut secs) = (0u64, 0f64);
    for (_, _, t, _) in &sessions {
        if let (Some(a), Some(b)) = (&t.first_call_at, &t.last_call_at) {
            if let (Ok(a), Ok(b)) = (
                chrono::DateTime::parse_from_rfc3339(a),
                chrono::DateTime::parse_from_rfc3339(b),
            ) {
                secs += (b - a).as_seconds_f64();
                calls += t.calls;
            }
        }
    }
    let rate = (secs > 0.0).then(|| calls as f64 / secs);
    let left =
        counts.get("pending").copied().unwrap_or(0) + counts.get(INFLIGHT).copied().unwrap_or(0);
    let eta = rate.filter(|r| *r > 0.0).map(|r| left as f64 / r);
    let last = journal.last_update().map_err(e)?;
    if args.json {
        let v = json!({
            "run_dir": args.run_dir.display().to_string(),
            "operation": meta.operation,
            "rehearsal": meta.rehearsal,
            "counts": counts,
            "rows": counts.values().sum::<u64>(),
            "rate": rate,
            "eta_secs": eta,
            "started_at": meta.created_at,
            "last_update": last,
            "live": holder.is_some(),
            "holder_pid": holder,
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    } else {
        println!(
            "run:        {} ({}{})",
            args.run_dir.display(),
            meta.operation,
            if meta.rehearsal { ", REHEARSAL" } else { "" }
        );
        let line: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "rows:       {} ({})",
            counts.values().sum::<u64>(),
            line.join(", ")
        );
        println!(
            "rate:       {}",
            rate.map_or("-".into(), |r| format!("{r:.2}/s"))
        );
        println!("eta:        {}", eta.map_or("-".into(), human_duration));
        println!("started:    {}", meta.created_at);
        println!("updated:    {}", last.unwrap_or_else(|| "-".into()));
        println!(
            "process:    {}",
            holder.map_or("none (not running)".into(), |p| format!(
                "pid {p} is driving it"
            ))
        );
    }
    Ok(OK)
}
