//! Setting the tags of many cards, 500 per call: one more operation of the engine.
//!
//! `POST /v1/sim-tags/batch-set` makes each card's tags exactly the given list, so repeating it is
//! harmless (idempotent: every retryable failure is retried, nothing ends `unknown`). Still it
//! changes many cards at once, so it is confirmed like a destructive run. `GSL.00022004` (no
//! access to a tag) would refuse every later batch too, so it stops the run at once.

use super::operation::{Done, OpFuture, Operation};
use crate::gsl::types::{Page, SetTags};
use crate::gsl::{Client, GslError};

/// The tag API's "the user may not use that tag": no later call will do better.
pub const NO_TAG_ACCESS: &str = "GSL.00022004";

/// The most tags a card can carry in one call.
pub const MAX_TAGS: usize = 10;

pub struct SetTagsOp {
    /// The tags every card gets, as `(id, name)`; empty clears them.
    pub tags: Vec<(i64, String)>,
}

impl Operation for SetTagsOp {
    fn name(&self) -> &'static str {
        "set-tags"
    }
    fn idempotent(&self) -> bool {
        true
    }
    fn destructive(&self) -> bool {
        true
    }
    fn endpoint(&self) -> &'static str {
        "POST /v1/sim-tags/batch-set"
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
    fn perform<'a>(&'a self, client: &'a Client, keys: &'a [String]) -> OpFuture<'a> {
        Box::pin(async move {
            client
                .set_tags(&SetTags {
                    iccids: Some(keys.to_vec()),
                    sim_card_ids: None,
                    tag_ids: self.tags.iter().map(|(id, _)| *id).collect(),
                })
                .await?;
            Ok(Done::default())
        })
    }
}

impl SetTagsOp {
    /// The tag names for messages: `"a", "b"`, or `none`.
    pub fn tag_names(&self) -> String {
        if self.tags.is_empty() {
            return "none (clearing every tag)".into();
        }
        self.tags
            .iter()
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
    pace: &super::pacer::Pacer,
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
    let mut page = 1u32;
    loop {
        let p = list_page(client, page, pace).await?;
        let got = p.tags.len();
        all.extend(p.tags);
        if got == 0 || all.len() as i64 >= p.count || page >= 1000 {
            break;
        }
        page += 1;
    }
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

/// One page of tags, retried like any idempotent read (429s slow the pacer and do not count).
async fn list_page(
    client: &Client,
    page: u32,
    pace: &super::pacer::Pacer,
) -> Result<crate::gsl::types::TagsPage, TagError> {
    use super::retry::{backoff, decide, Decision};
    let mut attempt = 0;
    for _ in 0..100 {
        pace.acquire().await;
        let err = match client.tags(&Page::new(500, page)).await {
            Ok(p) => return Ok(p),
            Err(e) => e,
        };
        match decide(&err, true, attempt + 1, 5) {
            Decision::Throttled(after) => pace.throttled(after),
            Decision::Retry(_) => {
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
            }
            _ => return Err(TagError::List(err)),
        }
    }
    Err(TagError::List(GslError::Malformed {
        http_status: 429,
        detail: "throttled 100 times in a row".into(),
    }))
}
