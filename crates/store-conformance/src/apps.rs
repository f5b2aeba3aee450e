//! Application versions: numbered per (site, application name), the latest published is the
//! site's current one, readable only by their own site, and kept across a reopen.

use fieldproof_domain::app::AppVersion;
use fieldproof_store::AppVersionSummary;
use uuid::Uuid;

use crate::fixtures::*;
use crate::Ctx;

fn numbered(v: &AppVersion, version: u32) -> AppVersion {
    AppVersion {
        version,
        ..v.clone()
    }
}

fn summary(v: &AppVersion, create_date: i64, is_current: bool) -> AppVersionSummary {
    AppVersionSummary {
        id: v.id,
        app_name: v.app_name.clone(),
        version: v.version,
        create_date,
        is_current,
    }
}

pub async fn check(mut cx: Ctx) {
    let s = cx.store.clone();
    let a = ok(s.create_site(site("site-a")).await, "create_site");
    let b = ok(s.create_site(site("site-b")).await, "create_site");
    assert!(ok(s.current_app_version(a.id).await, "current_app_version").is_none());
    assert!(ok(s.list_app_versions(a.id).await, "list_app_versions").is_empty());

    let given = app("inspection");
    let p1 = ok(
        s.publish_app_version(a.id, given.clone(), T0 + 10).await,
        "publish",
    );
    assert_eq!(
        *p1,
        numbered(&given, 1),
        "the first version of an application is number 1"
    );
    assert_eq!(
        ok(s.current_app_version(a.id).await, "current_app_version").as_deref(),
        Some(&*p1)
    );
    let site_a = ok(s.find_site(&a.name).await, "find_site").expect("site A exists");
    assert_eq!(
        site_a.current_app_version_id,
        Some(p1.id),
        "the site points at its current version"
    );

    assert_eq!(
        ok(s.app_version(a.id, p1.id).await, "app_version").as_deref(),
        Some(&*p1)
    );
    // Asked after site A has read it (an engine may cache versions): still not site B's.
    assert_eq!(
        ok(s.app_version(b.id, p1.id).await, "app_version"),
        None,
        "site B reading A's version"
    );
    assert_eq!(
        ok(s.current_app_version(b.id).await, "current_app_version"),
        None
    );
    assert_eq!(
        ok(s.app_version(a.id, Uuid::new_v4()).await, "app_version"),
        None
    );

    let p2 = ok(
        s.publish_app_version(a.id, app("inspection"), T0 + 20)
            .await,
        "publish",
    );
    assert_eq!(
        p2.version, 2,
        "the next version of the same application is number 2"
    );
    assert_ne!(p2.id, p1.id);
    assert_eq!(
        ok(s.current_app_version(a.id).await, "current_app_version").map(|v| v.id),
        Some(p2.id)
    );
    let q1 = ok(
        s.publish_app_version(a.id, app("audit"), T0 + 30).await,
        "publish",
    );
    assert_eq!(q1.version, 1, "versions are numbered per application name");
    assert_eq!(
        ok(s.current_app_version(a.id).await, "current_app_version").map(|v| v.id),
        Some(q1.id),
        "the latest published version is current, whatever its application"
    );
    let b1 = ok(
        s.publish_app_version(b.id, app("inspection"), T0 + 40)
            .await,
        "publish",
    );
    assert_eq!(b1.version, 1, "versions are numbered per site");
    assert_eq!(
        ok(s.current_app_version(a.id).await, "current_app_version").map(|v| v.id),
        Some(q1.id),
        "publishing on site B leaves site A's current version"
    );
    assert_eq!(
        ok(s.app_version(a.id, p1.id).await, "app_version").as_deref(),
        Some(&*p1),
        "an old version stays readable (work orders stay on it)"
    );

    let listing_a = vec![
        summary(&q1, T0 + 30, true),
        summary(&p1, T0 + 10, false),
        summary(&p2, T0 + 20, false),
    ];
    assert_eq!(
        ok(s.list_app_versions(a.id).await, "list_app_versions"),
        listing_a,
        "by name, then number"
    );
    assert_eq!(
        ok(s.list_app_versions(b.id).await, "list_app_versions"),
        vec![summary(&b1, T0 + 40, true)]
    );

    expect_not_found(
        s.publish_app_version(Uuid::new_v4(), app("inspection"), T0 + 50)
            .await,
        "publishing on a site that does not exist",
    );

    // Versions are in the storage, not only in the first store's cache.
    drop(s);
    cx.reopen().await;
    let s = cx.store.clone();
    assert_eq!(
        ok(s.current_app_version(a.id).await, "current after reopen").as_deref(),
        Some(&*q1)
    );
    assert_eq!(
        ok(s.app_version(a.id, p1.id).await, "app_version after reopen").as_deref(),
        Some(&*p1)
    );
    assert_eq!(
        ok(s.app_version(b.id, p1.id).await, "app_version after reopen"),
        None
    );
    assert_eq!(
        ok(s.list_app_versions(a.id).await, "list after reopen"),
        listing_a
    );
    let p3 = ok(
        s.publish_app_version(a.id, app("inspection"), T0 + 60)
            .await,
        "publish after reopen",
    );
    assert_eq!(p3.version, 3, "numbering continues after a reopen");
}
