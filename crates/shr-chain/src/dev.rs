//! Dev accounts derived from the standard test mnemonic.

use alloy::signers::local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English};

/// The mnemonic anvil and hardhat fund by default; the embedded chain funds the same accounts.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// The first `n` signers of [`DEV_MNEMONIC`] on the path `m/44'/60'/0'/0/i`.
///
/// # Panics
/// Never for the constant mnemonic: derivation of a valid phrase cannot fail.
pub fn dev_signers(n: u32) -> Vec<PrivateKeySigner> {
    (0..n)
        .map(|i| {
            MnemonicBuilder::<English>::default()
                .phrase(DEV_MNEMONIC)
                .index(i)
                .and_then(|b| b.build())
                .expect("the dev mnemonic derives")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_dev_account_matches_anvil() {
        let s = dev_signers(2);
        assert_eq!(s[0].address().to_string(), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        assert_eq!(s[1].address().to_string(), "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    }
}
