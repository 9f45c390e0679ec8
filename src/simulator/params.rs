//! Query-string parsing with the API's own refusals: a missing or malformed parameter is a
//! `400 GSL.00010004` (or the tag APIs' code), never axum's plain-text rejection.

use super::errors::{ApiError, ApiResult};
use std::str::FromStr;

/// Decoded query pairs of one request.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<&str>) -> Params {
        Params(
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `name`; an empty value counts as absent (clients send `?x=`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// An optional value parsed as `T`; malformed → `err`.
    pub fn opt<T: FromStr>(&self, name: &str, err: fn() -> ApiError) -> ApiResult<Option<T>> {
        self.get(name)
            .map(|v| v.parse::<T>().map_err(|_| err()))
            .transpose()
    }

    /// `limit` (10..=500, default 10) and `offset` (a page number 1..=1_000_000, default 1).
    pub fn paging(&self, err: fn() -> ApiError) -> ApiResult<Page> {
        let limit = self.opt::<usize>("limit", err)?.unwrap_or(10);
        let offset = self.opt::<usize>("offset", err)?.unwrap_or(1);
        if !(10..=500).contains(&limit) || !(1..=1_000_000).contains(&offset) {
            return Err(err());
        }
        Ok(Page { limit, offset })
    }
}

/// One page request: `offset` is a page number starting at 1.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: usize,
    pub offset: usize,
}

impl Page {
    /// Rows to skip before this page.
    pub fn skip(&self) -> usize {
        (self.offset - 1).saturating_mul(self.limit)
    }
}
