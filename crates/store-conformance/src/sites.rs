//! Sites: creation, listing by name, lookup by name or id, unique names.

use crate::fixtures::*;
use crate::Ctx;

pub async fn check(cx: Ctx) {
    let s = &cx.store;
    ok(s.ping().await, "ping");
    assert!(
        ok(s.list_sites().await, "list_sites").is_empty(),
        "fresh storage must have no site"
    );

    // Created out of order; "a-z" sorts before "alpha" by bytes ('-' < 'l') but after it in
    // linguistic collations that skip punctuation, so this pins the byte order of listings.
    let mut created = Vec::new();
    for name in ["beta", "alpha", "a-z"] {
        let site = site(name);
        let back = ok(s.create_site(site.clone()).await, "create_site");
        assert_eq!(back, site, "create_site must return the site as stored");
        created.push(site);
    }
    let names: Vec<String> = ok(s.list_sites().await, "list_sites")
        .into_iter()
        .map(|x| x.name)
        .collect();
    assert_eq!(
        names,
        ["a-z", "alpha", "beta"],
        "list_sites sorts by name, bytewise"
    );

    let alpha = &created[1];
    let found = |key: String| async move { ok(s.find_site(&key).await, "find_site") };
    assert_eq!(
        found("alpha".into()).await.as_ref(),
        Some(alpha),
        "find_site by name"
    );
    assert_eq!(
        found("ALPHA".into()).await.as_ref(),
        Some(alpha),
        "find_site matches a name without regard to case (names are stored lower-case)"
    );
    assert_eq!(
        found(alpha.id.to_string()).await.as_ref(),
        Some(alpha),
        "find_site by id"
    );
    assert_eq!(
        found(alpha.id.to_string().to_uppercase()).await.as_ref(),
        Some(alpha),
        "find_site by an id written in upper case"
    );
    assert_eq!(
        found("gamma".into()).await,
        None,
        "find_site of an unknown name"
    );
    assert_eq!(
        found(uuid::Uuid::new_v4().to_string()).await,
        None,
        "find_site of an unknown id"
    );

    expect_conflict(
        s.create_site(site("alpha")).await,
        "alpha",
        "a second site named alpha",
    );
    assert_eq!(
        ok(s.list_sites().await, "list_sites").len(),
        3,
        "a refused site is not stored"
    );
    assert_eq!(alpha.current_app_version_id, None);
    assert_eq!(
        found("alpha".into())
            .await
            .and_then(|x| x.current_app_version_id),
        None,
        "a new site has no current application version"
    );
}
