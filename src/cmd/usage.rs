//! `usage`: flow total, used and left per card ([`crate::listing::usage`]).

use crate::cli::UsageArgs;
use crate::exit::Failure;

pub async fn run(args: UsageArgs) -> Result<i32, Failure> {
    crate::listing::usage::run(args).await
}
