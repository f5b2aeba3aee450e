//! Users (emails without regard to case, unique per site) and user groups (names unique per
//! site).

use fieldproof_domain::role::Role;
use uuid::Uuid;

use crate::fixtures::*;
use crate::Ctx;

pub async fn users(cx: Ctx) {
    let s = &cx.store;
    let a = ok(s.create_site(site("site-a")).await, "create_site");
    let b = ok(s.create_site(site("site-b")).await, "create_site");

    let ann = user(&a, "Ann.Smith@Example.COM", Role::Manager);
    let back = ok(s.create_user(ann.clone()).await, "create_user");
    assert_eq!(
        back.email, "ann.smith@example.com",
        "create_user stores and returns the email lower-cased"
    );
    assert_eq!(
        back,
        fieldproof_store::User {
            email: back.email.clone(),
            ..ann.clone()
        },
        "create_user returns the user as given apart from the email's case"
    );
    let ann = back;

    // One user per role, so every role survives the round trip.
    let mut stored = vec![ann.clone()];
    for (i, role) in Role::ALL.into_iter().enumerate() {
        let u = user(&a, &format!("user{i}@example.com"), role);
        stored.push(ok(s.create_user(u).await, "create_user"));
    }
    stored.sort_by(|x, y| x.email.cmp(&y.email));
    assert_eq!(
        ok(s.list_users(a.id).await, "list_users"),
        stored,
        "list_users: the site's users by email"
    );

    for spelling in [
        "ann.smith@example.com",
        "ANN.SMITH@EXAMPLE.COM",
        "Ann.Smith@example.com",
    ] {
        assert_eq!(
            ok(
                s.find_user_by_email(a.id, spelling).await,
                "find_user_by_email"
            ),
            Some(ann.clone()),
            "find_user_by_email({spelling:?}) ignores case"
        );
    }
    assert_eq!(
        ok(
            s.find_user_by_email(b.id, "ann.smith@example.com").await,
            "find_user_by_email"
        ),
        None,
        "another site's user is not found"
    );
    assert_eq!(
        ok(
            s.find_user_by_email(a.id, "nobody@example.com").await,
            "find_user_by_email"
        ),
        None
    );

    expect_conflict(
        s.create_user(user(&a, "ANN.smith@example.com", Role::Reviewer))
            .await,
        "ann.smith@example.com",
        "the same email in another case on the same site",
    );
    let on_b = ok(
        s.create_user(user(&b, "ann.smith@example.com", Role::Reviewer))
            .await,
        "the same email on another site",
    );
    assert_eq!(
        ok(
            s.find_user_by_email(b.id, "ann.smith@example.com").await,
            "find_user_by_email"
        ),
        Some(on_b.clone()),
        "a user not found a moment ago is found once created (a store may remember users, \
         never their absence)"
    );
    let other = cx.open_another().await;
    let later = ok(
        other
            .create_user(user(&a, "nobody@example.com", Role::Reviewer))
            .await,
        "create_user in another store",
    );
    assert_eq!(
        ok(
            s.find_user_by_email(a.id, "nobody@example.com").await,
            "find_user_by_email"
        ),
        Some(later.clone()),
        "a user another process created is found"
    );
    stored.push(later);
    stored.sort_by(|x, y| x.email.cmp(&y.email));
    assert_eq!(ok(s.list_users(b.id).await, "list_users"), vec![on_b]);
    assert_eq!(
        ok(s.list_users(a.id).await, "list_users"),
        stored,
        "refused and other sites' users leave the list as it was"
    );

    let mut lost = site("nowhere");
    lost.id = Uuid::new_v4();
    expect_not_found(
        s.create_user(user(&lost, "x@example.com", Role::Manager))
            .await,
        "create_user on a site that does not exist",
    );
}

pub async fn groups(cx: Ctx) {
    let s = &cx.store;
    let a = ok(s.create_site(site("site-a")).await, "create_site");
    let b = ok(s.create_site(site("site-b")).await, "create_site");
    assert!(ok(s.list_groups(a.id).await, "list_groups").is_empty());

    let mut stored = Vec::new();
    for name in ["beta", "Zeta", "alpha"] {
        let g = group(&a, name);
        assert_eq!(
            ok(s.create_group(g.clone()).await, "create_group"),
            g,
            "create_group returns the group"
        );
        stored.push(g);
    }
    let names: Vec<String> = ok(s.list_groups(a.id).await, "list_groups")
        .into_iter()
        .map(|g| g.name)
        .collect();
    // Bytewise: upper case before lower case.
    assert_eq!(
        names,
        ["Zeta", "alpha", "beta"],
        "list_groups sorts by name, bytewise"
    );

    expect_conflict(
        s.create_group(group(&a, "alpha")).await,
        "alpha",
        "a second group alpha on one site",
    );
    let on_b = ok(
        s.create_group(group(&b, "alpha")).await,
        "the same group name on another site",
    );
    assert_eq!(ok(s.list_groups(b.id).await, "list_groups"), vec![on_b]);
    assert_eq!(ok(s.list_groups(a.id).await, "list_groups").len(), 3);

    let mut lost = site("nowhere");
    lost.id = Uuid::new_v4();
    expect_not_found(
        s.create_group(group(&lost, "x")).await,
        "create_group on a site that does not exist",
    );
}
