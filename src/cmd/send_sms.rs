//! `send-sms`: cids into a new run's journal in fixed batches (or one whole-order row), confirm
//! with the text and the counts, drive. The same shape as `batch`, whose helpers it reuses; what
//! differs is the message settings (checked before anything else, stored in `RunMeta.params`)
//! and the unit of sending (a batch of cids, one call each).

use super::batch::{
    confirm, engine_config, fingerprint, human_duration, real_client, rehearsal_client_with,
    timeout,
};
use super::drive::{drive, Drive};
use crate::cli::{ResumeArgs, SmsArgs};
use crate::engine::ingest::{ingest, IngestStats};
use crate::engine::operation::Operation;
use crate::engine::sms::{SendSms, SmsParams, DEFAULT_BATCH, MAX_BATCH};
use crate::exit::Failure;
use crate::input::{InputOptions, Inputs};
use crate::journal::{Journal, NewRow, RunMeta};
use crate::logging::LogSettings;
use crate::model::Status;
use crate::rundir::RunDir;
use crate::simulator::{luhn_digit, SimConfig};
use std::path::PathBuf;
use std::sync::Arc;

const OP: &str = "send-sms";

/// The message settings from the flags, checked: nothing is sent when they are wrong.
fn params(args: &SmsArgs) -> Result<SmsParams, Failure> {
    SmsParams::check_content(&args.content).map_err(Failure::usage)?;
    let batch_size = args.batch_size.unwrap_or(DEFAULT_BATCH);
    if !(1..=MAX_BATCH).contains(&batch_size) {
        return Err(Failure::usage(format!(
            "--batch-size {batch_size}: must be 1..={MAX_BATCH}"
        )));
    }
    if args.inputs.is_empty() && args.order_id.is_none() {
        return Err(Failure::usage(
            "send-sms needs INPUT files of cids, or --order-id to message a whole order",
        ));
    }
    Ok(SmsParams {
        content: args.content.clone(),
        template_id: args.template_id,
        order_id: args.order_id,
        batch_size: (!args.inputs.is_empty()).then_some(batch_size),
    })
}

/// The rehearsal simulator's inventory for a run: the run's cids as SMS-capable cards (China
/// Mobile / Telecom with an SMS plan; other carriers stay refused, as GSL refuses them), all in
/// the run's order when it names one. A whole-order run without cids gets a few made-up cards.
pub fn rehearsal_config(meta: &RunMeta, keys: &[String]) -> SimConfig {
    if meta.operation != OP {
        return SimConfig::from_iccids(keys);
    }
    let order = SmsParams::from_value(&meta.params).and_then(|p| p.order_id);
    let mut keys = keys.to_vec();
    if keys.is_empty() {
        keys = (0..100)
            .map(|i| {
                let body = format!("898600{i:013}");
                format!("{body}{}", luhn_digit(&body))
            })
            .collect();
    }
    let mut cfg = SimConfig::from_iccids(&keys);
    for card in cfg.inventory.iter_mut().flatten() {
        card.sms_plan = card.carrier.sends_sms();
        if let Some(o) = order.and_then(|o| u64::try_from(o).ok()) {
            card.order_id = o;
        }
    }
    cfg
}

fn default_run_dir() -> PathBuf {
    PathBuf::from("runs").join(format!(
        "{OP}-{}",
        chrono::Local::now().format("%Y%m%d-%H%M%S")
    ))
}

/// The job's identity: the message is part of it, so another text on this run dir is another job.
fn job_fingerprint(args: &SmsArgs, p: &SmsParams, endpoint: &str) -> String {
    let mut ids = args.inputs.clone();
    ids.push(format!("sms:{}", p.to_value()));
    fingerprint(OP, &ids, endpoint)
}

fn plan_text(p: &SmsParams, stats: &IngestStats, endpoint: &str, rate: f64) -> String {
    let calls = stats.batches;
    format!(
        "plan: {OP}\n  endpoint:    {endpoint}\n  content:     {content:?} ({chars} characters)\n  order:       {order}\n  rows:        {rows} (valid {valid}, invalid {invalid}, duplicate {dup})\n  calls:       {calls} x POST /v1/sms-send-infos ({size} cids each at most)\n  expected:    {dur} at least\n",
        content = p.content,
        chars = p.content.chars().count(),
        order = p.order_id.map_or("-".to_string(), |o| o.to_string()),
        rows = stats.rows,
        valid = stats.valid,
        invalid = stats.invalid,
        dup = stats.duplicate,
        size = p.batch_size.unwrap_or(0),
        dur = human_duration(calls as f64 / rate),
    )
}

pub async fn run(args: SmsArgs, log: LogSettings) -> Result<i32, Failure> {
    let p = params(&args)?;
    let cfg = engine_config(&args.run)?;
    timeout(&args.run)?;
    let real = if args.rehearse {
        None
    } else {
        Some(real_client(&args.endpoint, &args.run)?)
    };
    let shown_endpoint = if args.rehearse {
        "the built-in simulator (REHEARSAL)"
    } else {
        args.endpoint.as_str()
    };
    let inputs = if args.inputs.is_empty() {
        None
    } else {
        let opts = InputOptions {
            column: args.column.clone(),
            default_column: "cid",
        };
        Some(Inputs::open(&args.inputs, &opts).map_err(|e| Failure::usage(e.to_string()))?)
    };

    if args.dry_run {
        match inputs {
            Some(inputs) => {
                let size = p.batch_size;
                let stats = tokio::task::spawn_blocking(move || ingest(inputs, None, size))
                    .await
                    .expect("ingest thread")
                    .map_err(|e| Failure::usage(e.to_string()))?;
                print!("{}", plan_text(&p, &stats, shown_endpoint, cfg.rate));
            }
            None => println!(
                "plan: {OP}\n  endpoint:    {shown_endpoint}\n  content:     {:?}\n  calls:       1 x POST /v1/sms-send-infos for every card of order {}",
                p.content,
                p.order_id.unwrap_or_default()
            ),
        }
        println!("nothing was sent (--dry-run)");
        return Ok(crate::exit::OK);
    }

    let endpoint = if args.rehearse {
        "rehearsal".to_string()
    } else {
        args.endpoint.clone()
    };
    let dir = args.run_dir.clone().unwrap_or_else(default_run_dir);
    if dir.join(crate::journal::FILE_NAME).exists() {
        let same = Journal::open_read(&dir)
            .and_then(|j| j.meta())
            .is_ok_and(|m| m.fingerprint == job_fingerprint(&args, &p, &endpoint));
        if same {
            let resume = ResumeArgs {
                run_dir: dir,
                retry_failed: false,
                resend_unknown: false,
                yes: false,
                run: args.run.clone(),
            };
            return super::resume::run(resume, log).await;
        }
        return Err(Failure::usage(format!(
            "run dir {} already holds a different job's run: carry on with `gslbatch resume {}` or pick another --run-dir",
            dir.display(),
            dir.display()
        )));
    }
    let created = !dir.exists();
    let rundir = RunDir::lock(&dir, true)?;
    let cleanup = |why: Failure| {
        if created {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            let _ = std::fs::remove_file(dir.join(crate::journal::FILE_NAME));
        }
        why
    };
    let mut meta = RunMeta {
        operation: OP.to_string(),
        endpoint: endpoint.clone(),
        inputs: args.inputs.clone(),
        extra_columns: vec![],
        rehearsal: args.rehearse,
        created_at: chrono::Local::now().to_rfc3339(),
        fingerprint: job_fingerprint(&args, &p, &endpoint),
        params: p.to_value(),
        total_rows: None,
    };
    let mut journal =
        Journal::create(&dir, &meta).map_err(|e| cleanup(Failure::usage(e.to_string())))?;
    let (valid, batches) = match inputs {
        Some(inputs) => {
            let size = p.batch_size;
            let (stats, j) = tokio::task::spawn_blocking(move || {
                let r = ingest(inputs, Some(&mut journal), size);
                (r, journal)
            })
            .await
            .expect("ingest thread");
            journal = j;
            let stats = stats.map_err(|e| cleanup(Failure::usage(e.to_string())))?;
            meta.extra_columns = stats.extra_columns.clone();
            meta.total_rows = Some(stats.rows);
            if stats.valid == 0 {
                return Err(cleanup(Failure::usage(format!(
                    "no valid cid to send to ({} rows: {} invalid, {} duplicate): nothing was sent",
                    stats.rows, stats.invalid, stats.duplicate
                ))));
            }
            (stats.valid, stats.batches)
        }
        None => {
            // The whole order in one call: one row without a cid.
            let order = p.order_id.unwrap_or_default();
            journal
                .insert_rows(&[NewRow {
                    row: 1,
                    location: format!("--order-id {order}"),
                    raw: String::new(),
                    key: None,
                    status: Status::Pending,
                    error_msg: None,
                    extras: vec![],
                    batch: Some(1),
                }])
                .map_err(|e| cleanup(Failure::aborted(e.to_string())))?;
            meta.total_rows = Some(1);
            (0, 1)
        }
    };
    journal
        .set_meta(&meta)
        .map_err(|e| cleanup(Failure::aborted(e.to_string())))?;

    let q = if args.inputs.is_empty() {
        format!(
            "about to send {:?} to every card of order {} in 1 batch via {shown_endpoint}",
            p.content,
            p.order_id.unwrap_or_default()
        )
    } else {
        format!(
            "about to send {:?} to {valid} cards in {batches} batches via {shown_endpoint}",
            p.content
        )
    };
    confirm(&q, args.yes).map_err(cleanup)?;

    let (client, simulator) = match real {
        Some(c) => (c, None),
        None => {
            let keys = journal
                .keys()
                .map_err(|e| Failure::aborted(e.to_string()))?;
            let (sim, c) =
                rehearsal_client_with(rehearsal_config(&meta, &keys), cfg.rate, &args.run).await?;
            (c, Some(sim))
        }
    };
    let op: Arc<dyn Operation> = Arc::new(SendSms { params: p });
    drive(Drive {
        rundir,
        journal,
        op,
        client,
        cfg,
        report: args.run.report.clone(),
        log,
        simulator,
    })
    .await
}
