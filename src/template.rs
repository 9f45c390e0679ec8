//! Placeholders in job-file values: `{date}` `{time}` `{month}` `{lastmonth}` (local time) and
//! `{utcdate}` `{utctime}`, for run dirs and billing cycles written once for a scheduler.

use chrono::Datelike;

/// Expand `{date}` `{time}` `{month}` `{lastmonth}` (local) and `{utcdate}` `{utctime}` in a
/// run-dir or billing-cycle template.
pub fn expand<L: chrono::TimeZone, U: chrono::TimeZone>(
    template: &str,
    local: chrono::DateTime<L>,
    utc: chrono::DateTime<U>,
) -> Result<String, String>
where
    L::Offset: std::fmt::Display,
    U::Offset: std::fmt::Display,
{
    let this_month = local.date_naive().with_day(1).expect("day 1 exists");
    let last_month = this_month.pred_opt().unwrap_or(this_month);
    let out = template
        .replace("{month}", &this_month.format("%Y-%m").to_string())
        .replace("{lastmonth}", &last_month.format("%Y-%m").to_string())
        .replace("{date}", &local.format("%Y-%m-%d").to_string())
        .replace("{time}", &local.format("%H%M%S").to_string())
        .replace("{utcdate}", &utc.format("%Y-%m-%d").to_string())
        .replace("{utctime}", &utc.format("%H%M%S").to_string());
    if let Some(i) = out.find('{') {
        let rest = &out[i..];
        let end = rest.find('}').map_or(rest.len(), |j| j + 1);
        return Err(format!(
            "unknown placeholder {} (use {{date}}, {{time}}, {{month}}, {{lastmonth}}, {{utcdate}}, {{utctime}})",
            &rest[..end]
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn placeholders_expand() {
        let local = chrono::FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(2026, 3, 1, 2, 3, 4)
            .unwrap();
        let utc = local.with_timezone(&chrono::Utc);
        assert_eq!(
            expand("runs/n-{date}-{time}-{utcdate}-{utctime}", local, utc).unwrap(),
            "runs/n-2026-03-01-020304-2026-02-28-180304"
        );
        assert!(expand("runs/{day}", local, utc)
            .unwrap_err()
            .contains("{day}"));
    }
}
