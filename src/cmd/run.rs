//! `run JOB.toml`: a job file, resolved with flags and environment ([`crate::job`]), run as
//! the command it stands for — a new run, or the resumption of its existing run dir.

use super::batch;
use crate::cli::{
    BatchArgs, InventoryArgs, ListOptions, PoolMembersArgs, RunArgs, SetTagsArgs, SmsArgs,
};
use crate::engine::operation;
use crate::exit::Failure;
use crate::job::{self, OrderId};
use crate::logging::LogSettings;

fn bad(args: &RunArgs, msg: impl std::fmt::Display) -> Failure {
    Failure::usage(format!("job file {}: {msg}", args.job.display()))
}

pub async fn run(args: RunArgs, log: LogSettings) -> Result<i32, Failure> {
    let job = job::load(&args.job)?;
    let name = job.file.operation.clone();
    let b = job.resolve(&args)?;
    if matches!(name.as_str(), "inventory" | "pool-members") && b.send.dry_run {
        // A listing only reads, but a dry run sends nothing at all.
        println!(
            "plan: {name} (job {})\n  endpoint:    {}\n  what:        page the list 500 rows a call\n\
             nothing was sent (--dry-run)",
            args.job.display(),
            b.endpoint
        );
        return Ok(crate::exit::OK);
    }
    match name.as_str() {
        "check-real-name" | "clear-real-name" => {
            let op = operation::by_name(&name).expect("per-card operation");
            batch::run(op, b, log).await
        }
        "send-sms" => {
            let sms = job.file.sms.clone().ok_or_else(|| bad(&args, "send-sms needs an [sms] table with `content`"))?;
            let content = sms.content.ok_or_else(|| bad(&args, "key `sms.content` is missing"))?;
            let template_id = sms
                .template_id
                .map(|t| t.trim().parse::<i64>().map_err(|_| bad(&args, format!("key `sms.template_id`: {t:?} is not a number"))))
                .transpose()?;
            let order_id = match sms.order_id {
                None => None,
                Some(OrderId::Number(n)) => Some(n as i64),
                Some(OrderId::Text(t)) => Some(t.trim().parse::<i64>().map_err(|_| bad(&args, format!("key `sms.order_id`: {t:?} is not a number")))?),
            };
            let a = SmsArgs {
                inputs: b.inputs,
                content,
                template_id,
                order_id,
                batch_size: sms.batch_size.map(|n| n as usize),
                endpoint: b.endpoint,
                column: b.column,
                send: b.send,
                run: b.run,
            };
            super::send_sms::run(a, log).await
        }
        "set-tags" => {
            let tags = job.file.tags.clone().expect("checked when loaded");
            let a = SetTagsArgs {
                tags: tags.names,
                batch_size: tags.batch_size.map(|n| n as usize),
                batch: b,
            };
            super::set_tags::run(a, log).await
        }
        "inventory" => {
            // The SIM card list has its own quota: `rate` is for the other APIs.
            let filters = job.file.inventory.clone();
            let a = InventoryArgs {
                real_named: filters.as_ref().and_then(|f| f.real_named),
                order_id: filters.as_ref().and_then(|f| f.order_id),
                list_rate: args.list_rate.or(job.file.list_rate),
                column: b.column.clone(),
                inputs: b.inputs.clone(),
                list: list_options(b, "inventory.csv")?,
            };
            super::inventory::run(a).await
        }
        "pool-members" => {
            let pool = job.file.pool.clone().expect("checked when loaded");
            let billing_cycle =
                job::expand(&pool.billing_cycle, chrono::Local::now(), chrono::Utc::now())
                    .map_err(|m| bad(&args, format!("key `pool.billing_cycle`: {m}")))?;
            let a = PoolMembersArgs {
                pool: pool.id,
                billing_cycle,
                cid: pool.cid,
                rate: b.run.rate,
                list: list_options(b, "pool-members.csv")?,
            };
            super::pool_members::run(a).await
        }
        other => Err(bad(
            &args,
            format!("operation {other:?} cannot run from a job file in this build (run `gslbatch {other}` directly)"),
        )),
    }
}

/// A listing's options from a resolved job. A listing has no run dir: its report goes to
/// `report`, or to `name` inside the job's `run_dir`.
fn list_options(b: BatchArgs, name: &str) -> Result<ListOptions, Failure> {
    let report = match (b.run.report, &b.send.run_dir) {
        (Some(r), _) => Some(r),
        (None, Some(dir)) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::usage(format!("cannot create {}: {e}", dir.display())))?;
            Some(dir.join(name).display().to_string())
        }
        (None, None) => None,
    };
    Ok(ListOptions {
        endpoint: b.endpoint,
        rehearse: b.send.rehearse,
        max_attempts: b.run.max_attempts,
        timeout: b.run.timeout,
        token_file: b.run.token_file,
        report,
    })
}
