//! `set-tags`: setting the tags of many cards, 500 per call.
//!
//! `POST /v1/sim-tags/batch-set` makes each card's tags exactly the given list, so repeating it is
//! harmless (idempotent: every retryable failure is retried, nothing ends `unknown`). Still it
//! changes many cards at once, so it is confirmed like a destructive run. `GSL.00022004` (no
//! access to a tag) would refuse every later batch too, so it stops the run at once.

use super::{
    Done, Effect, Follow, Input, Invocation, JobParts, OpFuture, Operation, PrepareFuture, Spec,
    Table, Unit,
};
use crate::flags::BatchArgs;
use crate::flow::pacer::Pacer;
use crate::flow::retry::{self, ReadStats};
use crate::gsl::types::{Page, SetTags};
use crate::gsl::{CardRef, Client, GslError};
use crate::model::count;
use clap::Args;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};

/// The tag API's "the user may not use that tag": no later call will do better.
pub const NO_TAG_ACCESS: &str = "GSL.00022004";

/// The most tags a card can carry in one call.
pub const MAX_TAGS: usize = 10;

/// Cards per call unless `--batch-size` says otherwise, and the API's most.
pub const MAX_BATCH: usize = 500;

/// The job file's table of this operation's parameters.
pub const TABLE: &str = "tags";

pub static SPEC: Spec = Spec {
    name: "set-tags",
    about: "Set the tags of each card to exactly the given list, 500 cards per call (`--tag none` clears)",
    help_order: 5,
    args: SetTagsArgs::augment_args,
    from_matches: |m| build(super::parse_args(m)),
    effect: Effect::Idempotent,
    unit: Unit::Batch,
    endpoint: "POST /v1/sim-tags/batch-set",
    default_column: "iccid",
    by_sim_card_id: true,
    input: Input::Required,
    // A row per card with the batch it went in; there is nothing to follow up.
    columns: &[
        "row",
        "iccid",
        "sim_card_id",
        "batch",
        "status",
        "http_status",
        "error_code",
        "error_msg",
        "attempts",
        "latency_ms",
        "finished_at",
    ],
    follow_columns: &[],
    follow: Follow::None,
    table: Some(Table {
        name: TABLE,
        required: Some("a [tags] table with `names`"),
        check: |t, _| Ok(t.read::<TagsTable>()?.check()?),
    }),
    from_job,
    rebuild: Some(|v| Some(Arc::new(SetTagsOp::from_params(v)?))),
    rehearsal: super::plain_rehearsal,
    explains: &[],
};

/// The `[tags]` table of a job file: what `--tag` and `--batch-size` say on the command line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsTable {
    /// Tag names or ids, at most 10; `["none"]` clears the cards' tags.
    pub names: Vec<String>,
    pub batch_size: Option<u32>,
}

impl TagsTable {
    /// The table's own rules, checked when the job file is loaded.
    pub fn check(&self) -> Result<(), String> {
        if self.names.is_empty() {
            return Err("key `tags.names`: empty (`[\"none\"]` clears the tags)".into());
        }
        if let Some(n) = self
            .batch_size
            .filter(|n| !(1..=MAX_BATCH as u32).contains(n))
        {
            return Err(format!("key `tags.batch_size`: {n} is not 1..={MAX_BATCH}"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Args)]
pub struct SetTagsArgs {
    /// A tag name or id; repeat for several (at most 10); `none` clears the cards' tags.
    #[arg(long = "tag", required = true, value_name = "NAME_OR_ID")]
    pub tags: Vec<String>,
    /// Cards per call, 1..=500 [default: 500].
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[command(flatten)]
    pub batch: BatchArgs,
}

fn from_job(p: &JobParts) -> Result<Invocation, String> {
    let tags = super::read_table::<TagsTable>(p.table)?
        .ok_or("set-tags needs a [tags] table with `names`")?;
    build(SetTagsArgs {
        tags: tags.names,
        batch_size: tags.batch_size.map(|n| n as usize),
        batch: p.batch.clone(),
    })
}

/// A set-tags run from its flags: the tags checked here, looked up once before anything is
/// confirmed ([`Operation::prepare`]).
fn build(args: SetTagsArgs) -> Result<Invocation, String> {
    let op = from_args(&args)?;
    Ok(Invocation::run(op, args.batch))
}

/// The operation `--tag` and `--batch-size` ask for, checked: nothing is sent when they are
/// wrong. The tags are looked up later ([`Operation::prepare`]).
pub fn from_args(args: &SetTagsArgs) -> Result<SetTagsOp, String> {
    let batch_size = args.batch_size.unwrap_or(MAX_BATCH);
    if !(1..=MAX_BATCH).contains(&batch_size) {
        return Err(format!(
            "--batch-size {batch_size}: must be 1..={MAX_BATCH}"
        ));
    }
    let mut wanted: Vec<String> = Vec::new();
    for t in &args.tags {
        let t = t.trim().to_string();
        if t.is_empty() {
            return Err("--tag needs a tag name or id".into());
        }
        if !wanted.contains(&t) {
            wanted.push(t);
        }
    }
    if wanted.len() > MAX_TAGS {
        return Err(format!(
            "{} tags given: a card carries at most {MAX_TAGS}",
            wanted.len()
        ));
    }
    Ok(SetTagsOp::new(wanted, batch_size))
}

pub struct SetTagsOp {
    /// `--tag` as given: names or ids, or `none`.
    pub wanted: Vec<String>,
    /// The tags every card gets, as `(id, name)`, once resolved; empty clears them.
    tags: OnceLock<Vec<(i64, String)>>,
    /// Cards per call.
    pub batch_size: usize,
}

/// What a set-tags run keeps in `RunMeta.params`.
#[derive(Debug, Serialize, Deserialize)]
struct TagParams {
    wanted: Vec<String>,
    tags: Vec<(i64, String)>,
    batch_size: usize,
}

impl Operation for SetTagsOp {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    /// The tags are part of the job: other tags on this run dir are another job.
    fn identity(&self) -> Vec<String> {
        vec![format!("tags:{}", self.wanted.join(","))]
    }
    fn batch_size(&self) -> Option<usize> {
        Some(self.batch_size)
    }
    fn describe(&self, cards: u64, batches: u64) -> String {
        match self.tags.get() {
            Some(t) if t.is_empty() => {
                format!(
                    "clear the tags of {} in {}",
                    count(cards, "card", "cards"),
                    count(batches, "batch", "batches")
                )
            }
            _ => format!(
                "set the tags of {} to exactly {} in {}",
                count(cards, "card", "cards"),
                self.tag_names(),
                count(batches, "batch", "batches")
            ),
        }
    }
    fn params(&self) -> serde_json::Value {
        serde_json::to_value(TagParams {
            wanted: self.wanted.clone(),
            tags: self.tags.get().cloned().unwrap_or_default(),
            batch_size: self.batch_size,
        })
        .expect("tag params serialise")
    }
    fn prepare<'a>(&'a self, client: &'a Client, max_attempts: u32) -> PrepareFuture<'a> {
        Box::pin(async move {
            if self.tags.get().is_some() {
                return Ok(());
            }
            let pace = Pacer::new("tags", 5.0);
            let tags = resolve(client, &self.wanted, &pace, max_attempts)
                .await
                .map_err(|e| e.to_string())?;
            let _ = self.tags.set(tags);
            Ok(())
        })
    }
    fn fatal(&self, err: &GslError) -> Option<String> {
        let f = err.fault()?;
        (f.error_code == NO_TAG_ACCESS).then(|| {
            format!(
                "the API refused the tags {}: {} {} — every later batch would be refused the same way",
                self.tag_names(),
                f.error_code,
                f.error_msg
            )
        })
    }
    /// One call for the batch: its cards by ICCID, or by `sim_card_id` (ingest makes every
    /// batch one kind).
    fn perform<'a>(
        &'a self,
        client: &'a Client,
        keys: &'a [String],
        _args: &'a [Option<String>],
    ) -> OpFuture<'a> {
        Box::pin(async move {
            let ids: Option<Vec<i64>> = keys
                .iter()
                .map(|k| match CardRef::from_key(k) {
                    CardRef::Id(id) => i64::try_from(id).ok(),
                    CardRef::Iccid(_) => None,
                })
                .collect();
            let (iccids, sim_card_ids) = match ids {
                Some(ids) if !ids.is_empty() => (None, Some(ids)),
                _ => (Some(keys.to_vec()), None),
            };
            client
                .set_tags(&SetTags {
                    iccids,
                    sim_card_ids,
                    tag_ids: self.resolved().iter().map(|(id, _)| *id).collect(),
                })
                .await?;
            Ok(Done::default())
        })
    }
}

impl SetTagsOp {
    /// A run's operation before its tags are looked up ([`Operation::prepare`] does that).
    pub fn new(wanted: Vec<String>, batch_size: usize) -> SetTagsOp {
        SetTagsOp {
            wanted,
            tags: OnceLock::new(),
            batch_size,
        }
    }

    /// The operation a journal's `params` describe, tags already resolved.
    pub fn from_params(v: &serde_json::Value) -> Option<SetTagsOp> {
        let p: TagParams = serde_json::from_value(v.clone()).ok()?;
        let op = SetTagsOp::new(p.wanted, p.batch_size);
        let _ = op.tags.set(p.tags);
        Some(op)
    }

    /// The resolved tags (empty before [`Operation::prepare`] or when clearing).
    pub fn resolved(&self) -> &[(i64, String)] {
        self.tags.get().map(Vec::as_slice).unwrap_or(&[])
    }

    /// The tag names for messages: `"a", "b"`, or `none`.
    pub fn tag_names(&self) -> String {
        let Some(tags) = self.tags.get() else {
            return self.wanted.join(", ");
        };
        if tags.is_empty() {
            return "none (clearing every tag)".into();
        }
        tags.iter()
            .map(|(_, n)| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Why tags could not be resolved: every case is bad usage (exit 2), nothing sent but the list.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    #[error("at most {MAX_TAGS} tags per card, {0} given")]
    TooMany(usize),
    #[error("no tag named {0:?} (tags: {1})")]
    Unknown(String, String),
    #[error("--tag none clears the tags: it cannot be combined with other tags")]
    NoneWithOthers,
    #[error("listing the tags failed: {0}")]
    List(GslError),
}

/// Resolve names or ids to `(id, name)` through `GET /v1/tags` (paged, read once).
/// `["none"]` means no tags at all (clear them).
pub async fn resolve(
    client: &Client,
    wanted: &[String],
    pace: &Pacer,
    max_attempts: u32,
) -> Result<Vec<(i64, String)>, TagError> {
    if wanted.iter().any(|w| w.eq_ignore_ascii_case("none")) {
        return if wanted.len() == 1 {
            Ok(vec![])
        } else {
            Err(TagError::NoneWithOthers)
        };
    }
    let mut unique: Vec<&String> = Vec::new();
    for w in wanted {
        if !unique.contains(&w) {
            unique.push(w);
        }
    }
    if unique.len() > MAX_TAGS {
        return Err(TagError::TooMany(unique.len()));
    }
    let mut all = Vec::new();
    crate::gsl::paging::walk(
        |page| list_page(client, page, pace, max_attempts),
        |tags, _| {
            all.extend(tags);
            true
        },
    )
    .await?;
    unique
        .into_iter()
        .map(|w| {
            all.iter()
                .find(|t| &t.tag_name == w)
                .or_else(|| all.iter().find(|t| t.id.to_string() == *w))
                .map(|t| (t.id, t.tag_name.clone()))
                .ok_or_else(|| {
                    let names: Vec<&str> = all.iter().map(|t| t.tag_name.as_str()).collect();
                    TagError::Unknown(w.clone(), names.join(", "))
                })
        })
        .collect()
}

/// One page of tags, retried like any idempotent read.
async fn list_page(
    client: &Client,
    page: u32,
    pace: &Pacer,
    max_attempts: u32,
) -> Result<(Vec<crate::gsl::types::Tag>, i64), TagError> {
    let (stats, one_page) = (
        ReadStats::default(),
        Page::new(crate::gsl::paging::LIMIT, page),
    );
    retry::read(pace, max_attempts, &stats, || client.tags(&one_page))
        .await
        .map(|p| (p.tags, p.count))
        .map_err(TagError::List)
}
