//! One file per subcommand, each `run(args) -> Result<exit code, Failure>`: glue that parses
//! its arguments and calls the library. No command file imports another.

pub mod card;
pub mod card_state;
pub mod docs;
pub mod follow;
pub mod inventory;
pub mod ledger;
pub mod pool_members;
pub mod report;
pub mod resume;
pub mod run;
pub mod send_sms;
pub mod set_tags;
pub mod simulate;
pub mod status;
pub mod usage;

use crate::cli::{Cli, Command};
use crate::exit::Failure;
use crate::ops::{activate, check::CheckRealName, clear::ClearRealName, cut_net, restore, stop};
use std::sync::Arc;

/// Run the parsed command line; the `Ok` value is the exit code.
pub async fn dispatch(cli: Cli) -> Result<i32, Failure> {
    let log = crate::job::log_settings(&cli);
    // A job file stands for the command it describes.
    let command = match cli.command {
        Command::Run(a) => match run::command(&a)? {
            Some(c) => c,
            None => return Ok(crate::exit::OK),
        },
        c => c,
    };
    match command {
        Command::CheckRealName(a) => card::run(Arc::new(CheckRealName), a, log).await,
        Command::ClearRealName(a) => card::run(Arc::new(ClearRealName), a, log).await,
        Command::Run(_) => Err(Failure::usage("a job file cannot run another job file")),
        Command::SendSms(a) => send_sms::run(a, log).await,
        Command::SetTags(a) => set_tags::run(a, log).await,
        Command::Follow(a) => follow::run(a, log).await,
        Command::Resume(a) => resume::run(a, log).await,
        Command::Status(a) => status::run(a),
        Command::Report(a) => report::run(a),
        Command::Simulate(a) => simulate::run(a).await,
        Command::Inventory(a) => inventory::run(a).await,
        Command::PoolMembers(a) => pool_members::run(a).await,
        Command::Ledger(a) => ledger::run(a),
        Command::StopCard(a) => card::run(Arc::new(stop::op()), a, log).await,
        Command::RestoreCard(a) => card::run(Arc::new(restore::op()), a, log).await,
        Command::ActivateCard(a) => card::run(Arc::new(activate::op()), a, log).await,
        Command::CutNet(a) => card::run(Arc::new(cut_net::op(true)), a, log).await,
        Command::RestoreNet(a) => card::run(Arc::new(cut_net::op(false)), a, log).await,
        Command::SetSpeedLimit(a) => card_state::speed(a, log).await,
        Command::SetDataCap(a) => card_state::data_cap(a, log).await,
        Command::BindImei(a) => card_state::bind_imei(a, log).await,
        Command::Usage(a) => usage::run(a).await,
        Command::Completions { shell } => docs::completions(shell),
        Command::Man => docs::man(),
    }
}
