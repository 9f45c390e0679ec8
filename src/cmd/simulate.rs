//! `simulate`: the built-in GSL simulator in the foreground.

use crate::cli::SimulateArgs;
use crate::exit::{Failure, OK};
use crate::simulator::{self, SimConfig, SimCredentials};

pub async fn run(a: SimulateArgs) -> Result<i32, Failure> {
    let inventory = match &a.inventory {
        Some(p) => {
            Some(simulator::load_inventory_csv(p).map_err(|e| Failure::usage(e.to_string()))?)
        }
        None => None,
    };
    for (name, v) in [
        ("--busy-rate", a.busy_rate),
        ("--drop-rate", a.drop_rate),
        ("--slow-rate", a.slow_rate),
        ("--bad-gateway-rate", a.bad_gateway_rate),
        ("--error500-rate", a.error500_rate),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(Failure::usage(format!(
                "{name} {v}: must be between 0 and 1"
            )));
        }
    }
    let credentials = SimCredentials::from_env();
    if credentials.is_empty() && !a.listen.ip().is_loopback() && !a.allow_any_credential {
        return Err(Failure::usage(format!(
            "simulate --listen {}: not a loopback address, and no GSL_SIM_* credentials are set, \
             so anyone who can reach it could use any credential. Set GSL_SIM_AK and GSL_SIM_SK \
             (or GSL_SIM_TOKEN, or GSL_SIM_IAM_USER and GSL_SIM_IAM_PASSWORD), listen on \
             127.0.0.1, or give --allow-any-credential",
            a.listen
        )));
    }
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(cert), Some(key)) => Some(simulator::tls_config(cert, key).map_err(Failure::usage)?),
        _ => None,
    };
    let cfg = SimConfig {
        cards: a.cards,
        seed: a.seed,
        inventory,
        rate: a.rate,
        list_rate: a.list_rate,
        latency_ms: a.latency_ms,
        busy_rate: a.busy_rate,
        drop_rate: a.drop_rate,
        slow_rate: a.slow_rate,
        bad_gateway_rate: a.bad_gateway_rate,
        error500_rate: a.error500_rate,
        work_order_secs: a.work_order_secs,
        work_order_fail_rate: a.work_order_fail_rate,
        sms_fail_rate: a.sms_fail_rate,
        lockout_secs: a.lockout_secs,
        clock_offset: a.clock_offset.unwrap_or_default(),
        credentials,
        tls,
        day_secs: a.usage.day_secs,
        ..SimConfig::default()
    };
    simulator::run_forever(cfg, a.listen)
        .await
        .map_err(|e| Failure::usage(format!("simulator on {}: {e}", a.listen)))?;
    Ok(OK)
}
