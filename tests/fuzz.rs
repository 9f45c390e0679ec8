//! Property tests of the input readers and ICCID rules: whatever the bytes, no panic, and every
//! record is either a valid key or an `invalid` reason naming its `file:line`.

use crate::common::input_opts;
use gslbatch::input::{validate_iccid, Dedupe, Format, Inputs, Record};
use proptest::prelude::*;
use std::io::{Cursor, Read};

/// Read everything; check the invariants every reader must keep; return the records.
fn read_all(name: &str, bytes: Vec<u8>, format: Option<Format>) -> Vec<Record> {
    let reader: Box<dyn Read + Send> = Box::new(Cursor::new(bytes));
    let inputs = Inputs::from_readers(vec![(name.to_string(), reader, format)], &input_opts(true));
    let mut out = Vec::new();
    let mut ended_with_error = false;
    for item in inputs {
        assert!(!ended_with_error, "records after a fatal error");
        match item {
            Ok(rec) => {
                assert_eq!(rec.row, out.len() as u64 + 1, "rows numbered 1, 2, 3...");
                assert!(
                    rec.location.starts_with(&format!("{name}:")),
                    "{}",
                    rec.location
                );
                match &rec.key {
                    Ok(k) => assert_eq!(validate_iccid(k).as_deref(), Ok(k.as_str())),
                    Err(reason) => assert!(
                        reason.contains(&format!("{name}:")),
                        "reason without location: {reason}"
                    ),
                }
                out.push(rec);
            }
            Err(e) => {
                assert!(
                    e.to_string().starts_with(name),
                    "fatal error without the file: {e}"
                );
                ended_with_error = true;
            }
        }
    }
    out
}

fn iccid_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        // valid: 19 or 20 digits, maybe a final F
        (prop::collection::vec(0u8..10, 18..=19), prop::bool::ANY).prop_map(|(d, f)| {
            let mut s: String = d.iter().map(|x| char::from(b'0' + x)).collect();
            s.push(if f { 'F' } else { '1' });
            s
        }),
        // anything short or odd
        "[0-9A-Za-z ]{0,24}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_in_any_format(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        for format in [Some(Format::Csv), Some(Format::Json), Some(Format::Jsonl), None] {
            read_all("in", bytes.clone(), format);
        }
    }

    #[test]
    fn iccid_rules(raw in "\\PC{0,30}") {
        match validate_iccid(&raw) {
            Ok(k) => {
                let t = raw.trim();
                prop_assert_eq!(k.clone(), t.to_ascii_uppercase());
                prop_assert!(k.len() == 19 || k.len() == 20);
                let (head, last) = k.split_at(k.len() - 1);
                prop_assert!(head.bytes().all(|b| b.is_ascii_digit()));
                prop_assert!(last.bytes().all(|b| b.is_ascii_hexdigit()));
            }
            Err(reason) => prop_assert!(!reason.is_empty()),
        }
    }

    #[test]
    fn csv_rows_survive_any_dialect(
        cells in prop::collection::vec((iccid_strategy(), "[a-z ,;\"]{0,8}"), 1..40),
        delim in prop::sample::select(vec![b',', b';', b'\t']),
        crlf in any::<bool>(),
        blank_every in 0usize..5,
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let d = delim as char;
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let mut text = format!("iccid{d}note{eol}");
        for (i, (iccid, note)) in cells.iter().enumerate() {
            if blank_every > 0 && i % blank_every == 0 {
                text.push_str(eol);
            }
            text.push_str(&format!("{}{d}{}{eol}", quote(iccid), quote(note)));
        }
        let recs = read_all("x.csv", text.into_bytes(), Some(Format::Csv));
        // A record whose cells are all blank is skipped like a blank line.
        let kept: Vec<_> = cells
            .iter()
            .filter(|(i, n)| !(i.trim().is_empty() && n.trim().is_empty()))
            .collect();
        prop_assert_eq!(recs.len(), kept.len(), "one record per non-blank row");
        for (rec, (iccid, note)) in recs.iter().zip(kept) {
            prop_assert_eq!(rec.key.is_ok(), validate_iccid(iccid).is_ok(), "{:?}", iccid);
            prop_assert_eq!(&rec.extras, &vec![note.clone()]);
        }
    }

    #[test]
    fn jsonl_lines_are_rows_or_reasons(lines in prop::collection::vec(prop_oneof![
        iccid_strategy().prop_map(|s| format!("{s:?}")),
        iccid_strategy().prop_map(|s| format!("{{\"iccid\": {s:?}, \"site\": 1}}")),
        "[^\\n]{0,20}",
    ], 0..30)) {
        let text = lines.join("\n");
        let recs = read_all("x.jsonl", text.into_bytes(), Some(Format::Jsonl));
        // Blank means JSON whitespace only (one byte-order mark opening the file is not content;
        // a second one is, as in any reader that honours BOMs); anything else is a record (or an
        // invalid one).
        let non_blank = lines
            .iter()
            .enumerate()
            .map(|(i, l)| if i == 0 { l.strip_prefix('\u{feff}').unwrap_or(l) } else { l.as_str() })
            .filter(|l| !l.trim_matches(|c| matches!(c, ' ' | '\t' | '\r')).is_empty())
            .count();
        prop_assert_eq!(recs.len(), non_blank);
    }

    #[test]
    fn dedupe_is_case_and_space_insensitive(keys in prop::collection::vec(iccid_strategy(), 1..50)) {
        let mut d = Dedupe::new();
        let mut seen = std::collections::HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            let norm = k.trim().to_ascii_uppercase();
            let row = i as u64 + 1;
            let expected = seen.get(&norm).copied();
            prop_assert_eq!(d.check(&k.to_ascii_lowercase(), row), expected);
            seen.entry(norm).or_insert(row);
        }
    }
}
