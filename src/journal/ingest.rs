//! Input rows into the journal: validated, deduplicated, numbered, in chunks.
//!
//! Everything is read before the first request goes out, so the plan, the confirmation and the
//! progress bar know the real counts, and a file that breaks off half-way stops the run before
//! anything was sent (exit 2). Memory holds only the duplicate set and one chunk.

use crate::input::{Dedupe, InputError, Inputs};
use crate::journal::{Journal, JournalError, NewRow};
use crate::model::Status;
use crate::ops::{Operation, RowColumns};

/// Rows per journal transaction while ingesting.
const CHUNK: usize = 5000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestStats {
    pub rows: u64,
    pub valid: u64,
    pub invalid: u64,
    pub duplicate: u64,
    /// Batches the valid rows make (0 unless batching).
    pub batches: u64,
    pub extra_columns: Vec<String>,
    /// Why the first invalid row is invalid (naming `file:line`), for a run that has no valid row.
    pub first_invalid: Option<String>,
    /// Valid rows that name their card by `sim_card_id` (the rest by ICCID).
    pub by_id: u64,
    /// Valid rows named by ICCID, per carrier by the ICCID's prefix.
    pub carriers: std::collections::HashMap<crate::carrier::Carrier, u64>,
}

impl IngestStats {
    /// Count a row by its key (`Err`: why it is invalid) and the row it repeats, if any: its
    /// key, status and error message.
    fn count(
        &mut self,
        key: Result<String, String>,
        first_seen: Option<u64>,
        location: &str,
    ) -> (Option<String>, Status, Option<String>) {
        match key {
            Err(reason) => {
                self.invalid += 1;
                if self.first_invalid.is_none() {
                    self.first_invalid = Some(reason.clone());
                }
                (None, Status::Invalid, Some(reason))
            }
            Ok(key) => match first_seen {
                Some(first) => {
                    self.duplicate += 1;
                    let msg = format!("same card as row {first} ({location})");
                    (Some(key), Status::Duplicate, Some(msg))
                }
                None => {
                    self.valid += 1;
                    let by_id = crate::gsl::types::CardRef::is_id_key(&key);
                    self.by_id += u64::from(by_id);
                    if !by_id {
                        let c = crate::carrier::Carrier::from_iccid(&key);
                        *self.carriers.entry(c).or_default() += 1;
                    }
                    (Some(key), Status::Pending, None)
                }
            },
        }
    }

    /// The batch of a valid row just counted, with the operation's batch size: valid rows in
    /// input order, that many a batch.
    fn batch_of(&mut self, status: Status, batch_size: Option<usize>) -> Option<i64> {
        match (status, batch_size) {
            (Status::Pending, Some(size)) => {
                let b = ((self.valid - 1) / size.max(1) as u64 + 1) as i64;
                self.batches = b as u64;
                Some(b)
            }
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// Read every input row; write them to `journal` when given (a dry run passes `None`).
///
/// Each card row is also checked by the operation ([`Operation::row_value`]): a value it
/// refuses (a speed the carrier does not offer, a bad IMEI) makes the row `invalid`, and a value
/// the request carries is stored with the row.
///
/// With the operation's batch size, valid rows are numbered into batches of that many, in input order: the
/// batch is the unit of sending, fixed here so that a resumed run sends the same batches. (A
/// batched run holds one kind of key: the caller refuses a mix, see `stats.by_id`.)
pub fn ingest(
    mut inputs: Inputs,
    mut journal: Option<&mut Journal>,
    op: &dyn Operation,
) -> Result<IngestStats, IngestError> {
    let batch_size = op.batch_size();
    let mut stats = IngestStats::default();
    let mut dedupe = Dedupe::new();
    let mut chunk = Vec::with_capacity(CHUNK);
    while let Some(rec) = inputs.next() {
        let mut rec = rec?;
        stats.rows += 1;
        let mut arg = None;
        // A card seen before is a duplicate whatever its row's value: its value is checked only
        // on its first row (a speed no carrier offers made every row `invalid`, the duplicate
        // too).
        let mut first_seen = None;
        if let Ok(key) = &rec.key {
            first_seen = dedupe.check(key, rec.row);
            let row = RowColumns {
                names: inputs.extra_columns(),
                values: &rec.extras,
            };
            match op.row_value(key, &row) {
                _ if first_seen.is_some() => {}
                Ok(v) => arg = v,
                Err(reason) => rec.key = Err(format!("{reason} ({})", rec.location)),
            }
        }
        let (key, status, error_msg) = stats.count(rec.key, first_seen, &rec.location);
        let batch = stats.batch_of(status, batch_size);
        if let Some(j) = journal.as_deref_mut() {
            chunk.push(NewRow {
                row: rec.row,
                location: rec.location,
                raw: rec.raw,
                key,
                status,
                error_msg,
                extras: rec.extras,
                batch,
                arg: if status == Status::Pending { arg } else { None },
            });
            if chunk.len() >= CHUNK {
                j.insert_rows(&chunk)?;
                chunk.clear();
            }
        }
    }
    if let Some(j) = journal {
        if !chunk.is_empty() {
            j.insert_rows(&chunk)?;
        }
    }
    stats.extra_columns = inputs.extra_columns().to_vec();
    Ok(stats)
}
