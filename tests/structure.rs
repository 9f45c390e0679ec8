//! The shape of the code, checked: operations are data in `src/ops/`, and no operation name is
//! written as a string anywhere else in `src/` (the simulator names its own API endpoints, which
//! is the stand-in's business, not the tool's); the command line (`cli.rs`, `cmd/`) names no
//! operation in any form, and `ops/` imports neither the command line nor the simulator.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn operation_names_are_written_only_in_the_registry() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let names: Vec<&str> = gslbatch::ops::REGISTRY.iter().map(|s| s.name).collect();
    assert!(names.len() >= 6, "the registry lists every operation");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        if rel.starts_with("ops") || rel.starts_with("simulator") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, line) in text.lines().enumerate() {
            for name in &names {
                if line.contains(&format!("\"{name}\"")) {
                    found.push(format!("{}:{}: {}", rel.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "operation names as string literals outside src/ops:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_a_literal_where_there_is_one() {
    // The scan above must not pass because it looks at nothing: it finds the registry's own.
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ops/clear.rs"))
            .unwrap();
    assert!(text.contains("\"clear-real-name\""));
}

#[test]
fn the_sim_card_id_key_prefix_is_written_and_read_only_by_card_ref() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    let mut seen_in_card_ref = false;
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        if rel.starts_with("simulator") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, line) in text.lines().enumerate() {
            if line.contains("('#')") || line.contains("\"#{") {
                if rel == Path::new("gsl/types.rs") {
                    seen_in_card_ref = true;
                } else {
                    found.push(format!("{}:{}: {}", rel.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(seen_in_card_ref, "the scan sees CardRef's own");
    assert!(
        found.is_empty(),
        "the `#` key prefix outside CardRef (use CardRef::from_key / id_key / is_id_key):\n{}",
        found.join("\n")
    );
}

/// The code of a file without its comments (`//` to the end of the line), line by line.
fn code_lines(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split("//").next().unwrap_or("").to_string()))
        .collect()
}

/// `stop-card` → `StopCard`.
fn camel(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The command line's own files: `cli.rs` and `cmd/`.
fn command_line_files(src: &Path) -> Vec<PathBuf> {
    let mut files = vec![src.join("cli.rs")];
    rust_files(&src.join("cmd"), &mut files);
    files
}

#[test]
fn the_command_line_names_no_operation() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // Every form an operation's name takes in code: its clap variant (`StopCard`), its module
    // in the registry (`ops::stop`, `ops::card_state`), a per-operation glue file's name.
    let mut words: Vec<String> = gslbatch::ops::REGISTRY
        .iter()
        .map(|s| camel(s.name))
        .collect();
    let mut op_files = Vec::new();
    rust_files(&src.join("ops"), &mut op_files);
    for f in &op_files {
        let stem = f.file_stem().unwrap().to_str().unwrap();
        if stem != "mod" {
            words.push(format!("ops::{stem}"));
        }
    }
    assert!(words.iter().any(|w| w == "StopCard") && words.iter().any(|w| w == "ops::sms"));
    let files = command_line_files(&src);
    assert!(files.len() >= 5, "cli.rs and cmd/ are scanned: {files:?}");
    let mut found = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap().to_path_buf();
        let stem = file.file_stem().unwrap().to_str().unwrap();
        if words.iter().any(|w| w.strip_prefix("ops::") == Some(stem)) {
            found.push(format!("{}: a file for one operation", rel.display()));
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in code_lines(&text) {
            for w in &words {
                let hit = line.match_indices(w.as_str()).any(|(i, _)| {
                    let before = line[..i].chars().next_back();
                    let after = line[i + w.len()..].chars().next();
                    let ident =
                        |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                    !ident(before) && !ident(after)
                });
                if hit {
                    found.push(format!("{}:{n}: {} ({w})", rel.display(), line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "the command line names operations (declare them in src/ops/ and its REGISTRY):\n{}",
        found.join("\n")
    );
}

#[test]
fn ops_import_neither_the_command_line_nor_the_simulator() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src.join("ops"), &mut files);
    assert!(files.len() >= 10, "{files:?}");
    let mut found = Vec::new();
    let mut flags_seen = false;
    for file in files {
        let rel = file.strip_prefix(&src).unwrap().to_path_buf();
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in code_lines(&text) {
            flags_seen |= line.contains("crate::flags");
            if [
                "crate::cli",
                "crate::simulator",
                "crate::cmd",
                "gslbatch::cli",
            ]
            .iter()
            .any(|m| line.contains(m))
            {
                found.push(format!("{}:{n}: {}", rel.display(), line.trim()));
            }
        }
    }
    assert!(
        flags_seen,
        "the scan sees the ops' imports (the shared flags)"
    );
    assert!(
        found.is_empty(),
        "src/ops imports the command line or the simulator (shared flags live in src/flags.rs, \
         a rehearsal's cards in ops::Rehearsal):\n{}",
        found.join("\n")
    );
}
