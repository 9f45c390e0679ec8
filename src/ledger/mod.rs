//! The account ledger: never twice across runs, whoever runs them. One room for it:
//!
//! - [`store`]: the SQLite file per canonical endpoint: its claims, card ids, rebuild, and
//!   earlier versions' ledgers;
//! - this module: the ledger in a run's lifecycle — opened before anything is confirmed (a
//!   ledger that cannot be opened stops a destructive run, exit 2), what it knows a run and a
//!   row by, the cards an earlier run did counted and marked up front, card ids matched through
//!   the card list; the engine's writer gets a [`LedgerSink`] (in [`store`], which imports
//!   nothing above the journal), whose claims decide.

pub mod store;

pub use store::{
    act, canonical_endpoint, Act, CardAct, Ledger, LedgerError, LedgerSink, RebuildError, RunKey,
};

use crate::exit::Failure;
use crate::gsl::types::{CardRef, Page, SimCard};
use crate::gsl::Client;
use crate::journal::{Journal, RunMeta};
use crate::listing::{Fetch, Pager};
use crate::ops::Operation;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use store::legacy_run_id;

/// How far back an earlier run counts unless `--again-window` says otherwise.
pub const DEFAULT_AGAIN_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// The SIM card list's calls per second when a run reads it to match card ids: its documented
/// quota (a destructive run has no `--list-rate`).
pub const LIST_RATE: f64 = 1.0;

/// Whether the operation's acts go to the ledger: those that must never happen twice.
pub fn applies(op: &dyn Operation) -> bool {
    !op.idempotent()
}

/// The shortest `--again-window` a run may have: the longest a request can take to be
/// answered (`--timeout`, which covers the connect too, times the tries). A shorter one would
/// let a card whose request another run may still have on the wire be acted on again.
pub fn shortest_window(timeout: Duration, max_attempts: u32) -> Duration {
    timeout * max_attempts.max(1)
}

/// Refuse (exit 2) a window shorter than [`shortest_window`].
pub fn check_window(window: Duration, timeout: Duration, max_attempts: u32) -> Result<(), Failure> {
    let least = shortest_window(timeout, max_attempts);
    if window < least {
        return Err(Failure::usage(format!(
            "--again-window {} is shorter than the longest a request can take to be answered \
             ({}: --timeout times --max-attempts): a card another run \
             still has on the wire would be acted on again; give at least that, or --again to \
             act on cards done before: nothing was sent",
            humantime::format_duration(window),
            humantime::format_duration(least)
        )));
    }
    Ok(())
}

/// What the ledger knows this run by.
pub fn key(op: &dyn Operation, meta: &RunMeta, run_dir: &Path) -> RunKey {
    let dir = std::fs::canonicalize(run_dir).unwrap_or_else(|_| run_dir.to_path_buf());
    let dir = dir.display().to_string();
    let window = match meta.again {
        true => None,
        false => Some(
            meta.again_window_secs
                .map_or(DEFAULT_AGAIN_WINDOW, Duration::from_secs),
        ),
    };
    // A send to a whole order is one act on the order (with its text).
    let whole = meta
        .params
        .get("order_id")
        .and_then(|v| v.as_i64())
        .map(|id| format!("order:{id}"));
    RunKey {
        run_id: meta.run_id.clone().unwrap_or_else(|| legacy_run_id(&dir)),
        run_dir: dir,
        operation: op.name().to_string(),
        params: op.ledger_params(),
        window,
        whole,
    }
}

/// Open the ledger of the run's endpoint (rehearsals: their own).
pub fn open(meta: &RunMeta) -> Result<Ledger, Failure> {
    let state = crate::lock::state_dir().ok_or_else(|| {
        Failure::usage(
            "no state directory for the account ledger: set HOME, XDG_STATE_HOME or GSL_STATE_DIR; nothing was sent",
        )
    })?;
    let path = Ledger::path_for(&state, &meta.endpoint, meta.rehearsal);
    let failed = |e: LedgerError| {
        Failure::usage(format!(
            "the account ledger cannot be opened ({e}): a destructive run needs it to never act twice on a card; nothing was sent (`gslbatch ledger rebuild RUN_DIR...` recreates it)"
        ))
    };
    let mut ledger = Ledger::open(&path).map_err(failed)?;
    // An earlier version kept a ledger per spelling of the endpoint: this one takes it in.
    if let Some(old) = Ledger::legacy_path(&state, &meta.endpoint).filter(|_| !meta.rehearsal) {
        let n = ledger.absorb(&old).map_err(failed)?;
        if n > 0 {
            tracing::info!(entries = n, from = %old.display(), "took in the ledger an earlier version kept for this spelling of the endpoint");
        }
    }
    Ok(ledger)
}

/// The engine's ledger writer for a destructive run; `None` for the others.
pub fn sink(
    op: &dyn Operation,
    meta: &RunMeta,
    run_dir: &Path,
) -> Result<Option<LedgerSink>, Failure> {
    if !applies(op) {
        return Ok(None);
    }
    Ok(Some(LedgerSink {
        ledger: open(meta)?,
        run: key(op, meta, run_dir),
    }))
}

/// Record this run's `unknown` rows as `unknown` in the ledger (their claims may still say in
/// flight, which counts only while the journal does not hold the row `pending`): called before
/// `resume --resend-unknown` queues them again.
pub fn hold_unknown(
    journal: &Journal,
    op: &dyn Operation,
    meta: &RunMeta,
    run_dir: &Path,
) -> Result<(), Failure> {
    if !applies(op) {
        return Ok(());
    }
    let mut rows = Vec::new();
    journal
        .for_each_row(|r| {
            if r.status == crate::journal::RowState::Is(crate::model::Status::Unknown) {
                rows.push((r.row, crate::model::Status::Unknown, r.work_order_id));
            }
            Ok(())
        })
        .map_err(|e| Failure::aborted(e.to_string()))?
        .map_err(|e| Failure::aborted(e.to_string()))?;
    let mut ledger = open(meta)?;
    ledger
        .record_outcomes(&key(op, meta, run_dir), &rows)
        .map_err(|e| Failure::usage(format!("{e}: nothing was sent")))
}

/// A send to a whole order and a send to a list of its cids with the same text are the same
/// message to those cards: the two kinds of claims are matched through the card list (the
/// order's cards, 500 a call). A cid-list run skips the cids of an order an earlier run sent
/// the text to; a whole-order run is skipped when an earlier run sent the text to some of its
/// cids (send to the others with a list of them). Returns the calls it took.
pub async fn match_orders(
    journal: &mut Journal,
    ledger: &Ledger,
    run: &RunKey,
    client: &Client,
    max_attempts: u32,
) -> Result<u64, Failure> {
    let l = |e: LedgerError| Failure::usage(format!("{e}: nothing was sent"));
    let e = |e: crate::journal::JournalError| Failure::aborted(e.to_string());
    let Some(first) = journal.pending_after(0, 1).map_err(e)?.pop() else {
        return Ok(0);
    };
    let pager = Pager::new(client.clone(), "sim-cards", LIST_RATE, max_attempts);
    let cids_of = |order: i64| {
        let fetch: Fetch<SimCard> = Arc::new(move |c: Client, offset| {
            let page = Page::new(crate::gsl::paging::LIMIT, offset).filter("order_id", order);
            Box::pin(async move { c.sim_cards(&page).await.map(|p| (p.count, p.sim_cards)) })
        });
        let pager = &pager;
        async move {
            let mut cids = std::collections::HashSet::new();
            let listed = pager
                .each_page(fetch, |cards| {
                    for c in cards {
                        if let Some(cid) = c.cid.as_deref().or(c.iccid.as_deref()) {
                            cids.insert(cid.trim().to_ascii_uppercase());
                        }
                    }
                    Ok(())
                })
                .await?;
            listed.map(|()| cids).map_err(|err| {
                Failure::usage(format!(
                    "the card list could not be read to match order {order}'s cards with an \
                     earlier send of this text ({err}); nothing was sent"
                ))
            })
        }
    };
    if first.key.is_empty() {
        // A whole-order send: has an earlier run sent this text to some of its cids?
        let Some(order) = run.whole.as_deref().and_then(|w| w.strip_prefix("order:")) else {
            return Ok(0);
        };
        let order: i64 = order.parse().unwrap_or_default();
        if !ledger.any_card_done(run).map_err(l)? {
            return Ok(0);
        }
        let cids = cids_of(order).await?;
        let mut done = 0u64;
        let mut example = None;
        for cid in &cids {
            let act = CardAct {
                row: 0,
                card: cid.clone(),
                arg: String::new(),
            };
            if let Some(a) = ledger.earlier(run, &act).map_err(l)? {
                done += 1;
                example.get_or_insert(a);
            }
        }
        if let Some(a) = example {
            let why = format!(
                "skipped: {done} of order {order}'s {} cids already got this text ({}); send \
                 to the others with a list of their cids, or --again sends the whole order",
                cids.len(),
                a.skip_reason().trim_start_matches("skipped: ")
            );
            journal.mark_skipped(&[(first.row, why)]).map_err(e)?;
        }
    } else {
        // A cid list: did an earlier run send this text to a whole order holding some of them?
        let orders = ledger.orders_done(run).map_err(l)?;
        let mut skipped = Vec::new();
        for (order, act) in orders {
            let cids = cids_of(order).await?;
            let why = format!(
                "{} (to the whole order {order}, which holds this cid)",
                act.skip_reason()
            );
            let mut after = 0;
            loop {
                let chunk = journal.pending_after(after, 4096).map_err(e)?;
                let Some(last) = chunk.last() else { break };
                after = last.row;
                skipped.extend(
                    chunk
                        .iter()
                        .filter(|p| cids.contains(&p.key))
                        .map(|p| (p.row, why.clone())),
                );
            }
        }
        journal.mark_skipped(&skipped).map_err(e)?;
    }
    Ok(pager.stats.get().0)
}

/// The ledger's look at a new run's rows before anything is confirmed, written once for a start
/// and its dry-run plan: the cards an earlier run did (or may have) are marked `skipped` in the
/// journal. A start (`client`: the API and its tries) first learns card ids from the input and
/// matches the other id through the card list, and afterwards matches whole-order sends with
/// cid-list sends of the same text; a plan (`None`) only counts the acts a start would match.
pub async fn skip_earlier(
    journal: &mut Journal,
    meta: &RunMeta,
    sink: &mut LedgerSink,
    client: Option<(&Client, u32)>,
) -> Result<Looked, Failure> {
    let Some((client, max_attempts)) = client else {
        let mut looked = skip_done(journal, &sink.ledger, &sink.run)?;
        looked.unresolved = unresolved(journal, &sink.ledger, &sink.run)?;
        return Ok(looked);
    };
    learn_from_input(journal, meta, &mut sink.ledger)?;
    let calls = resolve_ids(
        journal,
        &mut sink.ledger,
        &sink.run,
        client,
        LIST_RATE,
        max_attempts,
    )
    .await?;
    if calls > 0 {
        crate::say!(
            "matched this run's cards with earlier runs' through the card list: {calls} {}",
            if calls == 1 { "call" } else { "calls" }
        );
    }
    let mut looked = skip_done(journal, &sink.ledger, &sink.run)?;
    let calls = match_orders(journal, &sink.ledger, &sink.run, client, max_attempts).await?;
    let counts = journal
        .counts()
        .map_err(|e| Failure::aborted(e.to_string()))?;
    looked.skipped = counts.get("skipped").copied().unwrap_or(0);
    if calls > 0 {
        crate::say!(
            "matched this send with earlier sends of the text to whole orders or their cids through the card list: {calls} {}",
            if calls == 1 { "call" } else { "calls" }
        );
    }
    Ok(looked)
}

/// What the ledger said of a run's pending rows before it was confirmed.
#[derive(Debug, Default, Clone)]
pub struct Looked {
    /// Rows marked `skipped`: an earlier run did (or may have done) their card.
    pub skipped: u64,
    /// The runs that did them: run dir, its first act's time, rows; most rows first.
    pub by: Vec<(String, String, u64)>,
    /// Rows an earlier run did before the window: they will be acted on again.
    pub again: u64,
    /// Earlier acts that name their cards by the other id, not matched yet (see
    /// [`resolve_ids`]).
    pub unresolved: u64,
}

/// How many earlier acts name their cards the other way than this run's rows and are not
/// matched to an id of this kind yet.
pub fn unresolved(journal: &Journal, ledger: &Ledger, run: &RunKey) -> Result<u64, Failure> {
    let first = journal
        .pending_after(0, 1)
        .map_err(|e| Failure::aborted(e.to_string()))?
        .pop();
    match first.filter(|p| !p.key.is_empty()) {
        Some(p) => ledger
            .unresolved_other_kind(run, CardRef::is_id_key(&p.key))
            .map_err(|e| Failure::usage(format!("{e}: nothing was sent"))),
        None => Ok(0),
    }
}

/// Mark `skipped` every pending row whose card an earlier run did (or may have done) with the
/// same act within the run's window, or another run is doing now; count the rows that an
/// earlier run did before the window.
pub fn skip_done(journal: &mut Journal, ledger: &Ledger, run: &RunKey) -> Result<Looked, Failure> {
    let e = |e: crate::journal::JournalError| Failure::aborted(e.to_string());
    let l = |e: LedgerError| Failure::usage(format!("{e}: nothing was sent"));
    let mut skipped = Vec::new();
    let mut looked = Looked::default();
    let mut by = std::collections::BTreeMap::<String, (String, u64)>::new();
    let mut after = 0;
    loop {
        let chunk = journal.pending_after(after, 4096).map_err(e)?;
        let Some(last) = chunk.last() else { break };
        after = last.row;
        for p in chunk {
            let act = act(&p);
            match ledger.earlier(run, &act).map_err(l)? {
                Some(earlier) => {
                    skipped.push((p.row, earlier.skip_reason()));
                    let e = by
                        .entry(earlier.run_dir.clone())
                        .or_insert_with(|| (earlier.intent_at.clone(), 0));
                    e.0 = e.0.clone().min(earlier.intent_at.clone());
                    e.1 += 1;
                }
                None if ledger.before_window(run, &act).map_err(l)? => looked.again += 1,
                None => {}
            }
        }
    }
    journal.mark_skipped(&skipped).map_err(e)?;
    looked.skipped = skipped.len() as u64;
    looked.by = by.into_iter().map(|(d, (at, n))| (d, at, n)).collect();
    looked.by.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    Ok(looked)
}

/// The start's words for rows skipped: which earlier runs did their cards, and — for a
/// rehearsal — that every rehearsal on the host shares one ledger (`ledger`), so a new clone's
/// first rehearsal skips what an older one did.
pub fn skipped_note(looked: &Looked, rehearsal: bool, ledger: &Path) -> String {
    let runs: Vec<String> = looked
        .by
        .iter()
        .take(3)
        .map(|(dir, at, n)| format!("{dir} ({n} at {at})"))
        .collect();
    let more = looked.by.len().saturating_sub(3);
    let shared = match rehearsal {
        true => format!(
            "; every rehearsal with this state dir shares one ledger ({}), whichever clone or \
             directory it ran from",
            ledger.display()
        ),
        false => String::new(),
    };
    format!(
        "skipped {} cards: an earlier {} did them (or may have): {}{}{shared}; the report names \
         it per row; --again sends them anyway",
        looked.skipped,
        if rehearsal { "rehearsal" } else { "run" },
        runs.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

/// The plan's and the confirmation's words for cards an earlier run did before the window.
pub fn again_note(looked: &Looked, meta: &RunMeta) -> Option<String> {
    let window = meta
        .again_window_secs
        .map_or(DEFAULT_AGAIN_WINDOW, Duration::from_secs);
    (looked.again > 0 && !meta.again).then(|| {
        format!(
            "{} cards an earlier run did more than --again-window {} ago are acted on again",
            looked.again,
            humantime::format_duration(window)
        )
    })
}

/// Learn which ICCID and `sim_card_id` name the same card from an input that has both columns
/// (the card's own column, and the other among its extra columns).
pub fn learn_from_input(
    journal: &Journal,
    meta: &RunMeta,
    ledger: &mut Ledger,
) -> Result<(), Failure> {
    let col = |names: &[&str]| {
        meta.extra_columns
            .iter()
            .position(|c| names.iter().any(|n| c.eq_ignore_ascii_case(n)))
    };
    let id_col = col(&["sim_card_id", "input_sim_card_id"]);
    let iccid_col = col(&["iccid", "input_iccid", "cid", "input_cid"]);
    if id_col.is_none() && iccid_col.is_none() {
        return Ok(());
    }
    let mut pairs = Vec::new();
    journal
        .for_each_row(|r| {
            let Some(key) = r.key.as_deref().filter(|k| !k.is_empty()) else {
                return Ok(());
            };
            let (slot, by_id) = match CardRef::is_id_key(key) {
                true => (iccid_col, true),
                false => (id_col, false),
            };
            let other = slot.and_then(|i| r.extras.get(i)).map(|v| v.trim());
            let other = match (other, by_id) {
                (Some(v), true) => crate::input::validate_iccid(v).ok(),
                (Some(v), false) => crate::input::validate_sim_card_id(v).ok(),
                (None, _) => None,
            };
            if let Some(other) = other {
                pairs.push((key.to_string(), other));
            }
            Ok(())
        })
        .map_err(|e| Failure::aborted(e.to_string()))?
        .map_err(|e| Failure::aborted(e.to_string()))?;
    ledger
        .learn_aliases(&pairs)
        .map_err(|e| Failure::usage(format!("{e}: nothing was sent")))
}

/// Where the ledger holds earlier claims that name their cards the other way than this run
/// (by `sim_card_id` where this run names them by ICCID, or the reverse) and cannot match them
/// yet, read the card list (at `list_rate`) to learn which ids name the same card, so that
/// those claims count. Returns the calls it took (0: nothing needed resolving).
pub async fn resolve_ids(
    journal: &Journal,
    ledger: &mut Ledger,
    run: &RunKey,
    client: &Client,
    list_rate: f64,
    max_attempts: u32,
) -> Result<u64, Failure> {
    let e = |e: crate::journal::JournalError| Failure::aborted(e.to_string());
    let l = |e: LedgerError| Failure::usage(format!("{e}: nothing was sent"));
    let Some(first) = journal.pending_after(0, 1).map_err(e)?.pop() else {
        return Ok(0);
    };
    if first.key.is_empty() {
        return Ok(0);
    }
    let by_id = CardRef::is_id_key(&first.key);
    let other_kind = ledger.unresolved_other_kind(run, by_id).map_err(l)?;
    if other_kind == 0 {
        return Ok(0);
    }
    // Only when some card of this run has no known other id.
    let mut unmatched = false;
    let mut after = 0;
    while !unmatched {
        let chunk = journal.pending_after(after, 4096).map_err(e)?;
        let Some(last) = chunk.last() else { break };
        after = last.row;
        for p in &chunk {
            if !p.key.is_empty() && !ledger.has_alias(&p.key).map_err(l)? {
                unmatched = true;
                break;
            }
        }
    }
    if !unmatched {
        return Ok(0);
    }
    tracing::warn!(
        claims = other_kind,
        "the ledger holds earlier acts on cards named by {}: reading the card list to match them with this run's cards",
        if by_id { "ICCID" } else { "sim_card_id" }
    );
    let pager = Pager::new(client.clone(), "sim-cards", list_rate, max_attempts);
    let fetch: Fetch<SimCard> = Arc::new(move |c: Client, offset| {
        let page = Page::new(crate::gsl::paging::LIMIT, offset);
        Box::pin(async move { c.sim_cards(&page).await.map(|p| (p.count, p.sim_cards)) })
    });
    let listed = pager
        .each_page(fetch, |cards| {
            let pairs: Vec<_> = cards
                .iter()
                .filter_map(|c| {
                    let iccid = c.iccid.as_deref().or(c.cid.as_deref())?;
                    Some((
                        iccid.trim().to_ascii_uppercase(),
                        CardRef::id_key(c.sim_card_id.unsigned_abs()),
                    ))
                })
                .collect();
            ledger.learn_aliases(&pairs).map_err(l)
        })
        .await?;
    let calls = pager.stats.get().0;
    if let Err(err) = listed {
        return Err(Failure::usage(format!(
            "the card list could not be read to match earlier runs' cards named the other way \
             ({err}); nothing was sent. Name the cards by {} as earlier runs did, or give \
             --again after checking them",
            if by_id { "ICCID" } else { "sim_card_id" }
        )));
    }
    Ok(calls)
}
