//! What changed for one card between two runs, as the `change` column says it: `new`, `gone`,
//! `real_named true→false`, `sim_status 20→14`, `tags +site-b −site-a`, `flow_used +312 MB`.
//! Only what both runs learned is compared: an inventory's stored flags, a usage run's flow.

use std::collections::BTreeSet;

/// What a run learned of one card; `None`: this operation does not tell it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub sim_status: Option<i64>,
    pub real_named: Option<bool>,
    /// The tags' names, comma-separated as the SIM card list gives them.
    pub tags: Option<String>,
    /// MB this billing cycle.
    pub flow_used: Option<f64>,
    pub flow_total: Option<f64>,
}

/// A kind of change: what `--fail-on-change` names and `summary.json` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    New,
    Gone,
    RealNamed,
    SimStatus,
    Tags,
    FlowUsed,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::New,
        Kind::Gone,
        Kind::RealNamed,
        Kind::SimStatus,
        Kind::Tags,
        Kind::FlowUsed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::New => "new",
            Kind::Gone => "gone",
            Kind::RealNamed => "real_named",
            Kind::SimStatus => "sim_status",
            Kind::Tags => "tags",
            Kind::FlowUsed => "flow_used",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// One change of one card: its kind and how the `change` cell says it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub kind: Kind,
    pub text: String,
}

impl Change {
    fn new(kind: Kind, text: String) -> Change {
        Change { kind, text }
    }
}

/// The changes from `before` (`None`: the card was not in the earlier run) to `now`.
pub fn diff(before: Option<&State>, now: &State) -> Vec<Change> {
    let Some(b) = before else {
        return vec![Change::new(Kind::New, "new".into())];
    };
    let mut out = Vec::new();
    if let (Some(x), Some(y)) = (b.real_named, now.real_named) {
        if x != y {
            out.push(Change::new(Kind::RealNamed, format!("real_named {x}→{y}")));
        }
    }
    if let (Some(x), Some(y)) = (b.sim_status, now.sim_status) {
        if x != y {
            out.push(Change::new(Kind::SimStatus, format!("sim_status {x}→{y}")));
        }
    }
    // Equal text is equal tags: the sets are only built for a card whose tags changed.
    if let Some((x, y)) = b
        .tags
        .as_ref()
        .zip(now.tags.as_ref())
        .filter(|(x, y)| x != y)
    {
        let set = |s: &str| -> BTreeSet<String> {
            s.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect()
        };
        let (x, y) = (set(x), set(y));
        if x != y {
            let mut text = String::from("tags");
            for added in y.difference(&x) {
                text.push_str(&format!(" +{added}"));
            }
            for removed in x.difference(&y) {
                text.push_str(&format!(" −{removed}"));
            }
            out.push(Change::new(Kind::Tags, text));
        }
    }
    if let (Some(x), Some(y)) = (b.flow_used, now.flow_used) {
        // The API gives MB to three decimals.
        if (y - x).abs() >= 0.0005 {
            out.push(Change::new(
                Kind::FlowUsed,
                format!("flow_used {} MB", signed_mb(y - x)),
            ));
        }
    }
    out
}

/// `+312 MB`, `-0.5 MB`: one decimal, none when it is zero.
fn signed_mb(d: f64) -> String {
    let r = (d * 10.0).round() / 10.0;
    let s = if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    };
    if r >= 0.0 {
        format!("+{s}")
    } else {
        s
    }
}

/// The `change` cell of a card's changes: `; ` between them.
pub fn cell_text(changes: &[Change]) -> String {
    changes
        .iter()
        .map(|c| c.text.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(status: i64, named: bool, tags: &str) -> State {
        State {
            sim_status: Some(status),
            real_named: Some(named),
            tags: Some(tags.into()),
            ..State::default()
        }
    }

    #[test]
    fn each_change_says_what_it_was_as_the_issue_writes_it() {
        let b = card(20, true, "site-a,fleet");
        assert!(diff(Some(&b), &b).is_empty());
        let now = card(14, false, "fleet,site-b");
        let texts: Vec<String> = diff(Some(&b), &now).into_iter().map(|c| c.text).collect();
        assert_eq!(
            texts,
            [
                "real_named true→false",
                "sim_status 20→14",
                "tags +site-b −site-a"
            ]
        );
        assert_eq!(diff(None, &now)[0].kind, Kind::New);
        let flow = |f| State {
            flow_used: Some(f),
            ..State::default()
        };
        assert_eq!(
            diff(Some(&flow(100.0)), &flow(412.0))[0].text,
            "flow_used +312 MB"
        );
        assert!(diff(Some(&flow(100.0)), &flow(100.0)).is_empty());
    }
}
