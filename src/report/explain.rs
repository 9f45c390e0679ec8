//! Plain words for the codes GSL and its gateway answer with, in one table: used by the
//! summary and `status`; the report keeps the API's own code and message. Where a code means
//! something different for one operation (`GSL.00010004` on a clear is almost always a card of
//! another carrier), the operation's registry entry says so (`Spec::explains`) and wins.

/// `(code, explanation)`, whatever the operation.
const TABLE: &[(&str, &str)] = &[
    (
        "GSL.00010004", "the API refused a parameter (an unknown card, or one the operation does not apply to)",
    ),
    ("GSL.00010003", "the service was busy; retried, and still busy when the attempts ran out"),
    ("GSL.00011004", "the billing cycle is not one the service will report on"),
    ("GSL.00020004", "the tag API refused a parameter"),
    ("GSL.00020003", "the tag service was busy"),
    (
        "GSL.00022004", "the user may not use that tag: fix the tag's access, then resume",
    ),
    (
        "APIG.0308", "the gateway's rate limit was reached (429): the pacer slowed down; the message names the quota",
    ),
    (
        "APIG.0301", "the credentials were refused (bad or expired token, bad AK/SK signature, or a clock more than 15 minutes off)",
    ),
    ("APIG.0202", "the gateway could not reach the service (502): the request may or may not have happened"),
    ("TIMEOUT", "no answer in time: the request may or may not have happened"),
    ("INTERRUPTED", "in flight when the process stopped: it may or may not have happened"),
];

/// What `code` means for `operation`, in words; `None` for a code the table does not know.
pub fn explain(code: &str, operation: &str) -> Option<&'static str> {
    let own = crate::ops::spec(operation)
        .and_then(|s| s.explains.iter().find(|(c, _)| *c == code))
        .map(|(_, words)| *words);
    own.or_else(|| {
        TABLE
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, words)| *words)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_explained_per_operation_where_it_differs() {
        let clear = crate::ops::clear::SPEC.name;
        let sms = crate::ops::sms::SPEC.name;
        assert!(explain("GSL.00010004", clear)
            .unwrap()
            .contains("China Telecom"));
        assert!(explain("GSL.00010004", sms).unwrap().contains("order"));
        assert!(explain("GSL.00010004", crate::ops::check::SPEC.name).is_some());
        assert!(explain("APIG.0308", sms).unwrap().contains("rate limit"));
        assert_eq!(explain("NOPE", ""), None);
    }
}
