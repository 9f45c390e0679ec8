//! `SDK-HMAC-SHA256` request signing, byte for byte as Huawei's official SDK signer does it.
//!
//! The same functions serve the client (which signs) and the simulator (which rebuilds the
//! canonical request from what arrived and compares), so a difference between the two can only
//! come from what travelled over the wire — exactly what the vector tests pin down.

use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// The algorithm name that opens the `Authorization` header and the string to sign.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";

/// The header carrying the signing time, `YYYYMMDDTHHMMSSZ` in UTC.
pub const DATE_HEADER: &str = "X-Sdk-Date";

/// Everything but RFC 3986 unreserved characters is escaped (Python's `quote(s, safe='~')`).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encode one path segment or query key/value the way the signer and the URL agree on.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// The canonical URI: each segment encoded, always ending in `/` (the SDK appends one).
pub fn canonical_uri(path: &str) -> String {
    let mut out = path.split('/').map(encode).collect::<Vec<_>>().join("/");
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// The canonical query string: `key=value` pairs (decoded inputs), encoded, sorted by key then value.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> =
        query.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The query string as it goes on the wire: the canonical form, so the signed and sent URIs match.
pub fn signed_uri(path: &str, query: &[(String, String)]) -> String {
    let q = canonical_query(query);
    let p = path.split('/').map(encode).collect::<Vec<_>>().join("/");
    if q.is_empty() {
        p
    } else {
        format!("{p}?{q}")
    }
}

/// Signed headers: names lower-cased and sorted, values trimmed.
fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut hs: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    hs.sort();
    let block: String = hs.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let names = hs
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    (block, names)
}

/// The parts of a request that a signature covers.
#[derive(Debug, Clone)]
pub struct Signable<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Decoded query pairs.
    pub query: &'a [(String, String)],
    /// The headers to sign, `Host` and `X-Sdk-Date` included.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl Signable<'_> {
    /// The canonical request, and the `;`-joined signed header names.
    pub fn canonical_request(&self) -> (String, String) {
        let (block, names) = canonical_headers(self.headers);
        let body_hash = hex::encode(Sha256::digest(self.body));
        let text = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.method.to_ascii_uppercase(),
            canonical_uri(self.path),
            canonical_query(self.query),
            block,
            names,
            body_hash
        );
        (text, names)
    }
}

/// The string to sign for a canonical request made at `sdk_date`.
pub fn string_to_sign(sdk_date: &str, canonical_request: &str) -> String {
    let hash = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    format!("{ALGORITHM}\n{sdk_date}\n{hash}")
}

/// The hex HMAC-SHA256 of the string to sign under the secret key.
pub fn signature(sk: &str, string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(sk.as_bytes()).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `Authorization` header value for a request.
pub fn authorization(ak: &str, sk: &str, sdk_date: &str, req: &Signable<'_>) -> String {
    let (canonical, names) = req.canonical_request();
    let sig = signature(sk, &string_to_sign(sdk_date, &canonical));
    format!("{ALGORITHM} Access={ak}, SignedHeaders={names}, Signature={sig}")
}

/// The three fields of an `Authorization: SDK-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    pub access: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parse an `Authorization` header; `None` when it is not an SDK-HMAC-SHA256 one.
pub fn parse_authorization(value: &str) -> Option<ParsedAuthorization> {
    let rest = value.strip_prefix(ALGORITHM)?.trim_start();
    let (mut access, mut names, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Access" => access = Some(v.to_string()),
            "SignedHeaders" => names = Some(v.split(';').map(str::to_string).collect()),
            "Signature" => sig = Some(v.to_string()),
            _ => return None,
        }
    }
    Some(ParsedAuthorization {
        access: access?,
        signed_headers: names?,
        signature: sig?,
    })
}

/// `X-Sdk-Date` for a moment in time.
pub fn sdk_date(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Parse an `X-Sdk-Date` value.
pub fn parse_sdk_date(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|n| n.and_utc())
}

/// Constant-time comparison of two signatures.
pub fn signatures_match(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
