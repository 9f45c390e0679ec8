//! The confirmation a run that changes cards needs: asked on a terminal, `--yes` otherwise.

use crate::exit::Failure;
use std::io::IsTerminal;

/// Ask on a TTY; refuse without one (exit 2) unless `--yes`.
pub fn confirm(question: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !(std::io::stderr().is_terminal() && std::io::stdin().is_terminal()) {
        return Err(Failure::usage(format!(
            "{question}\nrefusing without a terminal to confirm on: add --yes"
        )));
    }
    eprint!("{question}\ntype yes to go on: ");
    let mut answer = String::new();
    let tty = std::fs::File::open("/dev/tty").map(std::io::BufReader::new);
    let read = match tty {
        Ok(mut t) => std::io::BufRead::read_line(&mut t, &mut answer),
        Err(_) => std::io::stdin().read_line(&mut answer),
    };
    match read {
        Ok(_) if answer.trim().eq_ignore_ascii_case("yes") => Ok(()),
        _ => Err(Failure::usage("not confirmed: nothing was sent")),
    }
}
