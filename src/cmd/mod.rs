//! One file per subcommand, each `run(args) -> Result<exit code, Failure>`.

pub mod batch;
pub mod drive;
pub mod follow;
pub mod inventory;
pub mod listing;
pub mod pool_members;
pub mod progress;
pub mod report;
pub mod resume;
pub mod run;
pub mod send_sms;
pub mod set_tags;
pub mod signals;
pub mod simulate;
pub mod start;
pub mod status;

use crate::cli::{Cli, Command};
use crate::engine::operation::{CheckRealName, ClearRealName};
use crate::exit::Failure;
use std::sync::Arc;

/// Run the parsed command line; the `Ok` value is the exit code.
pub async fn dispatch(cli: Cli) -> Result<i32, Failure> {
    let log = cli.log_settings();
    match cli.command {
        Command::CheckRealName(a) => batch::run(Arc::new(CheckRealName), a, log).await,
        Command::ClearRealName(a) => batch::run(Arc::new(ClearRealName), a, log).await,
        Command::Run(a) => run::run(a, log).await,
        Command::SendSms(a) => send_sms::run(a, log).await,
        Command::SetTags(a) => set_tags::run(a, log).await,
        Command::Follow(a) => follow::run(a, log).await,
        Command::Resume(a) => resume::run(a, log).await,
        Command::Status(a) => status::run(a),
        Command::Report(a) => report::run(a),
        Command::Simulate(a) => simulate::run(a).await,
        Command::Inventory(a) => inventory::run(a).await,
        Command::PoolMembers(a) => pool_members::run(a).await,
    }
}
