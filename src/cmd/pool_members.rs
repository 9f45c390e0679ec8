//! `pool-members`: a flow pool's members in one billing cycle ([`crate::listing::pools`]).

use crate::cli::PoolMembersArgs;
use crate::exit::Failure;

pub async fn run(args: PoolMembersArgs) -> Result<i32, Failure> {
    crate::listing::pools::run(args).await
}
