//! `ledger rebuild RUN_DIR...`: recreate the account ledger's entries from run journals (the
//! ledger is an index of what the journals hold; deleting it loses nothing they know).

use crate::cli::LedgerCommand;
use crate::exit::{Failure, OK};
use crate::journal::Journal;
use crate::ledger;
use crate::ops;

pub fn run(cmd: LedgerCommand) -> Result<i32, Failure> {
    let LedgerCommand::Rebuild { run_dirs } = cmd;
    for dir in run_dirs {
        let journal = Journal::open_read(&dir).map_err(|e| Failure::usage(e.to_string()))?;
        let meta = journal.meta().map_err(|e| Failure::usage(e.to_string()))?;
        let op = ops::from_meta(&meta).ok_or_else(|| {
            Failure::usage(format!(
                "run dir {} holds a {} run, which this version cannot read",
                dir.display(),
                meta.operation
            ))
        })?;
        if !ledger::applies(op.as_ref()) {
            crate::say!(
                "{}: a {} run is safe to repeat: the ledger keeps nothing of it",
                dir.display(),
                meta.operation
            );
            continue;
        }
        let mut l = ledger::open(&meta)?;
        let n = l
            .rebuild_from(&ledger::key(op.as_ref(), &meta, &dir), &journal)
            .map_err(|e| Failure::aborted(e.to_string()))?;
        crate::say!(
            "{}: {n} {} entries recorded in {}",
            dir.display(),
            meta.operation,
            l.path().display()
        );
    }
    Ok(OK)
}
