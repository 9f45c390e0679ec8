//! Credentials are checked before the first call: a value that cannot be what the operator
//! meant is refused with the name of its variable or file and the likely cause, never the value.
//!
//! The usual culprit is an env file saved with Windows line endings: `set -a; . ./gsl.env`
//! leaves a carriage return at the end of every value, and a token with one cannot even be put
//! in a header. Caught here, that is exit 2 with nothing sent, instead of a run whose every row
//! fails on the client side — or worse, is taken for a call that may have happened.

use super::AuthSetupError;

/// Where a value goes, which decides what else it may not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carried {
    /// In an HTTP header (AK, project id, security token, token): visible ASCII only.
    Header,
    /// In the signing key or a JSON body (SK, IAM user, password, domain): any text but
    /// control characters.
    Text,
}

/// Check one credential `value` read from `source` (a variable name, or `token file PATH`).
pub fn value(source: &str, value: &str, carried: Carried) -> Result<(), AuthSetupError> {
    match problem(value, carried) {
        None => Ok(()),
        Some(why) => Err(AuthSetupError::BadValue {
            name: source.to_string(),
            why,
        }),
    }
}

/// What is wrong with `value`, in words that never quote it.
fn problem(value: &str, carried: Carried) -> Option<String> {
    let last = value.chars().next_back()?;
    if last == '\r' {
        return Some(
            "ends with a carriage return (an env file saved with Windows line endings?)".into(),
        );
    }
    if last == '\n' {
        return Some("ends with a line break".into());
    }
    if last.is_whitespace() {
        return Some("ends with white space (copied with a trailing space?)".into());
    }
    let first = value.chars().next()?;
    if first == '\u{feff}' {
        return Some("begins with a byte-order mark (saved by a Windows editor?)".into());
    }
    if first.is_whitespace() {
        return Some("begins with white space (copied with a leading space?)".into());
    }
    if let Some((i, c)) = value.chars().enumerate().find(|(_, c)| c.is_control()) {
        let what = match c {
            '\r' | '\n' => "a line break".to_string(),
            c => format!("a control character (U+{:04X})", c as u32),
        };
        return Some(format!(
            "holds {what} at character {} (two lines pasted into one value?)",
            i + 1
        ));
    }
    if carried == Carried::Header {
        if let Some((i, c)) = value
            .chars()
            .enumerate()
            .find(|(_, c)| !c.is_ascii_graphic() && *c != ' ')
        {
            return Some(format!(
                "holds a character that cannot be sent in an HTTP header (U+{:04X}) at character {}",
                c as u32,
                i + 1
            ));
        }
    }
    None
}

/// A token file's content as the token: a leading byte-order mark and the line endings at its
/// end are the file's, not the token's (`echo` ends a file with `\n`, Windows editors with
/// `\r\n`); anything else that is not a clean value is refused.
pub fn token_file_text(path: &str, text: &str) -> Result<Option<String>, AuthSetupError> {
    let token = text
        .strip_prefix('\u{feff}')
        .unwrap_or(text)
        .trim_end_matches(['\r', '\n']);
    if token.trim().is_empty() {
        return Ok(None);
    }
    value(&format!("token file {path}"), token, Carried::Header)?;
    Ok(Some(token.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(v: &str, carried: Carried) -> String {
        value("GSL_AUTH_TOKEN", v, carried).unwrap_err().to_string()
    }

    #[test]
    fn clean_values_pass() {
        for v in ["tok", "MIIa-b_c.d+e/f=", "a b"] {
            assert!(value("X", v, Carried::Header).is_ok(), "{v:?}");
        }
        assert!(value("GSL_IAM_DOMAIN", "域名", Carried::Text).is_ok());
    }

    #[test]
    fn a_windows_line_ending_is_named_with_its_likely_cause_and_never_the_value() {
        let msg = why("tok\r", Carried::Header);
        assert_eq!(
            msg,
            "GSL_AUTH_TOKEN ends with a carriage return (an env file saved with Windows line \
             endings?): nothing was sent"
        );
        assert!(!msg.contains("tok\r"));
    }

    #[test]
    fn white_space_control_characters_and_non_ascii_headers_are_refused() {
        for (v, carried, words) in [
            ("tok ", Carried::Header, "ends with white space"),
            (" tok", Carried::Text, "begins with white space"),
            ("tok\n", Carried::Text, "ends with a line break"),
            (
                "to\u{7}k",
                Carried::Text,
                "control character (U+0007) at character 3",
            ),
            ("to\nk", Carried::Header, "a line break at character 3"),
            ("\u{feff}tok", Carried::Header, "byte-order mark"),
            (
                "tök",
                Carried::Header,
                "cannot be sent in an HTTP header (U+00F6)",
            ),
        ] {
            let msg = why(v, carried);
            assert!(msg.contains(words), "{v:?}: {msg}");
            assert!(msg.starts_with("GSL_AUTH_TOKEN "), "{msg}");
        }
    }

    #[test]
    fn a_token_file_may_end_its_line_but_not_break_it() {
        for text in ["tok", "tok\n", "tok\r\n", "\u{feff}tok\r\n", "tok\n\n"] {
            assert_eq!(
                token_file_text("t", text).unwrap().as_deref(),
                Some("tok"),
                "{text:?}"
            );
        }
        assert_eq!(token_file_text("t", "\r\n").unwrap(), None);
        for text in ["to\u{1}k\n", "tok \n", "line1\nline2\n", " tok"] {
            let msg = token_file_text("/x/token", text).unwrap_err().to_string();
            assert!(msg.starts_with("token file /x/token "), "{msg}");
        }
    }
}
