//! The reloader's mailbox: every change (reload, upload, delete, enable, disable) is a command
//! the reloader task handles one at a time, answered on a oneshot channel.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::history::{History, ReloadRecord};

/// Why a management request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Failed(String),
}

pub(super) enum Command {
    Reload {
        trigger: &'static str,
        reply: Option<oneshot::Sender<ReloadRecord>>,
    },
    Upload {
        name: String,
        bytes: Vec<u8>,
        /// The text of its minisign signature, when the upload carried one.
        signature: Option<String>,
        reply: oneshot::Sender<Result<ReloadRecord, ManageError>>,
    },
    Delete {
        name: String,
        reply: oneshot::Sender<Result<ReloadRecord, ManageError>>,
    },
    SetDisabled {
        name: String,
        disabled: bool,
        reply: oneshot::Sender<Result<ReloadRecord, ManageError>>,
    },
}

/// A command and who asked for it (`None`: the host itself: watcher, SIGHUP).
pub(super) struct Envelope {
    pub command: Command,
    pub caller: Option<String>,
}

/// A cloneable way to ask the reloader for something, and to read the reload history.
#[derive(Clone)]
pub struct ReloadHandle {
    pub(super) tx: mpsc::Sender<Envelope>,
    pub(super) history: Arc<History>,
    pub(super) caller: Option<String>,
}

impl ReloadHandle {
    /// This handle, with `caller` (like `jwt:alice`) recorded on the reloads it causes.
    pub fn by(&self, caller: String) -> ReloadHandle {
        ReloadHandle {
            caller: Some(caller),
            ..self.clone()
        }
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    pub async fn reload(&self, trigger: &'static str) -> Result<ReloadRecord, ManageError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Reload {
            trigger,
            reply: Some(reply),
        })
        .await?;
        rx.await.map_err(|_| stopped())
    }

    /// Asks for a reload without waiting for it (from the file watcher's thread).
    pub fn request_blocking(&self, trigger: &'static str) {
        let _ = self.tx.blocking_send(Envelope {
            command: Command::Reload {
                trigger,
                reply: None,
            },
            caller: self.caller.clone(),
        });
    }

    pub async fn upload(
        &self,
        name: String,
        bytes: Vec<u8>,
        signature: Option<String>,
    ) -> Result<ReloadRecord, ManageError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Upload {
            name,
            bytes,
            signature,
            reply,
        })
        .await?;
        rx.await.map_err(|_| stopped())?
    }

    pub async fn delete(&self, name: String) -> Result<ReloadRecord, ManageError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Delete { name, reply }).await?;
        rx.await.map_err(|_| stopped())?
    }

    pub async fn set_disabled(
        &self,
        name: String,
        disabled: bool,
    ) -> Result<ReloadRecord, ManageError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::SetDisabled {
            name,
            disabled,
            reply,
        })
        .await?;
        rx.await.map_err(|_| stopped())?
    }

    async fn send(&self, command: Command) -> Result<(), ManageError> {
        let caller = self.caller.clone();
        self.tx
            .send(Envelope { command, caller })
            .await
            .map_err(|_| stopped())
    }
}

fn stopped() -> ManageError {
    ManageError::Failed("the reloader has stopped (the host is shutting down)".into())
}
