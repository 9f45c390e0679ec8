//! `follow RUN_DIR`: read the API's records of a finished clear-real-name or send-sms run, fill
//! in the follow-up columns, settle `unknown` rows on positive evidence, re-render the report.
//! Exit 0 when nothing is left unknown or in progress, 1 when a later `follow` has more to do.

use crate::cli::FollowArgs;
use crate::exit::{self, Failure};
use crate::follow::{self, orders::FollowError, Reader};
use crate::journal::Journal;
use crate::logging::LogSettings;
use crate::ops::{self, sms::SmsParams, Follow};
use crate::run::clients::real_client;
use crate::run::drive::finish;
use crate::run::settings::engine_config;
use crate::run::signals;
use crate::rundir::RunDir;

pub async fn run(args: FollowArgs, _log: LogSettings) -> Result<i32, Failure> {
    let cfg = engine_config(&args.run)?;
    let rundir = RunDir::lock(&args.run_dir, false)?;
    let dir = rundir.path.clone();
    let mut journal = Journal::open(&dir).map_err(|e| Failure::usage(e.to_string()))?;
    let meta = journal.meta().map_err(|e| Failure::usage(e.to_string()))?;
    let follow = ops::spec(&meta.operation).map_or(Follow::None, |s| s.follow);
    let mut order_type = 0;
    let sms = match follow {
        Follow::WorkOrders(t) => {
            order_type = t;
            None
        }
        Follow::Sms => Some(SmsParams::from_value(&meta.params).ok_or_else(|| {
            Failure::usage(format!(
                "run dir {}: the SMS settings in its journal are unreadable",
                dir.display()
            ))
        })?),
        Follow::None => {
            return Err(Failure::usage(format!(
                "run dir {} holds a {} run: follow reads work orders of clear-real-name runs and deliveries of send-sms runs",
                dir.display(),
                meta.operation
            )))
        }
    };
    if meta.rehearsal {
        return Err(Failure::usage(format!(
            "run dir {} is a rehearsal: its simulator ended with the run, there is nothing to follow",
            dir.display()
        )));
    }
    let client = real_client(&meta.endpoint, &args.run)?;
    // The lock is ours, so rows still marked in flight belong to a process that died.
    journal
        .settle_inflight(false)
        .map_err(|e| Failure::aborted(e.to_string()))?;
    let since = follow::window_start(&meta.created_at);
    let reader = Reader::new(client, cfg.rate, cfg.max_attempts, cfg.concurrency);
    let again = "run `gslbatch follow` again";
    let followed = async {
        match &sms {
            None => follow::orders::follow(&mut journal, &reader, order_type, since).await,
            Some(p) => follow::sms::follow(&mut journal, &reader, p, since).await,
        }
    };
    // A signal drops the reads in flight (they are only reads); what earlier steps wrote to the
    // journal stays, and the report is rendered from it.
    let result = tokio::select! {
        r = followed => Some(r),
        _ = signals::shutdown(again) => None,
    };
    let Some(result) = result else {
        finish(&journal, &dir, args.run.report.as_deref(), None)?;
        eprintln!(
            "follow interrupted after {} calls: the report shows what was read; {again} to finish",
            reader.stats.get().0
        );
        return Ok(exit::INTERRUPTED);
    };
    let stats = match result {
        Ok(s) => s,
        Err(FollowError::Journal(e)) => return Err(Failure::aborted(e.to_string())),
        Err(FollowError::Api(e)) => {
            let _ = finish(&journal, &dir, args.run.report.as_deref(), None);
            return Err(Failure::aborted(format!(
                "follow stopped: {}; check the credentials, then run it again",
                e.rejection(reader.client.credentials().mode())
            )));
        }
    };
    finish(&journal, &dir, args.run.report.as_deref(), None)?;
    let (calls, _, _) = reader.stats.get();
    eprintln!(
        "follow: {} rows read, {} unknown rows proven done (now ok), {} still unknown, {} still in progress or not found yet, {calls} calls{}",
        stats.followed,
        stats.settled,
        stats.still_unknown,
        stats.open,
        if stats.refused > 0 {
            format!(", {} reads refused", stats.refused)
        } else {
            String::new()
        }
    );
    if stats.done() {
        Ok(exit::OK)
    } else {
        eprintln!("run `gslbatch follow {}` again later", dir.display());
        Ok(exit::ROWS_FAILED)
    }
}
