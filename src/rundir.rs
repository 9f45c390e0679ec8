//! A run directory and the lock that lets one process drive it at a time.
//!
//! The lock is an OS file lock on `run.lock`, so the kernel releases it when the holder dies
//! (a killed run never blocks its own resume). The holder writes its pid into the file, which is
//! how a second process can name it.

use crate::exit::Failure;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const LOCK_FILE: &str = "run.lock";

/// Creates `dir` and its missing parents 0700, whatever the umask: run dirs and the state dir
/// hold the account's card lists and what was done to them, which are no other user's business.
/// A directory that already exists is left as it is.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .collect();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    for d in missing {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Creates `path` empty and 0600, whatever the umask, unless it exists: done before SQLite
/// opens a journal or ledger, so the file (and its `-wal` and `-shm`, which SQLite makes with
/// the file's mode) is readable by its owner alone.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(f) => f.set_permissions(std::fs::Permissions::from_mode(0o600)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// A run dir's name that no directory holds yet: `<base><tail>` itself when it is free, else
/// `<base>-2<tail>`, `<base>-3<tail>`... (`tail` is `-rehearsal` for a rehearsal, or empty).
/// Names carry the start's time to the second, so two runs started within one second would
/// otherwise meet in one directory (the second resuming, or refused by the first's lock).
/// The name is free when chosen; the directory is made when the run locks it, a few lines of
/// the start later.
pub fn unused_name(base: &Path, tail: &str) -> PathBuf {
    let named = |n: u32| {
        let mut s = base.as_os_str().to_os_string();
        if n > 1 {
            s.push(format!("-{n}"));
        }
        s.push(tail);
        PathBuf::from(s)
    };
    (1..=MAX_SAME_NAME)
        .map(named)
        .find(|d| !d.exists())
        .unwrap_or_else(|| named(MAX_SAME_NAME))
}

/// How many runs may start with one name (one second) before the last is reused.
const MAX_SAME_NAME: u32 = 10_000;

/// A locked run directory; the lock lasts as long as this value.
#[derive(Debug)]
pub struct RunDir {
    pub path: PathBuf,
    _lock: File,
}

/// Take the OS lock on `path` and write `stamp` (who holds it) into the file.
/// `Ok(Err(text))`: another process holds it, and `text` is what it wrote.
pub(crate) fn lock_file(path: &Path, stamp: &str) -> Result<Result<File, String>, Failure> {
    let mut f = {
        use std::os::unix::fs::OpenOptionsExt;
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| Failure::usage(format!("cannot open {}: {e}", path.display())))?
    };
    // 0600 whatever the umask (a lock names the run dir); another user's file stays as it is.
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = f.set_permissions(std::fs::Permissions::from_mode(0o600));
    }
    // `holder` (a `status` poll) takes the lock for an instant to see whether anyone holds
    // it: a few tries over 200 ms tell that from a process that really holds it.
    let mut tries = 0;
    while f.try_lock().is_err() {
        tries += 1;
        if tries == LOCK_TRIES {
            return Ok(Err(read_stamp(&mut f)));
        }
        std::thread::sleep(LOCK_RETRY);
    }
    let _ = f.set_len(0);
    let _ = f.seek(SeekFrom::Start(0));
    let _ = writeln!(f, "{stamp}");
    let _ = f.sync_all();
    Ok(Ok(f))
}

const LOCK_TRIES: u32 = 10;
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(20);

/// What the holder wrote. A holder that has just taken the lock may not have written its stamp
/// yet (the file is emptied first), so an empty file is read again for up to 200 ms.
fn read_stamp(f: &mut File) -> String {
    let mut s = String::new();
    for _ in 0..LOCK_TRIES {
        s.clear();
        let _ = f.seek(SeekFrom::Start(0));
        let _ = f.read_to_string(&mut s);
        if !s.trim().is_empty() {
            break;
        }
        std::thread::sleep(LOCK_RETRY);
    }
    s
}

/// Whether a live process holds the run dir's lock (whether or not its stamp can be read).
pub fn is_held(dir: &Path) -> bool {
    let Ok(f) = OpenOptions::new().read(true).open(dir.join(LOCK_FILE)) else {
        return false;
    };
    match f.try_lock() {
        Ok(()) => {
            let _ = f.unlock();
            false
        }
        Err(_) => true,
    }
}

/// The pid recorded in a run dir's lock file, if a live process holds the lock.
pub fn holder(dir: &Path) -> Option<u32> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .ok()?;
    match f.try_lock() {
        Ok(()) => {
            let _ = f.unlock();
            None
        }
        Err(_) => read_stamp(&mut f).trim().parse().ok(),
    }
}

impl RunDir {
    /// Lock `dir`, creating it when `create` is set.
    pub fn lock(dir: &Path, create: bool) -> Result<RunDir, Failure> {
        if create {
            create_private_dir(dir).map_err(|e| {
                Failure::usage(format!("cannot create run dir {}: {e}", dir.display()))
            })?;
        } else if !dir.is_dir() {
            return Err(Failure::usage(format!(
                "run dir {} does not exist",
                dir.display()
            )));
        }
        let f = match lock_file(&dir.join(LOCK_FILE), &std::process::id().to_string())? {
            Ok(f) => f,
            Err(holder) => {
                let who = holder.trim();
                return Err(Failure::usage(format!(
                    "run dir {} is in use by another gslbatch process{}",
                    dir.display(),
                    if who.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {who})")
                    }
                )));
            }
        };
        Ok(RunDir {
            path: dir.to_path_buf(),
            _lock: f,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_name_gets_the_next_number_before_its_tail() {
        let tmp = tempfile::tempdir().unwrap();
        let tmp = tmp.path();
        let base = tmp.join("clear-real-name-20261205-101500");
        assert_eq!(unused_name(&base, ""), base);
        create_private_dir(&base).unwrap();
        let second = tmp.join("clear-real-name-20261205-101500-2");
        assert_eq!(unused_name(&base, ""), second);
        create_private_dir(&second).unwrap();
        assert_eq!(
            unused_name(&base, ""),
            tmp.join("clear-real-name-20261205-101500-3")
        );
        assert_eq!(
            unused_name(&base, "-rehearsal"),
            tmp.join("clear-real-name-20261205-101500-rehearsal"),
            "a rehearsal's name is taken apart from the real run's"
        );
    }
}
