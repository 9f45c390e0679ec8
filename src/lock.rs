//! The account-wide lock: one destructive run per set of credentials at a time.
//!
//! Two jobs clearing real-name data (or sending SMS) with the same credentials would split one
//! API quota between them and could touch the same cards at once, so a destructive run holds an
//! OS file lock on `<state dir>/gslbatch/locks/<identity>.lock` for as long as it sends. Like the
//! run-dir lock ([`crate::rundir`]) the kernel releases it when the holder dies, so a killed run
//! never blocks the next one. The holder writes its pid and run dir into the file, which is how
//! a second process names it.
//!
//! The state dir is `$GSL_STATE_DIR` when set (tests isolate themselves with it), else
//! `$XDG_STATE_HOME`, else `$HOME/.local/state`. The key is [`Credentials::identity`]: the AK,
//! the IAM user or a hash of the token, never a secret.
//!
//! [`Credentials::identity`]: crate::gsl::auth::Credentials::identity

use crate::exit::Failure;
use std::fs::File;
use std::path::{Path, PathBuf};

/// A held account lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct AccountLock {
    pub path: PathBuf,
    _file: File,
}

/// The user's state directory for gslbatch, from the environment.
pub fn state_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(d) = var("GSL_STATE_DIR") {
        return Some(PathBuf::from(d));
    }
    let base = var("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".local").join("state")))?;
    Some(base.join("gslbatch"))
}

/// `identity` as a safe file name: ASCII letters, digits, `-`, `_` and `.` kept, the rest `_`.
pub fn file_name(identity: &str) -> String {
    let mut s: String = identity
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        s.insert(0, '_');
    }
    s.truncate(200);
    format!("{s}.lock")
}

/// Take the account lock for `identity` on behalf of the run in `run_dir`, or exit 2 naming the
/// process (pid and run dir) that holds it.
pub fn account(identity: &str, run_dir: &Path) -> Result<AccountLock, Failure> {
    let dir = state_dir()
        .ok_or_else(|| {
            Failure::usage(
                "no state directory for the account lock: set HOME, XDG_STATE_HOME or GSL_STATE_DIR",
            )
        })?
        .join("locks");
    crate::rundir::create_private_dir(&dir)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join(file_name(identity));
    let shown = std::fs::canonicalize(run_dir).unwrap_or_else(|_| run_dir.to_path_buf());
    let stamp = format!("{}\n{}", std::process::id(), shown.display());
    let f = match crate::rundir::lock_file(&path, &stamp)? {
        Ok(f) => f,
        Err(s) => {
            let mut lines = s.lines();
            let pid = lines.next().unwrap_or("").trim();
            let other = lines.next().unwrap_or("").trim();
            return Err(Failure::usage(format!(
                "another destructive run with the same credentials is in progress{}{}: one at a time per account (lock {})",
                if pid.is_empty() { String::new() } else { format!(" (pid {pid}") },
                if pid.is_empty() {
                    String::new()
                } else if other.is_empty() {
                    ")".to_string()
                } else {
                    format!(", run dir {other})")
                },
                path.display()
            )));
        }
    };
    Ok(AccountLock { path, _file: f })
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn identities_become_safe_file_names() {
        assert_eq!(file_name("ak-ABC123"), "ak-ABC123.lock");
        assert_eq!(file_name("iam-dom/ain-us er"), "iam-dom_ain-us_er.lock");
        assert_eq!(file_name("../x"), "_.._x.lock");
        assert_eq!(file_name(""), "_.lock");
    }
}
