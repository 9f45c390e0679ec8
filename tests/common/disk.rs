//! A small tmpfs, to fill the disk under a journal or a report.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A small tmpfs for the journal, to fill it up (needs root; `None` where mounting is refused).
pub struct SmallDisk(pub PathBuf);

/// Set to skip the full-disk tests where no tmpfs can be mounted (they need root); without it
/// such a machine fails them, so a run that skipped them says so.
pub const SKIP_FULL_DISK: &str = "GSL_TEST_SKIP_FULL_DISK";

impl SmallDisk {
    /// A tmpfs of `size` at `at`. Where none can be mounted the test fails, unless
    /// [`SKIP_FULL_DISK`] is set: then `None`, and the test says on stderr that it did not run.
    pub fn mount_or_skip(at: &Path, size: &str, what: &str) -> Option<SmallDisk> {
        if let Some(d) = SmallDisk::mount(at, size) {
            return Some(d);
        }
        let skip = std::env::var_os(SKIP_FULL_DISK).is_some_and(|v| !v.is_empty() && v != "0");
        assert!(
            skip,
            "cannot mount a tmpfs here (needs root), so {what} cannot run: run the tests as \
             root, or set {SKIP_FULL_DISK}=1 to skip it explicitly"
        );
        eprintln!("SKIPPED ({SKIP_FULL_DISK} is set): {what} did not run");
        None
    }

    pub fn mount(at: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(at.to_path_buf()))
    }

    /// Take every free byte with a filler file.
    pub fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        for chunk in [1 << 20, 4096, 1] {
            let buf = vec![0u8; chunk];
            while f.write_all(&buf).is_ok() {}
        }
    }

    pub fn grow(&self, size: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success(), "remount");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}
