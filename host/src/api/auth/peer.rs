//! The client certificate a TLS connection presented, as the authentication step needs it:
//! its subject and subject alternative names. rustls has already verified it against
//! `client_ca` (chain, validity dates) before the first request arrives.

use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The verified leaf certificate of the connection; a request extension.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    /// As written in logs and the reload history, e.g. `CN=prometheus, O=Acme`.
    pub subject: String,
    /// The subject's attributes as `KEY=value`.
    pub subject_parts: Vec<String>,
    /// DNS names and URIs among the subject alternative names.
    pub sans: Vec<String>,
}

impl ClientCertificate {
    /// `None` when the DER does not parse (rustls accepted it, so this does not happen in
    /// practice; the caller is then treated as having sent no certificate).
    pub fn parse(der: &[u8]) -> Option<ClientCertificate> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let registry = x509_parser::objects::oid_registry();
        let subject_parts = cert
            .subject()
            .iter_attributes()
            .map(|attr| {
                let key = x509_parser::objects::oid2abbrev(attr.attr_type(), registry)
                    .map_or_else(|_| attr.attr_type().to_id_string(), str::to_owned);
                let value = attr.as_str().unwrap_or("?");
                format!("{key}={value}")
            })
            .collect();
        let sans = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|ext| {
                ext.value
                    .general_names
                    .iter()
                    .filter_map(|name| match name {
                        GeneralName::DNSName(s) | GeneralName::URI(s) => Some((*s).to_owned()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(ClientCertificate {
            subject: cert.subject().to_string(),
            subject_parts,
            sans,
        })
    }
}
