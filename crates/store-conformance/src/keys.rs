//! API keys: stored by hash, bound to a user of their own site, authenticated until revoked.

use fieldproof_domain::role::Role;
use fieldproof_store::{ApiKey, Principal};
use uuid::Uuid;

use crate::fixtures::*;
use crate::Ctx;

pub async fn check(cx: Ctx) {
    let s = &cx.store;
    let a = ok(s.create_site(site("site-a")).await, "create_site");
    let b = ok(s.create_site(site("site-b")).await, "create_site");
    let ua = ok(
        s.create_user(user(&a, "ann@example.com", Role::Reviewer))
            .await,
        "create_user",
    );
    let ub = ok(
        s.create_user(user(&b, "bob@example.com", Role::Manager))
            .await,
        "create_user",
    );

    // Created out of date order: listings sort by creation date.
    let ka2 = key(&ua, T0 + 20);
    let ka = key(&ua, T0 + 10);
    let kb = key(&ub, T0 + 15);
    for k in [&ka2, &ka, &kb] {
        assert_eq!(
            &ok(s.create_key(k.clone()).await, "create_key"),
            k,
            "create_key returns the key"
        );
    }
    assert_eq!(
        ok(s.list_keys(a.id).await, "list_keys"),
        vec![ka.clone(), ka2.clone()]
    );
    assert_eq!(ok(s.list_keys(b.id).await, "list_keys"), vec![kb.clone()]);

    let mut foreign_user = key(&ub, T0 + 30);
    foreign_user.site_id = a.id;
    expect_not_found(
        s.create_key(foreign_user).await,
        "a key on site A for a user of site B",
    );
    let mut lost = key(&ua, T0 + 30);
    lost.site_id = Uuid::new_v4();
    expect_not_found(
        s.create_key(lost).await,
        "a key on a site that does not exist",
    );
    let mut same_hash = key(&ua, T0 + 40);
    same_hash.hash = ka.hash.clone();
    expect_conflict(
        s.create_key(same_hash).await,
        "key",
        "a second key with the same hash",
    );
    assert_eq!(
        ok(s.list_keys(a.id).await, "list_keys").len(),
        2,
        "refused keys are not stored"
    );

    let principal = |k: &ApiKey, u: &fieldproof_store::User| Principal {
        key_id: k.id,
        site_id: k.site_id,
        user_id: u.id,
        email: u.email.clone(),
        role: u.role,
        current_app_version_id: None,
    };
    let auth = |hash: String| async move { ok(s.authenticate(&hash).await, "authenticate") };
    assert_eq!(auth(ka.hash.clone()).await, Some(principal(&ka, &ua)));
    assert_eq!(auth(kb.hash.clone()).await, Some(principal(&kb, &ub)));
    assert_eq!(
        auth(format!("{:064x}", 7)).await,
        None,
        "an unknown hash authenticates nobody"
    );

    expect_not_found(
        s.revoke_key(b.id, ka.id, T0 + 50).await,
        "site B revoking site A's key",
    );
    assert_eq!(
        auth(ka.hash.clone()).await,
        Some(principal(&ka, &ua)),
        "a key another site failed to revoke still works"
    );
    expect_not_found(
        s.revoke_key(a.id, Uuid::new_v4(), T0 + 50).await,
        "revoking an unknown key",
    );

    let revoked = ok(s.revoke_key(a.id, ka.id, T0 + 50).await, "revoke_key");
    assert_eq!(
        revoked,
        ApiKey {
            revoked_date: Some(T0 + 50),
            ..ka.clone()
        },
        "revoke_key returns the revoked key"
    );
    assert_eq!(
        auth(ka.hash.clone()).await,
        None,
        "a revoked key no longer authenticates"
    );
    assert_eq!(
        auth(ka2.hash.clone()).await,
        Some(principal(&ka2, &ua)),
        "revoking one key leaves the user's other keys working"
    );

    // The caller comes with the site's current version, read with the key: none before the
    // first publish, then each newly published one at once, from any store on the storage.
    let other = cx.open_another().await;
    let current = |store: std::sync::Arc<dyn fieldproof_store::Store>, hash: String| async move {
        ok(store.authenticate(&hash).await, "authenticate").map(|p| p.current_app_version_id)
    };
    for (n, at) in [(1, T0 + 55), (2, T0 + 56)] {
        let v = ok(
            other.publish_app_version(a.id, app("inspection"), at).await,
            "publish_app_version",
        );
        assert_eq!(
            current(s.clone(), ka2.hash.clone()).await,
            Some(Some(v.id)),
            "the caller's current version is the one just published (publish {n})"
        );
    }
    assert_eq!(
        current(s.clone(), kb.hash.clone()).await,
        Some(None),
        "another site's publish does not give this site a version"
    );

    let again = ok(s.revoke_key(a.id, ka.id, T0 + 60).await, "revoke_key twice");
    assert_eq!(
        again.revoked_date,
        Some(T0 + 50),
        "a second revocation keeps the first date"
    );
    assert_eq!(
        ok(s.list_keys(a.id).await, "list_keys"),
        vec![revoked, ka2.clone()],
        "list_keys shows revoked keys with their date"
    );
}
