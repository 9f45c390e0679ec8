//! `completions SHELL` and `man`: the command line described for shells and `man`, generated
//! from the same clap definitions as `--help`, so they can never disagree with it.

use crate::exit::{Failure, OK};
use std::io::Write;

/// A shell's completion script on stdout, e.g. `gslbatch completions bash > /etc/bash_completion.d/gslbatch`.
pub fn completions(shell: clap_complete::Shell) -> Result<i32, Failure> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut crate::cli::command(), "gslbatch", &mut out);
    print(&out)
}

/// The man page (roff) on stdout, e.g. `gslbatch man > /usr/local/share/man/man1/gslbatch.1`.
pub fn man() -> Result<i32, Failure> {
    let mut out = Vec::new();
    clap_mangen::Man::new(crate::cli::command())
        .render(&mut out)
        .map_err(|e| Failure::aborted(format!("cannot render the man page: {e}")))?;
    print(&out)
}

/// Write to stdout; a reader that went away (`| head`) just ends it.
fn print(bytes: &[u8]) -> Result<i32, Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::aborted(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(OK),
    }
}
