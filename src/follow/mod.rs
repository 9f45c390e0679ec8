//! `follow`: what became of a finished run's requests, from the API's own records, and the
//! settling of `unknown` rows on positive evidence only.
//!
//! Every call here is an idempotent read, so it retries like any idempotent operation (through one
//! pacer per API, at `--rate`). The journal is changed only with what a read proved: a work
//! order detail or an SMS record naming the row's card. What cannot be proven stays as it was,
//! with the reason, for the next `follow` to try again.

pub mod orders;
pub mod sms;

use crate::flow::pacer::Pacer;
use crate::flow::retry::{self, ReadStats};
use crate::gsl::clock::ClockOffset;
use crate::gsl::{paging, Client, GslError};
use crate::journal::{RowState, StoredRow};
use crate::model::Status;
use std::future::Future;
use std::sync::Arc;

/// Records may carry times a little off from the local clock: the window of evidence opens
/// this long before the run started.
pub const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(10);

/// Rows per page of every list `follow` reads (the API's maximum).
pub const PAGE: u32 = paging::LIMIT;

/// The APIs follow reads, each with its own pacer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    WorkOrders,
    WorkOrderDetails,
    SmsDetails,
}

/// Paced, retried reads: the one way `follow` calls the API.
pub struct Reader {
    pub client: Client,
    max_attempts: u32,
    concurrency: usize,
    pacers: [Pacer; 3],
    pub stats: ReadStats,
}

impl Reader {
    pub fn new(client: Client, rate: f64, max_attempts: u32, concurrency: usize) -> Arc<Reader> {
        Arc::new(Reader {
            client,
            max_attempts,
            concurrency: concurrency.max(1),
            pacers: [
                Pacer::new("work-orders", rate),
                Pacer::new("work-order-details", rate),
                Pacer::new("sms-details", rate),
            ],
            stats: ReadStats::default(),
        })
    }

    /// One read, retried on what is worth retrying; 429s slow that API's pacer.
    pub async fn read<T, F, Fut>(&self, api: Api, f: F) -> Result<T, GslError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, GslError>>,
    {
        retry::read(
            &self.pacers[api as usize],
            self.max_attempts,
            &self.stats,
            f,
        )
        .await
    }

    /// Every page of a list (`limit` [`PAGE`], `offset` a page number from 1), collected.
    /// `fetch` returns one page's items and the list's total; `more` may end the walk early.
    pub async fn all_pages<T, F, Fut>(
        &self,
        api: Api,
        fetch: F,
        mut more: impl FnMut(&[T]) -> bool,
    ) -> Result<Vec<T>, GslError>
    where
        F: Fn(u32) -> Fut,
        Fut: Future<Output = Result<(Vec<T>, i64), GslError>>,
    {
        let mut out = Vec::new();
        self.walk(api, fetch, |items, _| {
            let go_on = more(&items);
            out.extend(items);
            go_on
        })
        .await?;
        Ok(out)
    }

    /// Each page of a list in turn, handed to `on_page` with the list's total, which says
    /// whether to go on. Ends at an empty or short page, at the total the API announced, or at
    /// the API's last offset.
    pub async fn walk<T, F, Fut>(
        &self,
        api: Api,
        fetch: F,
        on_page: impl FnMut(Vec<T>, i64) -> bool,
    ) -> Result<(), GslError>
    where
        F: Fn(u32) -> Fut,
        Fut: Future<Output = Result<(Vec<T>, i64), GslError>>,
    {
        let fetch = &fetch;
        paging::walk(|offset| self.read(api, move || fetch(offset)), on_page).await
    }

    /// Run `f` for each item, at most `concurrency` at a time (the pacers set the rate).
    pub async fn each<I, T, F, Fut>(
        self: &Arc<Self>,
        items: Vec<I>,
        f: F,
    ) -> Vec<(I, Result<T, GslError>)>
    where
        I: Clone + Send + 'static,
        T: Send + 'static,
        F: Fn(Arc<Reader>, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, GslError>> + Send + 'static,
    {
        let me = self.clone();
        crate::flow::fanout::collect(items, self.concurrency, move |item: I| {
            let r = f(me.clone(), item.clone());
            async move { (item, r.await) }
        })
        .await
    }
}

/// What one follow pass found, for the exit code and the closing line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FollowStats {
    /// Rows whose follow-up status was read.
    pub followed: u64,
    /// `unknown` rows proven done, now `ok`.
    pub settled: u64,
    /// `unknown` rows without evidence.
    pub still_unknown: u64,
    /// Rows still processing / sending, or whose record was not found yet.
    pub open: u64,
    /// Reads the API refused (the rows they covered count as open or unknown).
    pub refused: u64,
    /// `unknown` rows proven never to have happened, now `pending` (resume sends them).
    pub pended: Vec<u64>,
}

impl FollowStats {
    pub fn done(&self) -> bool {
        self.still_unknown == 0 && self.open == 0
    }
}

/// An error that ends `follow`: credentials refused (exit 3), everything else is per row.
pub fn is_fatal(e: &GslError) -> bool {
    matches!(e, GslError::Unauthorized { .. } | GslError::Auth(_))
}

/// The part of an `error_msg` that is not an earlier follow's note, plus `note`.
pub fn with_note(error_msg: Option<&str>, note: &str) -> String {
    let base = error_msg.unwrap_or("");
    let base = match base.find("follow: ") {
        Some(0) => "",
        Some(i) => base[..i].trim_end_matches([';', ' ']),
        None => base,
    };
    if base.is_empty() {
        note.to_string()
    } else {
        format!("{base}; {note}")
    }
}

/// Follow's view of the API's clock. The journal's times were written by the run's clock,
/// the API's records carry its own: every comparison is made in the API's time, with the
/// offsets measured from the `Date` of its answers, and always towards the safe side (a
/// window opening earlier, a request counted younger).
#[derive(Debug, Clone, Copy, Default)]
pub struct Clocks {
    /// Every offset the run's sessions recorded (their hull); `None` when they recorded none.
    pub run: Option<ClockOffset>,
    /// What follow's own reads measured so far.
    pub own: Option<ClockOffset>,
}

impl Clocks {
    /// The run's sessions' offsets from the journal, and what `client` measured so far.
    pub fn read(
        journal: &crate::journal::Journal,
        client: &Client,
    ) -> Result<Clocks, crate::journal::JournalError> {
        let run = journal
            .sessions()?
            .into_iter()
            .filter_map(|(_, _, t, _)| t.clock)
            .reduce(ClockOffset::hull);
        Ok(Clocks {
            run,
            own: client.clock_offset(),
        })
    }

    /// The same, with what `client` measured since.
    pub fn refreshed(self, client: &Client) -> Clocks {
        Clocks {
            own: client.clock_offset().or(self.own),
            ..self
        }
    }

    /// The offset of the clock that wrote the journal's times (follow's own when the run
    /// recorded none: the same machine's clock, as far as anyone knows).
    fn of_run(&self) -> Option<ClockOffset> {
        self.run.or(self.own)
    }

    /// The offset of the clock `follow` reads now (the run's when follow measured none).
    fn of_now(&self) -> Option<ClockOffset> {
        self.own.or(self.run)
    }

    /// The start of the evidence window in the API's time: the run's start less
    /// [`CLOCK_SKEW`] (and less what is unsure about the offset).
    pub fn window_start(&self, created_at: &str) -> chrono::DateTime<chrono::Utc> {
        let created = chrono::DateTime::parse_from_rfc3339(created_at)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(|_| chrono::Utc::now() - chrono::Duration::days(1));
        let lo = self.of_run().map_or(chrono::Duration::zero(), |o| o.lo());
        created + lo - CLOCK_SKEW
    }

    /// The latest the API's clock can read now.
    pub fn now_latest(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + self.of_now().map_or(chrono::Duration::zero(), |o| o.hi())
    }

    /// Whether a request whose outcome the run recorded at `t` (its clock) is older than
    /// `after` in the API's time. Offsets that overlap say the local clock kept with the
    /// API's (to within a `Date` header's second): then the local clock's age is the age.
    /// Otherwise the clock moved in between, and the request counts as young as they allow.
    pub fn older_than(&self, t: chrono::DateTime<chrono::Utc>, after: std::time::Duration) -> bool {
        let (Some(run), Some(now)) = (self.of_run(), self.of_now()) else {
            return false;
        };
        let moved = if run.lo_ms <= now.hi_ms && now.lo_ms <= run.hi_ms {
            chrono::Duration::zero()
        } else {
            now.lo() - run.hi()
        };
        let age = chrono::Utc::now() - t + moved;
        chrono::Duration::from_std(after).is_ok_and(|after| age >= after)
    }

    /// Why no absence can be proven, if so: no offset measured, or one beyond [`CLOCK_SKEW`]
    /// (a clock that far off is not kept by anyone, and may have been stepped unseen).
    pub fn why_no_proof_of_absence(&self) -> Option<String> {
        let margin = CLOCK_SKEW.num_milliseconds();
        let fix = "fix the clock (NTP), then follow again";
        let within = format!("proof of absence needs clocks within {}", human(margin));
        let Some(run) = self.of_run() else {
            return Some(format!(
                "follow: the API's answers carried no Date header, so how far its clock is \
                 from the local one is unknown: {within}"
            ));
        };
        if let Some(own) = self.own.filter(|o| o.max_abs_ms() > margin) {
            return Some(format!(
                "follow: the local clock is {}: {within}; {fix}",
                apart(own)
            ));
        }
        (run.max_abs_ms() > margin).then(|| {
            format!(
                "follow: the local clock was {} while the run sent its requests: {within}; \
                 fix the clock (NTP) before the next run (a work order naming the card still \
                 settles this row)",
                apart(run)
            )
        })
    }
}

/// `11m 2s ahead of the API's` for an offset (the API's clock less ours).
fn apart(o: ClockOffset) -> String {
    let mid = o.mid_ms();
    let way = if mid < 0 { "ahead of" } else { "behind" };
    format!("{} {way} the API's", human(mid))
}

/// Whole seconds, as `11m 2s`.
fn human(ms: i64) -> String {
    let secs = (ms.unsigned_abs() + 500) / 1000;
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}

/// A time as the API's lists carry it (RFC 3339; tolerate a space for the `T`).
pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(&s.replacen(' ', "T", 1)))
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// A row follow works on, kept small: a run can hold millions.
#[derive(Debug, Clone)]
pub struct FollowRow {
    pub row: u64,
    /// The card (ICCID or cid), trimmed and upper-cased; empty for a whole-order SMS row.
    pub key: String,
    /// `unknown` (else `ok`).
    pub unknown: bool,
    pub work_order_id: Option<i64>,
    /// Kept for `unknown` rows only: follow appends its note to it.
    pub error_msg: Option<String>,
    /// When the row's outcome was recorded (for an `unknown` row: at or after its intent).
    pub finished_at: Option<String>,
}

impl FollowRow {
    /// Whether the row's request is older than `after` in the API's time: then no gateway can
    /// still be holding it, and its absence from the API's records is proof that it never
    /// happened. The outcome's time is at or after the intent's, so this errs on the safe side.
    pub fn settled_long_ago(&self, after: std::time::Duration, clocks: &Clocks) -> bool {
        self.finished_at
            .as_deref()
            .and_then(parse_time)
            .is_some_and(|t| clocks.older_than(t, after))
    }
}

/// The rows follow cares about (`keep`), read once from the journal.
pub fn rows_of_interest(
    journal: &crate::journal::Journal,
    mut keep: impl FnMut(&StoredRow) -> bool,
) -> Result<Vec<FollowRow>, crate::journal::JournalError> {
    let mut out = Vec::new();
    journal
        .for_each_row(|r| {
            if keep(&r) {
                let unknown = r.status == RowState::Is(Status::Unknown);
                out.push(FollowRow {
                    row: r.row,
                    key: r.key.as_deref().unwrap_or("").trim().to_uppercase(),
                    unknown,
                    work_order_id: r.work_order_id,
                    error_msg: if unknown { r.error_msg } else { None },
                    finished_at: if unknown { r.finished_at } else { None },
                });
            }
            Ok(())
        })?
        .expect("collecting rows does no I/O");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_replace_earlier_notes() {
        assert_eq!(with_note(None, "follow: x"), "follow: x");
        assert_eq!(
            with_note(Some("timed out"), "follow: x"),
            "timed out; follow: x"
        );
        assert_eq!(
            with_note(Some("timed out; follow: old"), "follow: new"),
            "timed out; follow: new"
        );
        assert_eq!(with_note(Some("follow: old"), "follow: new"), "follow: new");
    }

    #[test]
    fn times_are_reckoned_in_the_apis_clock_and_far_clocks_prove_nothing_absent() {
        let ahead = ClockOffset::from_mid(-662_000, 600);
        let near = ClockOffset::from_mid(30_000, 600);
        let none = Clocks::default();
        assert!(none
            .why_no_proof_of_absence()
            .unwrap()
            .contains("no Date header"));
        let own = |o| Clocks {
            run: None,
            own: Some(o),
        };
        assert_eq!(
            own(ahead).why_no_proof_of_absence().unwrap(),
            "follow: the local clock is 11m 2s ahead of the API's: proof of absence needs \
             clocks within 10m; fix the clock (NTP), then follow again"
        );
        assert!(own(near).why_no_proof_of_absence().is_none());
        // A run made with a far clock proves nothing, even once the clock is fixed.
        let fixed = Clocks {
            run: Some(ahead),
            own: Some(near),
        };
        assert!(fixed
            .why_no_proof_of_absence()
            .unwrap()
            .contains("was 11m 2s ahead of the API's while the run sent its requests"));
        // The window opens in the API's time, the margin before the run's start.
        assert_eq!(
            own(ahead).window_start("2026-01-01T12:00:00Z"),
            parse_time("2026-01-01T11:38:57.400Z").unwrap()
        );
        // The local age stands while the offsets agree; a clock moved since counts against.
        let t = chrono::Utc::now() - chrono::Duration::seconds(100);
        let after = std::time::Duration::from_secs(99);
        assert!(own(near).older_than(t, after));
        let moved = Clocks {
            run: Some(ClockOffset::from_mid(0, 500)),
            own: Some(ClockOffset::from_mid(-5_000, 500)),
        };
        assert!(!moved.older_than(t, after), "5 s younger in the API's time");
        assert!(moved.older_than(t, std::time::Duration::from_secs(90)));
        assert!(!none.older_than(t, std::time::Duration::ZERO));
    }
}
