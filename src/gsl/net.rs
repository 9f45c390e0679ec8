//! Where operators work: behind a company proxy, often one that inspects TLS with its own CA.
//!
//! Real endpoints honour `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` (reqwest reads
//! them, as Huawei's SDKs do) and trust the system's CA store beside the bundled roots, plus the
//! CA of `--ca-cert` / `GSL_CA_CERT`. A loopback endpoint (a rehearsal, `gslbatch simulate`)
//! never goes through a proxy: a company shell's `HTTP_PROXY` would send the simulator's traffic
//! to the proxy, which cannot reach this machine's loopback.

use std::path::Path;

/// Whether `url` names this machine: `localhost`, 127.0.0.0/8 or `::1`.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The CA certificates of a PEM file (one or several), for `--ca-cert`: an unreadable file or
/// one without a certificate is an error naming it.
pub fn load_ca(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("cannot read the CA file {shown}: {e}"))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("the CA file {shown} is not PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "the CA file {shown} holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(certs)
}

/// The likely cause of a TLS failure in `err`'s chain, in words an operator can act on.
pub fn tls_hint(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    use tokio_rustls::rustls::Error as Tls;
    let mut cur = Some(err);
    while let Some(e) = cur {
        // hyper-rustls wraps the handshake's error in an io::Error, which reqwest wraps in
        // another; `io::Error::source` skips the error it wraps, so look inside by hand.
        let mut inner: &(dyn std::error::Error + 'static) = e;
        while let Some(wrapped) = inner
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            inner = wrapped;
        }
        match inner.downcast_ref::<Tls>() {
            Some(Tls::InvalidCertificate(why)) => {
                return Some(format!(
                    "the server's TLS certificate is not trusted ({why:?}): a proxy that inspects \
                     TLS? give its CA with --ca-cert FILE (or GSL_CA_CERT)"
                ))
            }
            Some(other) => return Some(format!("TLS handshake failed: {other}")),
            None => {}
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_this_machine_only() {
        let l = |s: &str| is_loopback(&url::Url::parse(s).unwrap());
        assert!(l("http://127.0.0.1:8080"));
        assert!(l("http://127.9.9.9"));
        assert!(l("http://[::1]:80"));
        assert!(l("https://localhost."));
        assert!(!l("https://gsl.cn-north-4.myhuaweicloud.com"));
        assert!(!l("http://10.0.0.1"));
        assert!(!l("http://localhost.example.com"));
    }

    #[test]
    fn a_ca_file_without_a_certificate_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not a certificate\n").unwrap();
        let msg = load_ca(&p).unwrap_err();
        assert!(msg.contains("ca.pem"), "{msg}");
        assert!(load_ca(&dir.path().join("missing.pem"))
            .unwrap_err()
            .contains("missing.pem"));
    }
}
