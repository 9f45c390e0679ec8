//! How every paged list of the API is walked, in one place: `limit` rows a page (500, the most
//! any list takes), `offset` a page number from 1 (not a row offset), and a walk is over when a
//! page comes back short, when `count` rows were seen, or at the last page number the API
//! takes.
//!
//! [`Walk`] is that rule as a value: it hands out the page numbers to fetch and is told, page by
//! page in order, what each brought. The listings fetch several pages at once through it
//! (`listing::Pager`); `follow` and the tag lookup go one page at a time with [`walk`].

use std::future::Future;

/// Rows per page: the most the API's lists allow.
pub const LIMIT: u32 = 500;

/// The last page number (`offset`) the API's lists take.
pub const MAX_PAGE: u32 = 1_000_000;

/// Pages a list of `count` rows takes (at most [`MAX_PAGE`]).
pub fn pages_for(count: i64) -> u32 {
    (count.max(0) as u64)
        .div_ceil(u64::from(LIMIT))
        .min(u64::from(MAX_PAGE)) as u32
}

/// One walk through a paged list.
#[derive(Debug, Clone)]
pub struct Walk {
    /// The next page number to hand out.
    next: u32,
    /// Pages taken so far, in order.
    taken: u32,
    /// Rows those pages brought.
    seen: u64,
    /// The most pages the list's latest `count` calls for (page 1 is always fetched).
    planned: u32,
    over: bool,
}

impl Default for Walk {
    fn default() -> Walk {
        Walk {
            next: 1,
            taken: 0,
            seen: 0,
            planned: 1,
            over: false,
        }
    }
}

impl Walk {
    pub fn new() -> Walk {
        Walk::default()
    }

    /// The next page to fetch, while the count announced so far calls for one; `None` once the
    /// walk is over or every announced page was handed out. Fetching ahead is safe: a page
    /// past the end comes back empty, and [`Walk::took`] ends the walk before it.
    pub fn next_page(&mut self) -> Option<u32> {
        if self.over || self.next > self.planned {
            return None;
        }
        self.next += 1;
        Some(self.next - 1)
    }

    /// Pages handed out and not yet taken.
    pub fn ahead(&self) -> u32 {
        self.next - 1 - self.taken
    }

    /// The next page in order brought `got` rows of a list of `count`. Returns whether that
    /// was the last page to read.
    pub fn took(&mut self, got: usize, count: i64) -> bool {
        self.taken += 1;
        self.seen += got as u64;
        self.planned = self.planned.max(pages_for(count)).min(MAX_PAGE);
        self.over = got < LIMIT as usize || self.seen as i64 >= count || self.taken >= MAX_PAGE;
        self.over
    }

    pub fn is_over(&self) -> bool {
        self.over
    }
}

/// Every page of a list, one after the other: `fetch(page)` brings a page's items and the list's
/// count, `on_page` takes them and says whether to go on.
pub async fn walk<T, E, F, Fut>(
    mut fetch: F,
    mut on_page: impl FnMut(Vec<T>, i64) -> bool,
) -> Result<(), E>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, i64), E>>,
{
    let mut pages = Walk::new();
    while let Some(page) = pages.next_page() {
        let (items, count) = fetch(page).await?;
        let last = pages.took(items.len(), count);
        if !on_page(items, count) || last {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A walk over a list of `rows` rows that claims `count`: the pages it fetches.
    fn fetched(rows: u64, count: i64) -> Vec<u32> {
        let mut w = Walk::new();
        let mut pages = Vec::new();
        while let Some(p) = w.next_page() {
            pages.push(p);
            let before = u64::from(p - 1) * u64::from(LIMIT);
            let got = rows.saturating_sub(before).min(u64::from(LIMIT)) as usize;
            if w.took(got, count) {
                break;
            }
        }
        pages
    }

    #[test]
    fn a_walk_stops_on_a_short_page_on_count_and_at_the_cap() {
        assert_eq!(pages_for(0), 0);
        assert_eq!(pages_for(500), 1);
        assert_eq!(pages_for(501), 2);
        assert_eq!(pages_for(i64::MAX), MAX_PAGE);
        assert_eq!(fetched(0, 0), vec![1], "an empty list is one call");
        assert_eq!(fetched(499, 10_000), vec![1], "a short page ends it");
        assert_eq!(
            fetched(1000, 1000),
            vec![1, 2],
            "count reached: no empty page 3"
        );
        assert_eq!(fetched(1200, 1200), vec![1, 2, 3]);
        // A count that undercounts: the walk goes on while pages come back full.
        assert_eq!(fetched(1200, 500), vec![1]);
        assert_eq!(fetched(1200, 501), vec![1, 2]);
    }

    #[test]
    fn pages_are_handed_out_ahead_only_as_far_as_the_count_reaches() {
        let mut w = Walk::new();
        assert_eq!(w.next_page(), Some(1));
        assert_eq!(
            w.next_page(),
            None,
            "nothing beyond page 1 before its count is known"
        );
        assert!(!w.took(500, 1750));
        assert_eq!(
            (w.next_page(), w.next_page(), w.next_page()),
            (Some(2), Some(3), Some(4))
        );
        assert_eq!(w.next_page(), None);
        assert_eq!(w.ahead(), 3);
        assert!(!w.took(500, 1750));
        assert!(!w.took(500, 1750));
        assert!(w.took(250, 1750));
        assert!(w.is_over());
        assert_eq!(w.next_page(), None);
    }

    #[test]
    fn the_cap_ends_a_walk_whose_count_never_does() {
        let mut w = Walk::new();
        let mut calls = 0u32;
        while let Some(_page) = w.next_page() {
            calls += 1;
            if w.took(LIMIT as usize, i64::MAX) {
                break;
            }
        }
        assert_eq!(calls, MAX_PAGE);
    }

    #[tokio::test]
    async fn walk_fetches_in_order_and_stops_when_told() {
        let mut asked = Vec::new();
        let mut got = 0;
        walk::<u32, (), _, _>(
            |p| {
                asked.push(p);
                async move { Ok((vec![p; LIMIT as usize], 10_000)) }
            },
            |items, _| {
                got += items.len();
                got < 1500
            },
        )
        .await
        .unwrap();
        assert_eq!(asked, vec![1, 2, 3]);
        assert_eq!(got, 1500);
    }
}
