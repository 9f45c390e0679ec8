//! Job files: errors name the key and line or the path, placeholders expand, flags win over the
//! environment which wins over the file, and every file shipped under `jobs/` runs as a rehearsal.

use crate::common::*;
use gslbatch::simulator::{SimConfig, Simulator};
use std::path::{Path, PathBuf};

fn job(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Write job file `name` and run it against `sim` (through `GSL_ENDPOINT`) with `extra` flags.
async fn run_job_against(
    sim: &Simulator,
    dir: &Path,
    name: &str,
    text: &str,
    extra: &[&str],
) -> Ran {
    let mut cmd = run_job(&job(dir, name, text));
    cmd.env("GSL_ENDPOINT", sim.url()).args(extra);
    run(cmd).await
}

fn run_job(path: &Path) -> std::process::Command {
    let mut cmd = gsl();
    cmd.arg("run").arg(path).arg("-q");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_job_files_exit_2_naming_the_key_line_or_path() {
    let dir = tempdir();
    write_csv(dir.path(), "in.csv", &["89860312345678901234".into()]);
    let cases = [
        (
            "operation = \"check-real-name\"\ninput = \"in.csv\"\nspeed = 3\n",
            &["`speed`", "line 3"][..],
        ),
        (
            "operation = \"check-real-name\"\ninput = \"in.csv\"\n\nrate = \"fast\"\n",
            &["`rate`", "line 4"][..],
        ),
        (
            "operation = \"check-real-name\"\ninput = \"missing.csv\"\n",
            &["missing.csv", "does not exist"][..],
        ),
        (
            "operation = \"wipe-everything\"\ninput = \"in.csv\"\n",
            &["`operation`", "wipe-everything"][..],
        ),
        (
            "operation = \"check-real-name\"\ninput = \"in.csv\"\nrun_dir = \"r-{day}\"\n",
            &["`run_dir`", "{day}"][..],
        ),
        (
            "operation = \"send-sms\"\ninput = \"in.csv\"\n[sms]\nbatch_size = \"x\"\n",
            &["`batch_size`", "line 4"][..],
        ),
        (
            "operation = \"set-tags\"\ninput = \"in.csv\"\n",
            &["set-tags needs a [tags] table"][..],
        ),
        (
            "operation = \"send-sms\"\ninput = \"in.csv\"\n[sms]\ncontent = \"x\"\nbatch_size = 800\n",
            &["`sms.batch_size`: 800 is not 1..=500"][..],
        ),
        (
            "operation = \"check-real-name\"\ninput = \"in.csv\"\n[tags]\nnames = [\"a\"]\n",
            &["[tags] table is for"][..],
        ),
        (
            "operation = \"pool-members\"\n[pool]\nid = 3001\nbilling_cycle = \"{week}\"\n",
            &["`pool.billing_cycle`", "{week}"][..],
        ),
        (
            "operation = \"pool-members\"\ninput = \"in.csv\"\n[pool]\nid = 1\nbilling_cycle = \"2026-01\"\n",
            &["reads no input"][..],
        ),
    ];
    for (i, (text, needles)) in cases.iter().enumerate() {
        let p = job(dir.path(), &format!("bad{i}.toml"), text);
        let ran = run(run_job(&p)).await;
        assert_eq!(ran.code, 2, "{text}\n{}", ran.stderr);
        for n in *needles {
            assert!(ran.stderr.contains(n), "{text}: names {n}: {}", ran.stderr);
        }
        assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placeholders_expand_and_flag_beats_env_beats_file() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let jobs = dir.path().join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    let ids: Vec<String> = sim.cards().into_iter().take(20).map(|c| c.iccid).collect();
    write_csv(dir.path(), "in.csv", &ids);
    // The file's endpoint leads nowhere and its rate would take 20 s: the overrides must win.
    let p = job(
        &jobs,
        "nightly.toml",
        "operation = \"check-real-name\"\ninput = \"../in.csv\"\nrun_dir = \"../runs/n-{date}-{utcdate}\"\nendpoint = \"http://127.0.0.1:9\"\nrate = 1\n",
    );
    let mut cmd = run_job(&p);
    cmd.env("GSL_ENDPOINT", sim.url()).args(["--rate", "1000"]);
    let dated = || {
        dir.path().join("runs").join(format!(
            "n-{}-{}",
            chrono::Local::now().format("%Y-%m-%d"),
            chrono::Utc::now().format("%Y-%m-%d")
        ))
    };
    let before = dated();
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let busiest = stat_u64(&sim.stats()["max_requests_in_any_second"], "real-named");
    assert!(
        busiest > 1,
        "--rate beat the file's 1/s: {busiest} calls in one second"
    );
    // The run may have crossed midnight.
    let expected = if before.exists() { before } else { dated() };
    let rows = read_report(&expected.join("report.csv"));
    assert_eq!(count(&rows, "ok"), 20);

    // A flag beats the environment: a dead GSL_ENDPOINT, the simulator via --endpoint.
    let mut cmd = run_job(&p);
    cmd.env("GSL_ENDPOINT", "http://127.0.0.1:9")
        .args(["--endpoint", &sim.url(), "--rate", "1000", "--run-dir"])
        .arg(dir.path().join("flagged"));
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(calls(&sim.stats(), "real-named", "ok"), 40);

    // The same job started again (same inputs and endpoint): its run is finished, exit 0 at
    // once, nothing sent — even from another working directory.
    let mut cmd = run_job(&p);
    cmd.env("GSL_ENDPOINT", sim.url())
        .args(["--rate", "1000"])
        .current_dir(&jobs);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(calls(&sim.stats(), "real-named", "ok"), 40);

    // Another job on that run dir: exit 2.
    let other = job(
        &jobs,
        "other.toml",
        "operation = \"clear-real-name\"\ninput = \"../in.csv\"\nrun_dir = \"../runs/n-{date}-{utcdate}\"\nyes = true\n",
    );
    let mut cmd = run_job(&other);
    cmd.env("GSL_ENDPOINT", sim.url());
    let ran = run(cmd).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert_eq!(stat_u64(&sim.stats(), "work_orders_created"), 0);
}

/// Data rows of a CSV input (the header not counted).
fn input_rows(path: &Path) -> usize {
    csv::Reader::from_path(path).unwrap().records().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_tags_and_pool_members_run_from_job_files() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let cards = sim.cards();
    let ids: Vec<String> = cards.iter().take(30).map(|c| c.iccid.clone()).collect();
    write_csv(dir.path(), "in.csv", &ids);
    let tags = "operation = \"set-tags\"\ninput = \"in.csv\"\nrun_dir = \"tag-run\"\nrate = 1000\nyes = true\n[tags]\nnames = [\"fleet-a\", \"resold\"]\nbatch_size = 10\n";
    let ran = run_job_against(&sim, dir.path(), "tags.toml", tags, &[]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&dir.path().join("tag-run/report.csv"));
    assert_eq!(count(&rows, "ok"), 30);
    assert_eq!(calls(&sim.stats(), "set-tags", "ok"), 3, "batches of 10");
    for c in sim.cards().iter().filter(|c| ids.contains(&c.iccid)) {
        let mut t = c.tag_ids.clone();
        t.sort();
        assert_eq!(t, vec![1, 3], "{}", c.iccid);
    }

    // The pool report of this month: the same rows as the command line gives.
    let pool = "operation = \"pool-members\"\nrun_dir = \"pool-{month}\"\nrate = 1000\n[pool]\nid = 3001\nbilling_cycle = \"{month}\"\n";
    let ran = run_job_against(&sim, dir.path(), "pool.toml", pool, &[]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let month = chrono::Local::now().format("%Y-%m").to_string();
    let from_job = read_report(&dir.path().join(format!("pool-{month}/pool-members.csv")));
    let direct = dir.path().join("direct.csv");
    let mut cmd = gsl();
    cmd.arg("pool-members")
        .args([
            "--pool",
            "3001",
            "--billing-cycle",
            &month,
            "--rate",
            "1000",
            "-q",
        ])
        .args(["--endpoint", &sim.url()])
        .arg("--report")
        .arg(&direct);
    assert_eq!(run(cmd).await.code, 0);
    let direct = read_report(&direct);
    assert!(!direct.is_empty());
    assert_eq!(from_job, direct);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inventory_job_keeps_to_the_list_rate_and_its_filters_and_dry_run_sends_nothing() {
    let sim = start_sim(SimConfig {
        cards: 6_000,
        list_rate: Some(2),
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    // `rate` is for the other APIs: the card list runs at `list_rate`. About 1,800 cards
    // without the flag make 4 pages: at `rate` they would go out at once into a quota of 2/s.
    let inv = "operation = \"inventory\"\nrun_dir = \"inv\"\nrate = 200\nlist_rate = 2\n[inventory]\nreal_named = false\n";
    // A dry run lists nothing.
    let ran = run_job_against(&sim, dir.path(), "inv.toml", inv, &["--dry-run"]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stdout.contains("nothing was sent (--dry-run)"),
        "{}",
        ran.stdout
    );
    assert_eq!(calls_total(&sim.stats(), "sim-cards"), 0);

    let ran = run_job_against(&sim, dir.path(), "inv.toml", inv, &[]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let stats = sim.stats();
    assert!(calls_total(&stats, "sim-cards") >= 4, "{stats}");
    assert!(calls(&stats, "sim-cards", "throttled") <= 1, "{stats}");
    let rows = read_report(&dir.path().join("inv/inventory.csv"));
    let want = sim.cards().iter().filter(|c| !c.real_named).count();
    assert_eq!(rows.len(), want);
    assert!(rows.iter().all(|r| r["real_named"] == "false"));

    // `dry_run = true`: the plan on stdout, nothing sent.
    let ids: Vec<String> = first_iccids(&sim, 5);
    write_csv(dir.path(), "in.csv", &ids);
    let dry = "operation = \"clear-real-name\"\ninput = \"in.csv\"\nrun_dir = \"dry\"\ndry_run = true\nquiet = 1\n";
    let ran = run_job_against(&sim, dir.path(), "dry.toml", dry, &[]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stdout.contains("nothing was sent (--dry-run)"),
        "{}",
        ran.stdout
    );
    assert_eq!(calls_total(&sim.stats(), "clear-real-name"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_job_file_runs_as_a_rehearsal() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempdir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let mut ran_any = false;
    for f in &files {
        // Every file must parse and check, runnable here or not.
        let j = gslbatch::job::load(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let op = j.file.operation.as_str();
        let run_dir = dir.path().join(f.file_stem().unwrap());
        let mut cmd = run_job(f);
        cmd.args(["--rehearse", "--rate", "1000", "--yes", "--run-dir"])
            .arg(&run_dir);
        let ran = run(cmd).await;
        assert!(
            ran.code == 0 || ran.code == 1,
            "{}: {}",
            f.display(),
            ran.stderr
        );
        assert!(ran.stderr.contains("REHEARSAL"), "{}", ran.stderr);
        // A listing writes its report into the run dir under its own name.
        let report = match op {
            "inventory" => "inventory.csv",
            "pool-members" => "pool-members.csv",
            "usage" => "usage.csv",
            _ => "report.csv",
        };
        let rows = read_report(&run_dir.join(report));
        if op == "pool-members" {
            // A pool's members, not input rows: the rehearsal's pool has some.
            assert!(!rows.is_empty(), "{}", f.display());
        } else {
            let want: usize = j.inputs.iter().map(|i| input_rows(Path::new(i))).sum();
            assert_eq!(rows.len(), want, "{}", f.display());
        }
        assert!(
            rows.iter()
                .all(|r| r.get("status").is_none_or(|s| s != "pending")),
            "{}",
            f.display()
        );
        ran_any = true;
    }
    assert!(ran_any);
}

/// The README says to add `yes = true` only after a dry run and a rehearsal: no shipped job
/// file confirms itself (issue 30, item 5), and each says where the line would go.
#[test]
fn no_shipped_job_file_confirms_itself() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for e in std::fs::read_dir(root.join("jobs")).unwrap() {
        let f = e.unwrap().path();
        if f.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let j = gslbatch::job::load(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_ne!(j.file.yes, Some(true), "{}", f.display());
    }
}

/// A job's `encoding` and `sheet` keys reach the readers of that run (no process-wide setting):
/// a UTF-16LE file without a byte-order mark, refused when guessed, reads under `encoding`; a
/// workbook's named sheet reads under `sheet`, and `--sheet` on the command line wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_encoding_and_sheet_keys_reach_its_readers() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let ids = first_iccids(&sim, 6);
    let text: String = std::iter::once("iccid".to_string())
        .chain(ids.iter().cloned())
        .map(|l| l + "\n")
        .collect();
    let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    std::fs::write(dir.path().join("wide.csv"), utf16).unwrap();
    let base = "operation = \"check-real-name\"\nrate = 1000\n";
    let guessed = format!("{base}input = \"wide.csv\"\nrun_dir = \"guessed\"\n");
    let ran = run_job_against(&sim, dir.path(), "guessed.toml", &guessed, &[]).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "real-named"), 0);
    let named =
        format!("{base}input = \"wide.csv\"\nrun_dir = \"named\"\nencoding = \"utf-16le\"\n");
    let ran = run_job_against(&sim, dir.path(), "named.toml", &named, &[]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&dir.path().join("named/report.csv"));
    assert_eq!(count(&rows, "ok"), 6, "{rows:?}");
    assert_eq!(calls_total(&sim.stats(), "real-named"), 6);

    let mut wb = rust_xlsxwriter::Workbook::new();
    for (name, cards) in [
        ("notes", &ids[..0]),
        ("cards", &ids[..4]),
        ("more", &ids[4..]),
    ] {
        let sheet = wb.add_worksheet();
        sheet.set_name(name).unwrap();
        sheet.write_string(0, 0, "iccid").unwrap();
        for (n, i) in cards.iter().enumerate() {
            sheet.write_string(n as u32 + 1, 0, i.as_str()).unwrap();
        }
    }
    wb.save(dir.path().join("book.xlsx")).unwrap();
    let sheet = format!("{base}input = \"book.xlsx\"\nrun_dir = \"sheet\"\nsheet = \"cards\"\n");
    let ran = run_job_against(&sim, dir.path(), "sheet.toml", &sheet, &[]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(read_report(&dir.path().join("sheet/report.csv")).len(), 4);
    let flag = sheet.replace("\"sheet\"\n", "\"flag\"\n");
    let ran = run_job_against(&sim, dir.path(), "flag.toml", &flag, &["--sheet", "more"]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(read_report(&dir.path().join("flag/report.csv")).len(), 2);
    assert_eq!(calls_total(&sim.stats(), "real-named"), 12);
    sim.shutdown().await;
}
