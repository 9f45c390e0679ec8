//! `inventory`: the fleet as the platform stores it, from the SIM card list at its own quota
//! (`--list-rate`, 1 call/s by default), 500 cards per call — a fleet real-name report in about
//! 1/500 of the calls of per-card checks. `real_named` here is the platform's stored flag, not
//! the carrier's live answer (that is `check-real-name`), and the summary says so.
//!
//! Without INPUT every listed card is a report row, streamed as the pages arrive. With INPUT the
//! report has one row per input row, in input order: the input is read first (its ICCIDs
//! validated and deduplicated by the input rules), only those cards are kept while the list is
//! paged, and a card the list lacks is `failed` "not in inventory". Memory follows the input,
//! never the fleet. When the input's cards missing from page 1 are fewer than the pages left,
//! they are looked up one call each (by ICCID, filters applied) instead of paging the fleet.

use super::{self as listing, float_cell, int_cell, str_cell, Fetch, Lookup, Pager, ReportOut};
use crate::exit::{self, Failure};
use crate::gsl::types::{Page, SimCard};
use crate::gsl::{CardRef, Client};
use crate::history::compare::State;
use crate::history::Recorder;
use crate::input::{Dedupe, InputOptions, Inputs, ReadOptions};
use crate::ops::inventory::InventoryListing;
use crate::report::encoding::ReportEncoding;
use crate::report::layout::Cell;
use crate::simulator::SimConfig;
use crate::tell::ListingEnd;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

pub const DEFAULT_LIST_RATE: f64 = 1.0;
/// The card's columns, in report order (`tag_names` follows when the API sends it).
pub const CARD_COLUMNS: &[&str] = crate::ops::inventory::SPEC.columns;
/// Cards in the rehearsal simulator's generated inventory when there is no INPUT.
const REHEARSAL_CARDS: usize = 2_000;
pub const NOT_IN_INVENTORY: &str = "not in inventory";

/// One input row, kept until the list has been paged.
struct InputRow {
    row: u64,
    raw: String,
    /// The normalized ICCID, or why the row is `invalid` (naming `file:line`).
    key: Result<String, String>,
    /// Set when an earlier row holds the same card.
    duplicate_of: Option<u64>,
    extras: Vec<String>,
}

/// The input, and the listed cards it asks for.
struct Join {
    rows: Vec<InputRow>,
    extra_columns: Vec<String>,
    /// Normalized ICCID → slot in `found`.
    slots: HashMap<String, usize>,
    found: Vec<Option<SimCard>>,
}

impl Join {
    fn read(
        paths: &[String],
        column: Option<String>,
        reading: &ReadOptions,
    ) -> Result<Join, Failure> {
        let opts = InputOptions {
            column,
            default_column: "iccid",
            sim_card_ids: true,
        };
        let mut inputs =
            Inputs::open_with(paths, &opts, reading).map_err(|e| Failure::usage(e.to_string()))?;
        let mut dedupe = Dedupe::new();
        let mut rows = Vec::new();
        let mut slots = HashMap::new();
        for rec in inputs.by_ref() {
            let rec = rec.map_err(|e| Failure::usage(e.to_string()))?;
            let duplicate_of = match &rec.key {
                Ok(k) => dedupe.check(k, rec.row),
                Err(_) => None,
            };
            if let (Ok(k), None) = (&rec.key, duplicate_of) {
                let n = slots.len();
                slots.insert(k.clone(), n);
            }
            rows.push(InputRow {
                row: rec.row,
                raw: rec.raw,
                key: rec.key,
                duplicate_of,
                extras: rec.extras,
            });
        }
        let found = vec![None; slots.len()];
        Ok(Join {
            rows,
            extra_columns: inputs.extra_columns().to_vec(),
            slots,
            found,
        })
    }

    /// The distinct valid ICCIDs, in input order (for a rehearsal's simulator).
    fn keys(&self) -> Vec<String> {
        let mut keys = vec![String::new(); self.slots.len()];
        for (k, i) in &self.slots {
            keys[*i] = k.clone();
        }
        keys
    }

    /// The input's cards not among `cards`, in input order.
    fn keys_missing_from(&self, cards: &[SimCard]) -> Vec<String> {
        let listed: std::collections::HashSet<String> = cards
            .iter()
            .flat_map(|c| [card_key(c), Some(id_key(c))])
            .flatten()
            .collect();
        self.keys()
            .into_iter()
            .filter(|k| !listed.contains(k))
            .collect()
    }

    /// Keep `card` for every input row that names it, by ICCID or by `sim_card_id`.
    fn offer(&mut self, card: SimCard) {
        let by_iccid = card_key(&card).and_then(|k| self.slots.get(&k)).copied();
        let by_id = self.slots.get(&id_key(&card)).copied();
        if let (Some(a), Some(b)) = (by_iccid, by_id) {
            self.found[b] = Some(card.clone());
            self.found[a] = Some(card);
        } else if let Some(slot) = by_iccid.or(by_id) {
            self.found[slot] = Some(card);
        }
    }
}

/// A listed card's key as an input row given by `sim_card_id` has it.
fn id_key(card: &SimCard) -> String {
    CardRef::id_key(card.sim_card_id.unsigned_abs())
}

/// A listed card's key in the history.
fn history_key(c: &SimCard) -> String {
    crate::history::key_of(c.iccid.as_deref().or(c.cid.as_deref()), Some(c.sim_card_id))
}

/// A listed card's ICCID as the input rules normalize it.
fn card_key(card: &SimCard) -> Option<String> {
    card.iccid
        .as_deref()
        .or(card.cid.as_deref())
        .map(|k| k.trim().to_ascii_uppercase())
}

fn card_cells(c: &SimCard, tags: bool) -> Vec<Cell> {
    let mut cells = vec![
        Cell::Int(c.sim_card_id),
        str_cell(c.iccid.as_deref().or(c.cid.as_deref())),
        str_cell(c.msisdn.as_deref()),
        int_cell(c.sim_status),
        int_cell(c.order_id),
        c.real_named.map_or(Cell::Null, Cell::Bool),
        float_cell(c.flow_used),
    ];
    if tags {
        cells.push(str_cell(c.tag_names.as_deref()));
    }
    cells
}

/// The report of a listing without input: one row per card.
fn card_report(
    dest: &crate::report::ReportDest,
    tags: bool,
    (rehearsal, encoding): (bool, ReportEncoding),
) -> ReportOut {
    ReportOut::start_encoded(dest.clone(), card_columns(tags), rehearsal, encoding)
}

fn card_columns(tags: bool) -> Vec<String> {
    let mut cols: Vec<String> = CARD_COLUMNS.iter().map(|c| c.to_string()).collect();
    if tags {
        cols.push("tag_names".into());
    }
    cols
}

/// Stored real-name flags seen: true, false, absent.
#[derive(Default)]
struct Flags {
    cards: u64,
    by_flag: BTreeMap<&'static str, u64>,
}

impl Flags {
    fn add(&mut self, c: &SimCard) {
        self.cards += 1;
        let k = match c.real_named {
            Some(true) => "true",
            Some(false) => "false",
            None => "absent",
        };
        *self.by_flag.entry(k).or_default() += 1;
    }

    fn text(&self) -> String {
        let parts: Vec<String> = self
            .by_flag
            .iter()
            .rev()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

/// A description of the filters for messages, e.g. ` with --real-named false`.
fn filters_text(args: &InventoryListing) -> String {
    let mut s = String::new();
    if let Some(r) = args.real_named {
        s.push_str(&format!(" --real-named {r}"));
    }
    if let Some(o) = args.order_id {
        s.push_str(&format!(" --order-id {o}"));
    }
    if s.is_empty() {
        s
    } else {
        format!(" (listed with{s})")
    }
}

impl crate::ops::Listing for InventoryListing {
    fn run(self: Box<Self>) -> crate::ops::ListingFuture {
        Box::pin(run(*self))
    }
}

/// The listing, told at its end as the flags ask (`--metrics-file`, `--notify`).
pub async fn run(args: InventoryListing) -> Result<i32, Failure> {
    let teller = listing::teller(&args.list)?;
    let mut end = ListingEnd::new(crate::ops::inventory::SPEC.name, args.list.rehearse);
    let result = list(args, &mut end).await;
    teller.tell(end, &result);
    result
}

async fn list(args: InventoryListing, end: &mut ListingEnd) -> Result<i32, Failure> {
    let rate = listing::check_rate("--list-rate", args.list_rate.unwrap_or(DEFAULT_LIST_RATE))?;
    let max_attempts = listing::max_attempts(&args.list)?;
    crate::run::settings::timeout(&listing::run_options(&args.list))?;
    let join = if args.inputs.is_empty() {
        None
    } else {
        let (paths, column, reading) = (
            args.inputs.clone(),
            args.column.clone(),
            ReadOptions {
                encoding: args.encoding,
                sheet: args.sheet.clone(),
            },
        );
        Some(
            tokio::task::spawn_blocking(move || Join::read(&paths, column, &reading))
                .await
                .expect("input thread")?,
        )
    };
    let list_rate = Some(rate.ceil() as u32);
    let (client, _sim) = listing::client(&args.list, || match &join {
        Some(j) => SimConfig {
            list_rate,
            ..SimConfig::from_iccids(&j.keys())
        },
        None => SimConfig {
            cards: REHEARSAL_CARDS,
            list_rate,
            ..SimConfig::default()
        },
    })
    .await?;
    let (real_named, order_id) = (args.real_named, args.order_id);
    let filtered = move |mut page: Page| {
        if let Some(r) = real_named {
            page = page.filter("real_named", r);
        }
        if let Some(o) = order_id {
            page = page.filter("order_id", o);
        }
        page
    };
    let fetch: Fetch<SimCard> = Arc::new(move |c: Client, offset| {
        let page = filtered(Page::new(listing::PAGE_LIMIT, offset));
        Box::pin(async move { c.sim_cards(&page).await.map(|p| (p.count, p.sim_cards)) })
    });
    // A card named by ICCID (`main_search_type` 1), the same filters applied; only exact
    // matches count.
    let lookup: Lookup<SimCard> = Arc::new(move |c: Client, iccid: String| {
        let page = filtered(
            Page::new(10, 1)
                .filter("main_search_type", 1)
                .filter("main_search_key", &iccid),
        );
        Box::pin(async move {
            let p = c.sim_cards(&page).await?;
            let exact = |c: &SimCard| card_key(c).as_deref() == Some(iccid.as_str());
            Ok((p.count, p.sim_cards.into_iter().filter(exact).collect()))
        })
    });
    let pager = Pager::new(client.clone(), "sim-cards", rate, max_attempts);
    let dest = listing::report_dest(
        args.list.report.as_deref(),
        crate::ops::inventory::SPEC.name,
    );
    let mut hist = crate::history::Recorder::open(
        &args.history,
        crate::history::Setup {
            operation: crate::ops::inventory::SPEC.name,
            endpoint: &args.list.endpoint,
            rehearsal: args.list.rehearse,
            identity: [args.inputs.clone(), vec![filters_text(&args)]].concat(),
            dest: &dest,
            marks: None,
        },
    )?;
    // A signal ends the listing with what was listed so far, in a partial report.
    let stop = crate::run::signals::shutdown("no partial report was written");
    let progress = listing::Listed::start(crate::ops::inventory::SPEC.name);
    let t0 = Instant::now();
    let mut flags = Flags::default();
    let mut tags: Option<bool> = None;
    let mut out: Option<ReportOut> = None;
    let mut join = join;
    let rehearsal = args.list.rehearse;
    // Excel opens the report right when the input came from it (a BOM), or as asked.
    let report_encoding = args
        .list
        .report_encoding
        .unwrap_or_else(|| crate::report::encoding::for_inputs(&args.inputs));

    // Page 1 tells the fleet's size. With an input whose cards (those not on page 1) are fewer
    // than the pages left, each card is looked up on its own: fewer calls.
    let first = pager.call(&fetch, 1).await;
    let look_up = match (&first, &join) {
        (Ok((count, cards)), Some(j)) => {
            let missing = j.keys_missing_from(cards);
            let pages_left = crate::gsl::paging::pages_for(*count).saturating_sub(1) as usize;
            // The list searches by ICCID, not by sim_card_id: those are found by paging.
            let by_iccid = missing.iter().all(|k| !CardRef::is_id_key(k));
            (by_iccid && missing.len() < pages_left).then_some(missing)
        }
        _ => None,
    };
    let lookups = look_up.as_ref().map_or(0, Vec::len);
    if let Ok((count, cards)) = &first {
        let total = match lookups {
            0 => (*count).max(0) as u64,
            n => (cards.len() + n) as u64,
        };
        progress.set_total(total);
    }
    let counted = &progress;
    let mut on_page = |cards: Vec<SimCard>| {
        counted.add(cards.len());
        // The first page decides whether the report has a tag_names column.
        let tags = *tags.get_or_insert_with(|| cards.iter().any(|c| c.tag_names.is_some()));
        for c in &cards {
            flags.add(c);
        }
        match &mut join {
            Some(j) => {
                cards.into_iter().for_each(|c| j.offer(c));
                Ok(())
            }
            None => {
                let o = out.get_or_insert_with(|| {
                    let mut columns = card_columns(tags);
                    if let Some(h) = hist.as_mut() {
                        h.columns(&mut columns, "iccid", report_encoding);
                    }
                    ReportOut::start_encoded(dest.clone(), columns, rehearsal, report_encoding)
                });
                let mut rows = Vec::with_capacity(cards.len());
                for c in &cards {
                    let mut cells = card_cells(c, tags);
                    if let Some(h) = hist.as_mut() {
                        h.row(&history_key(c), State::of_card(c), &mut cells)?;
                    }
                    rows.push(cells);
                }
                o.rows(rows)
            }
        }
    };
    let paging = &pager;
    let listing = async move {
        match (first, look_up) {
            (Err(e), _) => Ok(Err(e)),
            (Ok((_, cards)), Some(keys)) => match on_page(cards) {
                Ok(()) => paging.each_lookup(keys, lookup, on_page).await,
                Err(f) => Err(f),
            },
            (Ok(first), None) => paging.pages_after(fetch, first, on_page).await,
        }
    };
    let listed = tokio::select! {
        listed = listing => Some(listed),
        () = stop => None,
    };
    let (got, of) = (progress.listed(), progress.total());
    progress.finish();
    end.add_calls(pager.stats.get());
    end.report = Some(dest.to_string());
    let Some(listed) = listed else {
        end.report = Some(listing::partial_dest(&dest).to_string());
        return interrupted(
            out,
            join,
            &dest,
            tags.unwrap_or(false),
            (rehearsal, report_encoding),
            got,
            of,
        );
    };
    let what = format!("inventory{}", filters_text(&args));
    match listed {
        Err(output) => {
            return Err(match out {
                Some(o) => o.commit().err().unwrap_or(output),
                None => output,
            })
        }
        Ok(Err(e)) => {
            if let Some(o) = out {
                o.abandon();
            }
            return Err(listing::query_failure(&what, &e, &client));
        }
        Ok(Ok(())) => {}
    }
    let tags = tags.unwrap_or(false);
    let (calls, throttled, retries) = pager.stats.get();
    let listing_line = format!(
        "{} cards listed in {} to the SIM card list{} ({throttled} answered 429, \
         {retries} retried) in {:.1}s; stored real_named: {}",
        flags.cards,
        crate::model::count(calls, "call", "calls"),
        if lookups > 0 {
            format!(" (page 1, then {lookups} looked up one by one: fewer calls than paging)")
        } else {
            String::new()
        },
        t0.elapsed().as_secs_f64(),
        flags.text()
    );
    let (code, detail) = match join {
        None => {
            let o = out.unwrap_or_else(|| {
                let mut columns = card_columns(tags);
                if let Some(h) = hist.as_mut() {
                    h.columns(&mut columns, "iccid", report_encoding);
                }
                ReportOut::start_encoded(dest.clone(), columns, rehearsal, report_encoding)
            });
            o.commit()?;
            end.rows = flags.cards;
            (
                exit::OK,
                format!("per-card real-name checks would take {} calls", flags.cards),
            )
        }
        Some(j) => {
            let (code, detail, counts) = write_joined(
                j,
                &dest,
                tags,
                (rehearsal, report_encoding),
                &filters_text(&args),
                false,
                &mut hist,
            )?;
            end.rows = counts.values().sum();
            end.counts = counts;
            (code, detail)
        }
    };
    if rehearsal {
        crate::say!("{}", crate::report::summary::REHEARSAL_LINE);
    }
    crate::say!(
        "inventory: {listing_line}; {detail}. real_named is the platform's stored flag, not the \
         carrier's live answer (check-real-name asks the carrier). report: {dest}"
    );
    match hist {
        Some(h) => {
            let (code, found) = h.finish_found(code)?;
            end.changes = found.changes;
            Ok(code)
        }
        None => Ok(code),
    }
}

/// A signal cut the listing short: what was listed goes to the partial report (beside the
/// destination, which stays as it was), and the exit code is 130. With an input, the rows
/// whose card was not reached are `pending`.
fn interrupted(
    out: Option<ReportOut>,
    join: Option<Join>,
    dest: &crate::report::ReportDest,
    tags: bool,
    (rehearsal, report_encoding): (bool, ReportEncoding),
    listed: u64,
    total: u64,
) -> Result<i32, Failure> {
    let partial = listing::partial_dest(dest);
    let rows = match join {
        Some(j) => {
            write_joined(
                j,
                &partial,
                tags,
                (rehearsal, report_encoding),
                "",
                true,
                &mut None,
            )?;
            String::new()
        }
        None => {
            let o = out.unwrap_or_else(|| card_report(dest, tags, (rehearsal, report_encoding)));
            let (n, _) = o.commit_partial()?;
            format!(" ({n} rows)")
        }
    };
    crate::say!(
        "inventory: interrupted after {listed} of {total} cards listed; the partial report{rows} \
         is {partial} — incomplete: the list was not read to its end, {dest} was left as it was. \
         Run the inventory again for the whole list."
    );
    Ok(exit::INTERRUPTED)
}

/// One row per input row, in input order; the exit code and a summary of the statuses. With
/// `cut_short`, a card not found was not reached either: its row is `pending`, not `failed`.
fn write_joined(
    j: Join,
    dest: &crate::report::ReportDest,
    tags: bool,
    (rehearsal, report_encoding): (bool, ReportEncoding),
    filters: &str,
    cut_short: bool,
    hist: &mut Option<Recorder>,
) -> Result<(i32, String, BTreeMap<String, u64>), Failure> {
    let card_cols = card_columns(tags);
    let mut columns: Vec<String> = vec!["row".into(), "status".into(), "error_msg".into()];
    columns.extend(card_cols.iter().cloned());
    for extra in &j.extra_columns {
        // The input reader only knows the batch reports' columns; the card's own may clash too.
        if columns.iter().any(|c| c.eq_ignore_ascii_case(extra)) {
            columns.push(format!("input_{extra}"));
        } else {
            columns.push(extra.clone());
        }
    }
    if let Some(h) = hist.as_mut() {
        h.columns(&mut columns, "iccid", report_encoding);
    }
    let out = ReportOut::start_encoded(dest.clone(), columns, rehearsal, report_encoding);
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut batch = Vec::with_capacity(1024);
    let empty_card = card_cols.len();
    for r in j.rows {
        let (status, error_msg, card) = match (&r.key, r.duplicate_of) {
            (Err(why), _) => ("invalid", Some(why.clone()), None),
            (Ok(_), Some(first)) => (
                "duplicate",
                Some(format!("the same card as row {first}")),
                None,
            ),
            (Ok(k), None) => match &j.found[j.slots[k]] {
                Some(c) => ("ok", None, Some(c)),
                None if cut_short => (
                    "pending",
                    Some("not reached: the listing was interrupted".to_string()),
                    None,
                ),
                None => ("failed", Some(format!("{NOT_IN_INVENTORY}{filters}")), None),
            },
        };
        *counts.entry(status.to_string()).or_default() += 1;
        let mut cells = vec![
            Cell::Int(r.row as i64),
            Cell::Str(status.into()),
            error_msg.map_or(Cell::Null, Cell::Str),
        ];
        match card {
            Some(c) => cells.extend(card_cells(c, tags)),
            None => {
                let mut blank = vec![Cell::Null; empty_card];
                match r.key.as_deref().map(CardRef::from_key) {
                    Ok(CardRef::Id(id)) => blank[0] = Cell::Int(id as i64),
                    _ => blank[1] = Cell::Str(r.raw.clone()),
                }
                cells.extend(blank);
            }
        }
        let mut extras = r.extras.into_iter();
        for _ in &j.extra_columns {
            cells.push(extras.next().map_or(Cell::Null, Cell::Str));
        }
        match (hist.as_mut(), card) {
            (Some(h), Some(c)) => h.row(&history_key(c), State::of_card(c), &mut cells)?,
            (Some(h), None) => h.blank(&mut cells),
            (None, _) => {}
        }
        batch.push(cells);
        if batch.len() == 1024 {
            out.rows(std::mem::take(&mut batch))?;
        }
    }
    out.rows(batch)?;
    out.commit()?;
    let detail: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    Ok((
        exit::from_counts(&counts),
        format!(
            "input rows: {}",
            if detail.is_empty() {
                "none".into()
            } else {
                detail.join(", ")
            }
        ),
        counts,
    ))
}
