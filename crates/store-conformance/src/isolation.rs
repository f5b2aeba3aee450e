//! Site isolation in one sweep: site B, calling every method with site A's ids, sees nothing of
//! A and changes nothing of A.

use fieldproof_domain::role::Role;
use fieldproof_store::*;

use crate::fixtures::*;
use crate::Ctx;

/// Everything site A can read about itself.
async fn snapshot(cx: &Ctx, a: &Site, wo: &WorkOrderRow, key: &ApiKey) -> String {
    let s = &cx.store;
    format!(
        "{:?}",
        (
            ok(s.list_users(a.id).await, "list_users"),
            ok(s.list_groups(a.id).await, "list_groups"),
            ok(s.list_keys(a.id).await, "list_keys"),
            ok(s.authenticate(&key.hash).await, "authenticate"),
            ok(s.list_app_versions(a.id).await, "list_app_versions"),
            ok(s.current_app_version(a.id).await, "current_app_version"),
            ok(s.get_work_order(a.id, wo.id).await, "get_work_order"),
            list_all(s, a, &WorkOrderFilter::default()).await,
            ok(
                s.idempotency_record(a.id, "shared-key").await,
                "idempotency_record"
            ),
            ok(
                s.list_audit(a.id, &AuditFilter::default(), 0, 100).await,
                "list_audit"
            ),
        )
    )
}

pub async fn check(cx: Ctx) {
    let s = &cx.store;
    let (a, va) = site_with_app(s, "site-a").await;
    let (b, vb) = site_with_app(s, "site-b").await;
    let ua = ok(
        s.create_user(user(&a, "ann@example.com", Role::Administrator))
            .await,
        "create_user",
    );
    ok(s.create_group(group(&a, "team")).await, "create_group");
    let ka = ok(s.create_key(key(&ua, T0 + 10)).await, "create_key");
    let wo = WorkOrderRow {
        tags: vec!["t".into()],
        ..work_order(&a, &va, "a's work order", T0 + 20)
    };
    let rec = IdempotencyRecord {
        key: "shared-key".into(),
        request_hash: "h".into(),
        status: 201,
        body: "{}".into(),
        create_date: T0 + 20,
    };
    ok(
        s.create_work_order(wo.clone(), Some(rec), None).await,
        "create_work_order",
    );
    ok(
        s.record_audit(AuditEvent::new(
            a.id,
            CLI_ACTOR,
            actions::KEY_CREATE,
            "key",
            ka.id,
            serde_json::json!({}),
            T0 + 10,
        ))
        .await,
        "record_audit",
    );
    let before = snapshot(&cx, &a, &wo, &ka).await;

    // Reads from site B.
    assert!(
        ok(s.list_users(b.id).await, "list_users").is_empty(),
        "B lists A's users"
    );
    assert_eq!(
        ok(
            s.find_user_by_email(b.id, "ann@example.com").await,
            "find_user_by_email"
        ),
        None
    );
    assert!(
        ok(s.list_groups(b.id).await, "list_groups").is_empty(),
        "B lists A's groups"
    );
    assert!(
        ok(s.list_keys(b.id).await, "list_keys").is_empty(),
        "B lists A's keys"
    );
    let versions_b = ok(s.list_app_versions(b.id).await, "list_app_versions");
    assert_eq!(
        versions_b.iter().map(|v| v.id).collect::<Vec<_>>(),
        vec![vb.id],
        "B lists A's versions"
    );
    assert_eq!(
        ok(s.app_version(b.id, va.id).await, "app_version"),
        None,
        "B reads A's version"
    );
    assert_eq!(
        ok(s.get_work_order(b.id, wo.id).await, "get_work_order"),
        None,
        "B reads A's work order"
    );
    let everything = WorkOrderFilter::default();
    assert_eq!(
        list_all(s, &b, &everything).await,
        (0, vec![]),
        "B lists A's work orders"
    );
    let by_tag = WorkOrderFilter {
        tags: vec!["t".into()],
        ..Default::default()
    };
    assert_eq!(
        list_all(s, &b, &by_tag).await.0,
        0,
        "B finds A's work order by tag"
    );
    assert!(ok(s.task_states(b.id, wo.id).await, "task_states").is_empty());
    assert!(ok(s.task_states_of(b.id, &[wo.id]).await, "task_states_of").is_empty());
    assert_eq!(
        ok(
            s.idempotency_record(b.id, "shared-key").await,
            "idempotency_record"
        ),
        None
    );

    // Writes from site B.
    expect_not_found(
        s.revoke_key(b.id, ka.id, T0 + 30).await,
        "B revoking A's key",
    );
    expect_not_found(
        s.update_work_order(
            b.id,
            wo.id,
            WorkOrderChanges {
                name: Some("taken".into()),
                tags: Some(vec![]),
                now: T0 + 30,
                ..Default::default()
            },
            vb.clone(),
            None,
        )
        .await,
        "B updating A's work order",
    );
    expect_not_found(
        s.delete_work_order(b.id, wo.id, None).await,
        "B deleting A's work order",
    );
    let mut foreign = key(&ua, T0 + 30);
    foreign.site_id = b.id;
    expect_not_found(s.create_key(foreign).await, "B making a key for A's user");
    // B's own writes under the same names and keys stand beside A's.
    ok(
        s.create_user(user(&b, "ann@example.com", Role::ReadOnly))
            .await,
        "B's own ann",
    );
    ok(s.create_group(group(&b, "team")).await, "B's own team");
    let wo_b = work_order(&b, &vb, "a's work order", T0 + 40);
    let rec_b = IdempotencyRecord {
        key: "shared-key".into(),
        request_hash: "other".into(),
        status: 201,
        body: "[]".into(),
        create_date: T0 + 40,
    };
    assert_eq!(
        ok(
            s.create_work_order(wo_b.clone(), Some(rec_b), None).await,
            "create_work_order"
        ),
        CreateOutcome::Created(wo_b),
        "B's idempotency key is B's own"
    );
    ok(
        s.publish_app_version(b.id, crate::fixtures::app("inspection"), T0 + 50)
            .await,
        "publish",
    );
    ok(
        s.record_audit(AuditEvent::new(
            b.id,
            CLI_ACTOR,
            actions::WORK_ORDER_CREATE,
            "work_order",
            wo.id,
            serde_json::json!({}),
            T0 + 60,
        ))
        .await,
        "B's event about A's work order id",
    );
    assert_eq!(
        ok(
            s.list_audit(b.id, &AuditFilter::default(), 0, 100).await,
            "list_audit"
        )
        .0,
        1,
        "B lists A's audit events"
    );

    assert_eq!(
        snapshot(&cx, &a, &wo, &ka).await,
        before,
        "site A's data changed through site B"
    );
}
