//! Thin: parse flags, set up logs, run the command, map the result to an exit code.

use clap::Parser;

fn main() {
    let cli = gslbatch::cli::Cli::parse();
    gslbatch::logging::init(gslbatch::job::log_settings(&cli));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = match runtime.block_on(gslbatch::cmd::dispatch(cli)) {
        Ok(code) => code,
        Err(f) => {
            if gslbatch::logging::json_logs() {
                tracing::error!(exit_code = f.code, "{f}");
            } else {
                eprintln!("error: {f}");
            }
            f.code
        }
    };
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    std::process::exit(code);
}
