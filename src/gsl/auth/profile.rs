//! Huawei's SDK credentials file, read as their `ProfileCredentialProvider` reads it: an INI
//! file at `HUAWEICLOUD_SDK_CREDENTIALS_FILE`, else `~/.huaweicloud/credentials`, whose `[basic]`
//! section (GSL's SDK client takes basic, project-scoped credentials) holds `ak`, `sk` and
//! optionally `project_id` and `security_token`:
//!
//! ```ini
//! [basic]
//! ak = YOUR_AK
//! sk = YOUR_SK
//! project_id = YOUR_PROJECT_ID
//! ```
//!
//! As Python's `configparser`: `key = value` or `key: value`, keys in any case, white space
//! around a value is not part of it, `#` and `;` start comment lines. Every value then goes
//! through the same [`check`] as the environment's, naming the file and the key.

use super::check::{self, Carried};
use super::{AuthSetupError, Credentials, Secret};
use std::collections::HashMap;
use std::path::PathBuf;

pub const FILE_VAR: &str = "HUAWEICLOUD_SDK_CREDENTIALS_FILE";

/// The section GSL's credentials live in.
const SECTION: &str = "basic";

/// The file to read: the variable's (`true`: named explicitly), else the one in the home dir.
fn location() -> Option<(PathBuf, bool)> {
    if let Some(p) = std::env::var_os(FILE_VAR).filter(|p| !p.is_empty()) {
        return Some((PathBuf::from(p), true));
    }
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())?;
    Some((
        PathBuf::from(home).join(".huaweicloud").join("credentials"),
        false,
    ))
}

/// AK/SK credentials from the SDKs' credentials file; `None` when there is none. A file named by
/// `HUAWEICLOUD_SDK_CREDENTIALS_FILE` must exist and hold `[basic]` `ak` and `sk`; the default
/// one is used only when it does.
pub fn read() -> Result<Option<Credentials>, AuthSetupError> {
    let Some((path, explicit)) = location() else {
        return Ok(None);
    };
    let shown = path.display().to_string();
    let bad = |why: String| AuthSetupError::BadValue {
        name: format!("credentials file {shown}"),
        why,
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(format!("cannot be read ({e}; named by {FILE_VAR})"))),
    };
    let section = parse(&text)
        .remove(SECTION)
        .filter(|s| s.contains_key("ak") || s.contains_key("sk"));
    let Some(mut keys) = section else {
        return if explicit {
            Err(bad(format!(
                "has no [{SECTION}] section with `ak` and `sk` (GSL takes basic credentials)"
            )))
        } else {
            Ok(None)
        };
    };
    let mut take = |key: &str, carried: Carried| -> Result<Option<String>, AuthSetupError> {
        match keys.remove(key).filter(|v| !v.is_empty()) {
            Some(v) => {
                check::value(&format!("`{key}` in credentials file {shown}"), &v, carried)?;
                Ok(Some(v))
            }
            None => Ok(None),
        }
    };
    let ak = take("ak", Carried::Header)?;
    let sk = take("sk", Carried::Text)?;
    let (Some(ak), Some(sk)) = (ak, sk) else {
        return Err(bad(format!("has `ak` or `sk` in [{SECTION}] but not both")));
    };
    Ok(Some(Credentials::AkSk {
        ak,
        sk: Secret::new(sk),
        project_id: take("project_id", Carried::Header)?,
        security_token: take("security_token", Carried::Header)?.map(Secret::new),
    }))
}

/// Sections → keys (lower-cased) → values, as `configparser` reads them.
fn parse(text: &str) -> HashMap<String, HashMap<String, String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            current = Some(name.trim().to_string());
            out.entry(name.trim().to_string()).or_default();
            continue;
        }
        let Some(section) = &current else { continue };
        let Some(at) = t.find(['=', ':']) else {
            continue;
        };
        let (k, v) = t.split_at(at);
        out.entry(section.clone())
            .or_default()
            .insert(k.trim().to_ascii_lowercase(), v[1..].trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_configparser_does() {
        let text = "\u{feff}# Huawei Cloud\r\n[global]\r\nak = G\r\n\r\n[basic]\r\nAK = A1\r\nsk: s e c\r\n; note\r\nproject_id =p\r\n";
        let s = parse(text);
        assert_eq!(s["basic"]["ak"], "A1");
        assert_eq!(s["basic"]["sk"], "s e c");
        assert_eq!(s["basic"]["project_id"], "p");
        assert_eq!(s["global"]["ak"], "G");
    }
}
