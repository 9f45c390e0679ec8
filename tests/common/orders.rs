//! A clear run whose work orders are still processing when `follow` first reads them.

use gslbatch::simulator::{SimConfig, Simulator};
use std::path::PathBuf;

use super::binary::{batch, follow_cmd, run, Ran};
use super::input::{tempdir, write_csv};
use super::sim::{start_sim, stat_u64, telecom_iccids};

/// What [`clear_then_follow_while_processing`] left.
pub struct Processing {
    pub sim: Simulator,
    pub dir: tempfile::TempDir,
    pub run_dir: PathBuf,
    pub iccids: Vec<String>,
    /// The first `follow` (`follow_cmd`), made while every order was processing.
    pub first: Ran,
    /// How long the simulator's work orders take.
    pub secs: f64,
}

/// A clear run of `n` China Telecom cards of a simulator of `cards`, at `rate`, then a first
/// `follow`, such that every work order was still processing when that follow ended: the
/// simulator's own count says so, so the follow read them processing. The orders take 3 s; a
/// machine stalled longer than that between the clears and the follow has the scenario set up
/// again with four times the delay (3 tries at most, then the test fails): what the caller
/// asserts about the first follow holds every time, on any machine.
pub async fn clear_then_follow_while_processing(cards: usize, n: usize, rate: u32) -> Processing {
    let mut secs = 3.0;
    for _ in 0..3 {
        let sim = start_sim(SimConfig {
            cards,
            work_order_secs: secs,
            ..SimConfig::default()
        })
        .await;
        let dir = tempdir();
        let iccids = telecom_iccids(&sim, n);
        let input = write_csv(dir.path(), "in.csv", &iccids);
        let run_dir = dir.path().join("run");
        let ran = run(batch("clear-real-name", &input, &sim, &run_dir, rate)).await;
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        let first = run(follow_cmd(&run_dir)).await;
        if stat_u64(&sim.stats(), "work_orders_processing") == n as u64 {
            return Processing {
                sim,
                dir,
                run_dir,
                iccids,
                first,
                secs,
            };
        }
        eprintln!(
            "the work orders of {secs} s finished before the first follow ended: again, slower"
        );
        secs *= 4.0;
    }
    panic!("the machine never let a follow run within a work order's {secs} s");
}
