//! `status RUN_DIR`: where a run stands, readable while it is live (`--json` for scripts); the
//! view is [`crate::report::status`].

use crate::cli::StatusArgs;
use crate::exit::{Failure, OK};
use crate::report::status::RunStatus;

pub fn run(args: StatusArgs) -> Result<i32, Failure> {
    let status = RunStatus::read(&args.run_dir, crate::run::settings::effective)
        .map_err(|e| Failure::usage(e.to_string()))?;
    if args.json {
        let v = status.to_json();
        crate::out!("{}", serde_json::to_string_pretty(&v).expect("json"));
    } else {
        crate::out!("{}", status.to_text().trim_end_matches('\n'));
    }
    Ok(OK)
}
