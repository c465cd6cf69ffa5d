//! HTTPS: the rustls server config (with a client-certificate verifier when `client_ca` is
//! set) and the acceptor that hands each connection's verified client certificate to the
//! requests it carries, as a [`ClientCertificate`] extension.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use axum::middleware::AddExtension;
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use futures_util::future::BoxFuture;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tower_layer::Layer as _;

use super::auth::ClientCertificate;
use crate::config::TlsConfig;

/// A TLS set-up the server cannot start with; each message names the files.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot load the TLS certificate {} and key {}: {source}", .cert.display(), .key.display())]
    CertificateAndKey {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("cannot load the TLS certificate {}: no certificate in the file", .0.display())]
    NoCertificate(PathBuf),
    #[error("TLS set-up: {0}")]
    Setup(rustls::Error),
    #[error("cannot read the client CA {}: {source}", .ca.display())]
    ClientCa {
        ca: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("cannot use the client CA {}: {source}", .ca.display())]
    ClientCaRefused {
        ca: PathBuf,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the TLS certificate {} does not go with the key {}: {source}", .cert.display(), .key.display())]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// The server's certificate and key, and when `client_ca` is set, who may connect: with
/// `client_auth = "required"` a handshake without a certificate from that CA fails; with
/// `optional` it succeeds without one, but a certificate that is sent must still verify.
pub fn server_config(tls: &TlsConfig) -> Result<RustlsConfig, TlsError> {
    // ring keeps the build free of cmake and of aws-lc's C sources.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let unreadable = |source| TlsError::CertificateAndKey {
        cert: tls.cert.clone(),
        key: tls.key.clone(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(unreadable)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(tls.cert.clone()));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(unreadable)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?;
    let builder = match &tls.client {
        None => builder.with_no_client_auth(),
        Some(client) => {
            let mut roots = rustls::RootCertStore::empty();
            let ca = CertificateDer::pem_file_iter(&client.ca)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|source| TlsError::ClientCa {
                    ca: client.ca.clone(),
                    source,
                })?;
            for cert in ca {
                roots
                    .add(cert)
                    .map_err(|source| TlsError::ClientCaRefused {
                        ca: client.ca.clone(),
                        source: source.into(),
                    })?;
            }
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if !client.required {
                verifier = verifier.allow_unauthenticated();
            }
            builder.with_client_cert_verifier(verifier.build().map_err(|source| {
                TlsError::ClientCaRefused {
                    ca: client.ca.clone(),
                    source: Box::new(source),
                }
            })?)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|source| TlsError::Mismatch {
            cert: tls.cert.clone(),
            key: tls.key.clone(),
            source,
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}

/// axum-server's rustls acceptor, plus: the verified client certificate (if any) goes into
/// every request of the connection.
#[derive(Clone)]
pub struct PeerAcceptor {
    inner: RustlsAcceptor,
}

impl PeerAcceptor {
    pub fn new(config: RustlsConfig) -> PeerAcceptor {
        PeerAcceptor {
            inner: RustlsAcceptor::new(config),
        }
    }
}

impl<I, S> Accept<I, S> for PeerAcceptor
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Send + 'static,
{
    type Stream = TlsStream<I>;
    type Service = AddExtension<S, Option<ClientCertificate>>;
    type Future = BoxFuture<'static, io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            let (stream, service) = inner.accept(stream, service).await?;
            let peer = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| ClientCertificate::parse(leaf));
            Ok((stream, axum::Extension(peer).layer(service)))
        })
    }
}
