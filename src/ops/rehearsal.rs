//! What a rehearsal's simulator must hold for a run, in plain words: the run's cards and how
//! they differ from freshly made ones. Each operation says it ([`super::Spec::rehearsal`]);
//! the simulator builds its inventory from it (`SimConfig::from(Rehearsal)`), so the registry
//! needs nothing of the simulator.

/// The cards a rehearsal's simulator serves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rehearsal {
    /// The run's keys (ICCIDs, or `#<sim_card_id>` for rows that name the card by id), in input
    /// order; repeats and keys that are not ICCID-shaped are skipped (the run sees them unknown).
    pub cards: Vec<String>,
    /// When there are no cards (an SMS to a whole order): this many made-up China Mobile cards.
    pub made_up: usize,
    /// Every card in this `sim_status` (a restore rehearses on stopped cards).
    pub sim_status: Option<u32>,
    /// Every card whose carrier sends SMS has an SMS plan (and the others none).
    pub sms_plans: bool,
    /// Every card in this purchase order.
    pub order_id: Option<u64>,
}

impl Rehearsal {
    /// The run's cards, as they are.
    pub fn of(keys: &[String]) -> Rehearsal {
        Rehearsal {
            cards: keys.to_vec(),
            ..Rehearsal::default()
        }
    }

    /// The run's cards, each in `sim_status`.
    pub fn in_status(keys: &[String], sim_status: u32) -> Rehearsal {
        Rehearsal {
            sim_status: Some(sim_status),
            ..Rehearsal::of(keys)
        }
    }
}
