//! SIGHUP reloads the trusted documents manifest (`GRAPHQL_TRUSTED_DOCUMENTS`): deploy the
//! clients' new operations, then `kill -HUP` the server, without a restart. A manifest that
//! fails its checks is not put in force: the previous one stays, and the error (file, operation,
//! what is wrong) is logged.

use std::path::PathBuf;
use std::sync::Arc;

use crate::graphql::trusted_documents::{ManifestError, TrustedDocuments};
use crate::schema::AppSchema;

/// What a reload needs: the file, the store it fills, the schema it validates against.
pub struct ManifestReload {
    pub path: PathBuf,
    pub documents: Arc<TrustedDocuments>,
    pub schema: AppSchema,
}

impl ManifestReload {
    /// Loads the manifest (at start-up, and on each SIGHUP).
    pub async fn load(&self) -> Result<usize, ManifestError> {
        let count = self.documents.load(&self.path, &self.schema).await?;
        tracing::info!(
            path = %self.path.display(),
            documents = count,
            "trusted documents manifest loaded"
        );
        Ok(count)
    }

    /// Reloads on every SIGHUP, for as long as the returned task runs. The handler is
    /// installed before this returns, so a SIGHUP sent once the server answers never meets the
    /// default action (which ends the process).
    #[cfg(unix)]
    pub fn on_hangup(self) -> std::io::Result<tokio::task::JoinHandle<()>> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup())?;
        Ok(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                if let Err(error) = self.load().await {
                    tracing::error!(
                        %error,
                        "trusted documents manifest not reloaded: the previous one stays in force"
                    );
                }
            }
        }))
    }

    #[cfg(not(unix))]
    pub fn on_hangup(self) -> std::io::Result<tokio::task::JoinHandle<()>> {
        Ok(tokio::spawn(std::future::pending()))
    }
}
