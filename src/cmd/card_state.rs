//! The card-state commands (stop, restore, activate, network, speed, data cap, IMEI): their
//! flags checked into an operation ([`crate::ops::card_state`]), then a run like any other.

use crate::cli::{BindImeiArgs, DataCapArgs, SpeedArgs};
use crate::exit::Failure;
use crate::logging::LogSettings;
use crate::ops::{bind_imei, data_cap, speed, Operation};
use crate::run::start::{start, NewRun};
use std::sync::Arc;

pub async fn speed(a: SpeedArgs, log: LogSettings) -> Result<i32, Failure> {
    let kbps = speed::parse_kbps(&a.kbps).map_err(Failure::usage)?;
    go(Arc::new(speed::op(kbps)), a.batch, log).await
}

pub async fn data_cap(a: DataCapArgs, log: LogSettings) -> Result<i32, Failure> {
    let mb = data_cap::from_flags(a.mb, a.cancel).map_err(Failure::usage)?;
    go(Arc::new(data_cap::op(mb)), a.batch, log).await
}

pub async fn bind_imei(a: BindImeiArgs, log: LogSettings) -> Result<i32, Failure> {
    let bind_type = match a.bind_type.unwrap_or(2) {
        t @ (1 | 2) => t,
        t => {
            return Err(Failure::usage(format!(
                "--bind-type {t}: must be 1 (the device in use) or 2 (the row's IMEI)"
            )))
        }
    };
    go(Arc::new(bind_imei::op(bind_type)), a.batch, log).await
}

async fn go(
    op: Arc<dyn Operation>,
    args: crate::cli::BatchArgs,
    log: LogSettings,
) -> Result<i32, Failure> {
    start(NewRun { op, args }, log).await
}
