//! The shape of the code, checked: operations are data in `src/ops/`, and no operation name is
//! written as a string anywhere else in `src/` (the simulator names its own API endpoints, which
//! is the stand-in's business, not the tool's).

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
