//! Thin: parse flags, set up logs, run the command, map the result to an exit code.

use std::process::ExitCode;

/// mimalloc instead of glibc's allocator: a fast run allocates a few small buffers per request
/// on two runtime threads and the journal writer, and glibc's malloc and free were a tenth of
/// its CPU (see the README's performance section). Built without transparent huge pages
/// (`no_thp`): with them, a million-row run peaked at 78–97 MB instead of 69.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = gslbatch::cli::parse();
    // A job file is read once, here: logging starts with its keys, and it runs from the same text.
    let job = gslbatch::job::JobText::of(&cli);
    gslbatch::logging::set_color(cli.globals.color);
    gslbatch::logging::init(gslbatch::job::log_settings(&cli.globals, job.as_ref()));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            gslbatch::say!("error: cannot start the async runtime: {e}");
            return ExitCode::from(gslbatch::exit::ABORTED as u8);
        }
    };
    let result = runtime.block_on(gslbatch::cmd::dispatch(cli, job));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    gslbatch::exit::report(result)
}
