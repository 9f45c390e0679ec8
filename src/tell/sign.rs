//! The group robots' signatures, as their documentation gives them.
//!
//! - DingTalk ("加签"): `sign = urlencode(base64(HMAC-SHA256(key = secret, message =
//!   timestamp + "\n" + secret)))`, the timestamp in milliseconds; both go in the URL's query
//!   (`&timestamp=…&sign=…`), and the robot refuses a timestamp more than an hour off.
//! - Feishu / Lark ("签名校验"): `sign = base64(HMAC-SHA256(key = timestamp + "\n" + secret,
//!   message = ""))`, the timestamp in seconds; both go in the JSON body.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// DingTalk's `sign` before URL encoding: base64 of the HMAC.
pub fn dingtalk_raw(secret: &str, timestamp_ms: i64) -> String {
    let to_sign = format!("{timestamp_ms}\n{secret}");
    base64::engine::general_purpose::STANDARD.encode(hmac(secret.as_bytes(), to_sign.as_bytes()))
}

/// DingTalk's `sign` query value: [`dingtalk_raw`], URL-encoded (`+`, `/`, `=` escaped).
pub fn dingtalk(secret: &str, timestamp_ms: i64) -> String {
    percent_encoding::utf8_percent_encode(
        &dingtalk_raw(secret, timestamp_ms),
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string()
}

/// Feishu's `sign` body field.
pub fn feishu(secret: &str, timestamp_s: i64) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    base64::engine::general_purpose::STANDARD.encode(hmac(key.as_bytes(), b""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dingtalk_sign_is_url_encoded_base64_of_the_hmac() {
        let raw = dingtalk_raw("SEC000", 1_700_000_000_000);
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&raw)
                .unwrap()
                .len(),
            32
        );
        let enc = dingtalk("SEC000", 1_700_000_000_000);
        assert!(!enc.contains('+') && !enc.contains('/') && !enc.contains('='));
        let back = percent_encoding::percent_decode_str(&enc)
            .decode_utf8()
            .unwrap();
        assert_eq!(back, raw);
    }
}
