//! API keys: `fpk_` followed by 48 hex digits (192 random bits from the OS). Only the SHA-256 of
//! a key is stored; the key itself is printed once, at creation.

use anyhow::{Context, Result};
use fieldproof_api::extract::key_hash;
use fieldproof_api::time::now_micros;
use fieldproof_store::{actions, ApiKey, Store, User};
use serde_json::json;
use uuid::Uuid;

pub const KEY_PREFIX: &str = "fpk_";

/// Creates a key for `user`, records it in the audit trail (its prefix, never the key or its
/// hash) and returns it with the stored record.
pub async fn create(store: &dyn Store, user: &User, label: &str) -> Result<(String, ApiKey)> {
    let mut random = [0u8; 24];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let key = format!("{KEY_PREFIX}{}", hex::encode(random));
    let record = ApiKey {
        id: Uuid::new_v4(),
        site_id: user.site_id,
        user_id: user.id,
        hash: key_hash(&key),
        display_prefix: key[..KEY_PREFIX.len() + 6].to_string(),
        label: label.to_string(),
        create_date: now_micros(),
        revoked_date: None,
    };
    let record = store
        .create_key(record)
        .await
        .context("cannot store the key")?;
    let details = json!({
        "user_id": user.id, "email": user.email, "label": record.label,
        "display_prefix": record.display_prefix,
    });
    crate::audit::record(
        store,
        user.site_id,
        actions::KEY_CREATE,
        "key",
        record.id,
        details,
    )
    .await;
    Ok((key, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_hex_sha256() {
        let h = key_hash("fpk_00");
        assert_eq!(h.len(), 64);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(h, key_hash("fpk_01"));
    }
}
