//! The mailbox the processes of one deployment share: the agent's database (`--db`,
//! `--mailbox`: SQLite for one machine, PostgreSQL across machines). Only sealed blobs pass
//! through it: deficits the DON's nodes seal to the agent, exit tickets the agent forwards to
//! the nodes, orders and maker commitments sealed to the matcher, fill notices and tickets the
//! matcher seals to each party.

use alloy::primitives::Address;
use shr_enclave::Sealed;
use shr_oracle::NodeMailbox;
use shr_store::Store;

/// [`NodeMailbox`] on the shared store: credits under `credit/{signer}`, deficits in the
/// store's sealed-deficit table.
#[derive(Debug, Clone)]
pub(crate) struct StoreMailbox(pub(crate) Store);

fn mailbox_err(what: &'static str) -> impl FnOnce(shr_store::Error) -> shr_oracle::Error {
    move |e| shr_oracle::Error::Mailbox { what, source: Box::new(e) }
}

#[async_trait::async_trait]
impl NodeMailbox for StoreMailbox {
    async fn credit(&self, signer: Address) -> shr_oracle::Result<Option<Sealed>> {
        let blob = self
            .0
            .sealed("credit", &signer.to_string())
            .await
            .map_err(mailbox_err("read credit"))?;
        Ok(blob.map(Sealed))
    }

    async fn hand_off_deficit(&self, observed_at: u64, sealed: &Sealed) -> shr_oracle::Result<()> {
        self.0
            .put_sealed_deficit(observed_at, sealed.as_bytes())
            .await
            .map_err(mailbox_err("write sealed deficit"))
    }
}
