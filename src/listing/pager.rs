//! Paging a list API at its quota. A list call is idempotent, so every page is simply retried
//! (429 slows the pacer, busy and lost answers back off and try again) until it arrives or its
//! attempts run out. Page 1 goes out alone — it proves the credentials and tells how many pages
//! there are — then the rest go out through the same pacer with a few in flight, and are handed
//! on strictly in page order.

use crate::exit::Failure;
use crate::flow::fanout;
use crate::flow::pacer::Pacer;
use crate::flow::retry::{self, ReadStats};
use crate::gsl::{paging, Client, GslError};
use std::collections::BTreeMap;
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;

/// Rows per list call: the most the API allows.
pub const PAGE_LIMIT: u32 = paging::LIMIT;

/// Lists run at this share of their rate; see [`Pager::new`].
const LIST_HEADROOM: f64 = 0.98;

/// One page as the list API answered it: the total `count` and this page's items.
pub type PageResult<T> = Result<(i64, Vec<T>), GslError>;
type PageFuture<T> = Pin<Box<dyn Future<Output = PageResult<T>> + Send>>;
/// Fetch page `offset` (a page number from 1) with `limit` rows.
pub type Fetch<T> = Arc<dyn Fn(Client, u32) -> PageFuture<T> + Send + Sync>;
/// Look up the items one key names.
pub type Lookup<T> = Arc<dyn Fn(Client, String) -> PageFuture<T> + Send + Sync>;

/// A list paged at its quota through one pacer.
pub struct Pager {
    client: Client,
    pacer: Arc<Pacer>,
    max_attempts: u32,
    /// Pages in flight at most after the first.
    window: usize,
    pub stats: Arc<ReadStats>,
}

impl Pager {
    pub fn new(client: Client, api: &str, rate: f64, max_attempts: u32) -> Pager {
        Pager {
            client,
            // A listing is a few dozen to a few thousand calls, where one 429 is a whole wasted
            // slot of a 1/s quota; 2% spacing (20 ms a second) absorbs the arrival jitter that
            // the pacer's own 0.7% headroom (7 ms) does not.
            pacer: Arc::new(Pacer::new(api, rate * LIST_HEADROOM)),
            max_attempts,
            window: ((rate * 2.0).ceil() as usize).clamp(2, 64),
            stats: Arc::default(),
        }
    }

    /// One call, retried as an idempotent call is: 429s do not count as attempts.
    pub async fn call<T>(&self, fetch: &Fetch<T>, page: u32) -> PageResult<T> {
        call(
            &self.client,
            &self.pacer,
            &self.stats,
            self.max_attempts,
            fetch,
            page,
        )
        .await
    }

    /// Every page, handed to `on_page` in page order. Stops at the first short page, or at the
    /// last page the counts announce. A failing page (after its retries) ends the listing.
    pub async fn each_page<T: Send + 'static>(
        &self,
        fetch: Fetch<T>,
        on_page: impl FnMut(Vec<T>) -> Result<(), Failure>,
    ) -> Result<Result<(), GslError>, Failure> {
        match self.call(&fetch, 1).await {
            Ok(first) => self.pages_after(fetch, first, on_page).await,
            Err(e) => Ok(Err(e)),
        }
    }

    /// [`Self::each_page`] once page 1 (`first`, with the list's count) is in hand. The pages
    /// after it are fetched up to [`Pager::window`] ahead, as far as [`paging::Walk`] allows,
    /// and handed on strictly in page order.
    pub async fn pages_after<T: Send + 'static>(
        &self,
        fetch: Fetch<T>,
        (count, first): (i64, Vec<T>),
        mut on_page: impl FnMut(Vec<T>) -> Result<(), Failure>,
    ) -> Result<Result<(), GslError>, Failure> {
        let mut pages = paging::Walk::new();
        pages.next_page();
        let last = pages.took(first.len(), count);
        on_page(first)?;
        if last {
            return Ok(Ok(()));
        }
        let pages = std::cell::RefCell::new(pages);
        let mut arrived: BTreeMap<u32, (i64, Vec<T>)> = BTreeMap::new();
        let mut next_emit = 2u32;
        let mut end: Result<Result<(), GslError>, Failure> = Ok(Ok(()));
        fanout::each(
            || {
                let mut w = pages.borrow_mut();
                match w.ahead() < self.window as u32 {
                    true => w.next_page(),
                    false => None,
                }
            },
            self.window,
            |page| {
                let (client, pacer, stats, fetch) = (
                    self.client.clone(),
                    self.pacer.clone(),
                    self.stats.clone(),
                    fetch.clone(),
                );
                let max = self.max_attempts;
                async move { (page, call(&client, &pacer, &stats, max, &fetch, page).await) }
            },
            |_, (page, result)| {
                match result {
                    Ok(answer) => arrived.insert(page, answer),
                    Err(e) => {
                        end = Ok(Err(e));
                        return ControlFlow::Break(());
                    }
                };
                while let Some((count, items)) = arrived.remove(&next_emit) {
                    let last = pages.borrow_mut().took(items.len(), count);
                    next_emit += 1;
                    if let Err(f) = on_page(items) {
                        end = Err(f);
                        return ControlFlow::Break(());
                    }
                    if last {
                        // The end of the list: pages still in flight are past it.
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::Continue(())
            },
        )
        .await;
        end
    }

    /// One call per key (`lookup` answers the cards it names), through the same pacer with the
    /// same pages in flight; each answer goes to `on_found` as it arrives. A failing call
    /// (after its retries) ends the lookups.
    pub async fn each_lookup<T: Send + 'static>(
        &self,
        keys: Vec<String>,
        lookup: Lookup<T>,
        mut on_found: impl FnMut(Vec<T>) -> Result<(), Failure>,
    ) -> Result<Result<(), GslError>, Failure> {
        let mut keys = keys.into_iter();
        let mut end: Result<Result<(), GslError>, Failure> = Ok(Ok(()));
        fanout::each(
            || keys.next(),
            self.window,
            |key| {
                let (client, pacer, stats, lookup) = (
                    self.client.clone(),
                    self.pacer.clone(),
                    self.stats.clone(),
                    lookup.clone(),
                );
                let max = self.max_attempts;
                async move {
                    retry::read(&pacer, max, &stats, || lookup(client.clone(), key.clone())).await
                }
            },
            |_, result| {
                end = match result {
                    Ok((_, items)) => on_found(items).map(Ok),
                    Err(e) => Ok(Err(e)),
                };
                match &end {
                    Ok(Ok(())) => ControlFlow::Continue(()),
                    _ => ControlFlow::Break(()),
                }
            },
        )
        .await;
        end
    }
}

async fn call<T>(
    client: &Client,
    pacer: &Pacer,
    stats: &ReadStats,
    max_attempts: u32,
    fetch: &Fetch<T>,
    page: u32,
) -> PageResult<T> {
    retry::read(pacer, max_attempts, stats, || fetch(client.clone(), page)).await
}

/// The exit for a list query that could not be answered: 3 when the credentials were refused
/// (like a run's abort), otherwise 1 with the API's words.
pub fn query_failure(what: &str, err: &GslError, client: &Client) -> Failure {
    match err {
        GslError::Unauthorized { .. } | GslError::Auth(_) => Failure::aborted(format!(
            "{what}: {}; check the credentials",
            err.rejection(client.credentials().mode())
        )),
        GslError::Refused(f) => Failure::failed(format!(
            "{what}: the API refused the query: {} {} {}",
            f.http_status, f.error_code, f.error_msg
        )),
        other => Failure::failed(format!("{what}: no answer after retries: {other}")),
    }
}
