//! How every paged list of the API is walked, in one place: `limit` rows a page (500, the most
//! any list takes), `offset` a page number from 1 (not a row offset), and a walk is over when a
//! page comes back short, when `count` rows were seen, or at the last page number the API
//! takes. The listings, `follow` and the tag lookup all stop by [`last_page`].

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

/// Whether page `page`, which brought `got` rows (`seen` in all so far) of a list of `count`,
/// is the last one to read.
pub fn last_page(page: u32, got: usize, seen: u64, count: i64) -> bool {
    got < LIMIT as usize || seen as i64 >= count || page >= MAX_PAGE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_stops_on_a_short_page_on_count_and_at_the_cap() {
        assert_eq!(pages_for(0), 0);
        assert_eq!(pages_for(500), 1);
        assert_eq!(pages_for(501), 2);
        assert_eq!(pages_for(i64::MAX), MAX_PAGE);
        assert!(last_page(1, 499, 499, 10_000), "short page");
        assert!(last_page(2, 500, 1000, 1000), "count reached");
        assert!(last_page(MAX_PAGE, 500, 1, i64::MAX), "the cap");
        assert!(!last_page(1, 500, 500, 1000));
    }
}
