//! HTTPS to a server with a private CA: an operator names a PEM bundle (`tls_ca`) for a
//! provider, and that provider's requests trust those roots instead of the public web PKI.
//! wasmtime-wasi-http's own client only knows the public roots, so these requests go through
//! this small hyper client instead (one connection per request, like the default one).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt as _;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

/// The roots of one bundle, ready to use; equal when path and content are.
#[derive(Clone)]
pub struct TlsRoots {
    path: PathBuf,
    sha256: [u8; 32],
    config: Arc<rustls::ClientConfig>,
}

impl PartialEq for TlsRoots {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.sha256 == other.sha256
    }
}

impl Eq for TlsRoots {}

impl std::fmt::Debug for TlsRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsRoots({})", self.path.display())
    }
}

/// A CA bundle that cannot be used; each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsRootsError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a PEM bundle: {source}", .path.display())]
    NotPem {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("{} holds a certificate rustls refuses: {source}", .path.display())]
    Refused {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("{} holds no PEM certificate", .path.display())]
    Empty { path: PathBuf },
}

impl TlsRoots {
    /// Reads every certificate of the PEM file at `path`.
    pub fn load(path: &Path) -> Result<TlsRoots, TlsRootsError> {
        let at = || path.to_owned();
        let pem =
            std::fs::read(path).map_err(|source| TlsRootsError::Read { path: at(), source })?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|source| TlsRootsError::NotPem { path: at(), source })?;
            roots
                .add(cert)
                .map_err(|source| TlsRootsError::Refused { path: at(), source })?;
        }
        if roots.is_empty() {
            return Err(TlsRootsError::Empty { path: at() });
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsRootsError::Refused { path: at(), source })?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(TlsRoots {
            path: path.to_owned(),
            sha256: Sha256::digest(&pem).into(),
            config: Arc::new(config),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn config(&self) -> Arc<rustls::ClientConfig> {
        self.config.clone()
    }
}

type ResponseIo = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// Sends an `https` request trusting `config`'s roots only.
pub(super) async fn send(
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    config: Arc<rustls::ClientConfig>,
) -> Result<(http::Response<WasiBody>, ResponseIo), HttpError> {
    let uri = request.uri().clone();
    let host = uri.host().ok_or(HttpError::HttpRequestUriInvalid)?;
    // `[::1]` in a URI is `::1` to DNS and to certificates.
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let long = Duration::from_secs(600);
    let connect_timeout = options.and_then(|o| o.connect_timeout).unwrap_or(long);
    let first_byte_timeout = options.and_then(|o| o.first_byte_timeout).unwrap_or(long);

    let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| HttpError::ConnectionTimeout)?
        .map_err(HttpError::Connect)?;
    let name = ServerName::try_from(host).map_err(|_| HttpError::HttpRequestUriInvalid)?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(HttpError::Tls)?;
    let (mut sender, connection) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::handshake(TokioIo::new(tls)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)??;
    let driver = tokio::spawn(async move { connection.await.map_err(HttpError::from) });

    // Over a direct connection the request line carries only the path.
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    *request.uri_mut() = path.parse().map_err(|_| HttpError::HttpRequestUriInvalid)?;
    let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
        .await
        .map_err(|_| HttpError::ConnectionReadTimeout)??;
    let io: ResponseIo = Box::new(async move { driver.await.unwrap_or(Ok(())) });
    Ok((
        response.map(|body| body.map_err(HttpError::from).boxed_unsync()),
        io,
    ))
}
