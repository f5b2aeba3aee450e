//! Lookups by strings that come straight from requests (query parameters, bodies, headers) and
//! may hold characters an engine cannot store, such as NUL: they find nothing, without an error.

use fieldproof_domain::role::Role;
use fieldproof_store::*;

use crate::fixtures::*;
use crate::Ctx;

pub async fn check(cx: Ctx) {
    let s = &cx.store;
    let (a, va) = site_with_app(s, "site-a").await;
    ok(
        s.create_user(user(&a, "ann@example.com", Role::Manager))
            .await,
        "create_user",
    );
    let wo = WorkOrderRow {
        field_engineer: Some(engineer("ann@example.com")),
        ..work_order(&a, &va, "wo", T0 + 10)
    };
    create(s, &wo).await;
    let nul = "ann\u{0}@example.com";

    assert_eq!(ok(s.find_site("site-a\u{0}").await, "find_site"), None);
    assert_eq!(
        ok(s.find_user_by_email(a.id, nul).await, "find_user_by_email"),
        None
    );
    assert_eq!(ok(s.authenticate("abc\u{0}").await, "authenticate"), None);
    assert_eq!(
        ok(
            s.idempotency_record(a.id, "k\u{0}").await,
            "idempotency_record"
        ),
        None
    );
    for filter in [
        WorkOrderFilter {
            name: Some("wo\u{0}".into()),
            ..Default::default()
        },
        WorkOrderFilter {
            field_engineer_email: Some(nul.into()),
            ..Default::default()
        },
        WorkOrderFilter {
            tags: vec!["t\u{0}".into()],
            ..Default::default()
        },
        WorkOrderFilter {
            metadata: vec![("k\u{0}".into(), "v\u{0}".into())],
            ..Default::default()
        },
    ] {
        assert_eq!(
            list_all(s, &a, &filter).await,
            (0, vec![]),
            "{filter:?} finds nothing"
        );
    }
    assert_eq!(
        list_all(s, &a, &WorkOrderFilter::default()).await.0,
        1,
        "the work order is there"
    );
}
