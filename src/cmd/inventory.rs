//! `inventory`: the fleet from the SIM card list, joined with INPUT if given
//! ([`crate::listing::inventory`]).

use crate::cli::InventoryArgs;
use crate::exit::Failure;

pub async fn run(args: InventoryArgs) -> Result<i32, Failure> {
    crate::listing::inventory::run(args).await
}
