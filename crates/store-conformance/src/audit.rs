//! The audit trail: events come back as written, newest first, filtered and paged, only to
//! their own site, and outlive the objects they name.

use fieldproof_domain::role::Role;
use fieldproof_store::*;
use serde_json::json;
use uuid::Uuid;

use crate::fixtures::*;
use crate::Ctx;

/// An event of `site` about `object_id`, by a made-up user, with details of every JSON kind.
pub(crate) fn event(site: &Site, action: &str, object_id: &str, at: i64) -> AuditEvent {
    AuditEvent::new(
        site.id,
        user_actor(Uuid::new_v4()),
        action,
        "work_order",
        object_id,
        json!({"changes": {"name": "après", "tags": ["a", "b"]}, "n": 1.5, "none": null}),
        at,
    )
}

/// Every event of `site` matching `filter`, with their count.
pub(crate) async fn list(
    s: &std::sync::Arc<dyn Store>,
    site: &Site,
    filter: AuditFilter,
) -> (u64, Vec<AuditEvent>) {
    ok(s.list_audit(site.id, &filter, 0, 1_000).await, "list_audit")
}

fn ids(events: &[AuditEvent]) -> Vec<Uuid> {
    events.iter().map(|e| e.id).collect()
}

pub async fn check(mut cx: Ctx) {
    let s = cx.store.clone();
    let a = ok(s.create_site(site("site-a")).await, "create_site");
    let b = ok(s.create_site(site("site-b")).await, "create_site");
    let wo1 = Uuid::new_v4().to_string();
    let wo2 = Uuid::new_v4().to_string();

    // Written out of time order; two at the same time (the larger id lists first).
    let e_update = event(&a, actions::WORK_ORDER_UPDATE, &wo1, T0 + 30);
    let e_create = event(&a, actions::WORK_ORDER_CREATE, &wo1, T0 + 10);
    let e_other = event(&a, actions::WORK_ORDER_CREATE, &wo2, T0 + 20);
    let mut same_time = event(&a, actions::WORK_ORDER_DELETE, &wo2, T0 + 30);
    same_time.actor = CLI_ACTOR.into();
    same_time.object_type = "work_order".into();
    let e_b = event(&b, actions::WORK_ORDER_CREATE, &wo1, T0 + 15);
    for e in [&e_update, &e_create, &e_other, &same_time, &e_b] {
        ok(s.record_audit(e.clone()).await, "record_audit");
    }

    let mut newest_first = vec![
        e_update.clone(),
        same_time.clone(),
        e_other.clone(),
        e_create.clone(),
    ];
    newest_first.sort_by_key(|e| std::cmp::Reverse((e.create_date, e.id)));
    let (count, all) = list(&s, &a, AuditFilter::default()).await;
    assert_eq!(count, 4, "site A has four events");
    assert_eq!(
        all, newest_first,
        "events come back as written, newest first (then the larger id)"
    );

    // Filters, each alone and together; time bounds are strict.
    let by_object = AuditFilter {
        object_id: Some(wo1.clone()),
        ..Default::default()
    };
    assert_eq!(
        ids(&list(&s, &a, by_object).await.1),
        vec![e_update.id, e_create.id],
        "filter by object"
    );
    let by_action = AuditFilter {
        action: Some(actions::WORK_ORDER_CREATE.into()),
        ..Default::default()
    };
    assert_eq!(
        ids(&list(&s, &a, by_action).await.1),
        vec![e_other.id, e_create.id],
        "filter by action"
    );
    let window = AuditFilter {
        after: Some(T0 + 10),
        before: Some(T0 + 30),
        ..Default::default()
    };
    assert_eq!(
        list(&s, &a, window).await,
        (1, vec![e_other.clone()]),
        "after and before are strict"
    );
    let both = AuditFilter {
        object_id: Some(wo2.clone()),
        action: Some(actions::WORK_ORDER_DELETE.into()),
        after: Some(T0),
        before: Some(T0 + 31),
    };
    assert_eq!(list(&s, &a, both).await, (1, vec![same_time.clone()]));
    let nothing = AuditFilter {
        action: Some("work_order.nope".into()),
        ..Default::default()
    };
    assert_eq!(list(&s, &a, nothing).await, (0, vec![]));
    let unstorable = AuditFilter {
        object_id: Some("a\0b".into()),
        action: Some("x\0".into()),
        ..Default::default()
    };
    assert_eq!(
        list(&s, &a, unstorable).await,
        (0, vec![]),
        "a filter holding NUL matches nothing, without failing"
    );

    // Pages: the count is the total, the page its slice.
    let page = ok(
        s.list_audit(a.id, &AuditFilter::default(), 1, 2).await,
        "list_audit",
    );
    assert_eq!(page, (4, newest_first[1..3].to_vec()), "offset 1, limit 2");
    let past = ok(
        s.list_audit(a.id, &AuditFilter::default(), 10, 2).await,
        "list_audit",
    );
    assert_eq!(past.1, vec![], "a page past the end is empty");

    // Sites see their own events only, whatever the filter names.
    let (count_b, events_b) = list(&s, &b, AuditFilter::default()).await;
    assert_eq!(
        (count_b, events_b),
        (1, vec![e_b.clone()]),
        "B sees B's only"
    );
    let a_object_from_b = AuditFilter {
        object_id: Some(wo2.clone()),
        ..Default::default()
    };
    assert_eq!(
        list(&s, &b, a_object_from_b).await,
        (0, vec![]),
        "B finds A's object"
    );
    let nowhere = Uuid::new_v4();
    assert_eq!(
        ok(
            s.list_audit(nowhere, &AuditFilter::default(), 0, 10).await,
            "list_audit"
        ),
        (0, vec![]),
        "an unknown site has no events"
    );

    // Writes that must be refused.
    let mut lost = event(&a, actions::USER_CREATE, "x", T0 + 40);
    lost.site_id = nowhere;
    expect_not_found(
        s.record_audit(lost).await,
        "an event of a site that does not exist",
    );
    let mut twin = event(&a, actions::USER_CREATE, "x", T0 + 40);
    twin.id = e_create.id;
    expect_conflict(
        s.record_audit(twin).await,
        "audit",
        "an event id used twice",
    );

    // Events outlive their object: deleting the work order they name keeps them.
    let v = ok(
        s.publish_app_version(a.id, app("inspection"), T0 + 3).await,
        "publish_app_version",
    );
    let wo = work_order(&a, &v, "doomed", T0 + 50);
    create(&s, &wo).await;
    let e_wo = event(&a, actions::WORK_ORDER_CREATE, &wo.id.to_string(), T0 + 50);
    ok(s.record_audit(e_wo.clone()).await, "record_audit");
    ok(
        s.delete_work_order(a.id, wo.id, None).await,
        "delete_work_order",
    );
    let of_wo = AuditFilter {
        object_id: Some(wo.id.to_string()),
        ..Default::default()
    };
    assert_eq!(
        list(&s, &a, of_wo.clone()).await,
        (1, vec![e_wo.clone()]),
        "a deleted work order keeps its events"
    );

    // Acknowledged events are in the storage, not only in the store's memory.
    let u = ok(
        s.create_user(user(&a, "ann@example.com", Role::Administrator))
            .await,
        "create_user",
    );
    let e_user = AuditEvent::new(
        a.id,
        CLI_ACTOR,
        actions::USER_CREATE,
        "user",
        u.id,
        json!({"email": u.email, "role": "administrator"}),
        T0 + 60,
    );
    ok(s.record_audit(e_user.clone()).await, "record_audit");
    cx.reopen().await;
    let (count, all) = list(&cx.store, &a, AuditFilter::default()).await;
    assert_eq!(count, 6, "every event survives a reopen");
    assert_eq!(
        all.first(),
        Some(&e_user),
        "the newest event after a reopen"
    );
}

/// A work order's create, update and delete write the event they are given in their own
/// transaction: an acknowledged change has its event, a refused one has none, and an event that
/// cannot be written takes its change down with it.
pub async fn with_changes(mut cx: Ctx) {
    let s = cx.store.clone();
    let (a, va) = site_with_app(&s, "site-a").await;
    let of = |id: Uuid| AuditFilter {
        object_id: Some(id.to_string()),
        ..Default::default()
    };
    let change = |action: &str, id: Uuid, at: i64| event(&a, action, &id.to_string(), at);

    // Create: the event is there as soon as the work order is, in any store on the storage.
    let wo = work_order(&a, &va, "with event", T0 + 100);
    let e_create = change(actions::WORK_ORDER_CREATE, wo.id, T0 + 100);
    let record = IdempotencyRecord {
        key: "k-audit".into(),
        request_hash: "h".into(),
        status: 201,
        body: "{}".into(),
        create_date: T0 + 100,
    };
    assert_eq!(
        ok(
            s.create_work_order(wo.clone(), Some(record.clone()), Some(e_create.clone()))
                .await,
            "create_work_order with an event",
        ),
        CreateOutcome::Created(wo.clone())
    );
    let other = cx.open_another().await;
    assert_eq!(
        list(&other, &a, of(wo.id)).await,
        (1, vec![e_create.clone()]),
        "a create's event is stored with it"
    );
    drop(other);

    // A replay writes nothing: not its event either.
    let again = work_order(&a, &va, "replayed", T0 + 110);
    let e_replay = change(actions::WORK_ORDER_CREATE, again.id, T0 + 110);
    assert!(
        matches!(
            ok(
                s.create_work_order(again.clone(), Some(record), Some(e_replay))
                    .await,
                "create_work_order replayed"
            ),
            CreateOutcome::Replayed(_)
        ),
        "the same idempotency key replays"
    );
    assert_eq!(
        list(&s, &a, of(again.id)).await.0,
        0,
        "a replayed create records no event"
    );

    // Update.
    let rename = |name: &str, now: i64| WorkOrderChanges {
        name: Some(name.into()),
        now,
        ..Default::default()
    };
    let e_update = change(actions::WORK_ORDER_UPDATE, wo.id, T0 + 120);
    ok(
        s.update_work_order(
            a.id,
            wo.id,
            rename("renamed", T0 + 120),
            va.clone(),
            Some(e_update.clone()),
        )
        .await,
        "update_work_order with an event",
    );
    let unknown = Uuid::new_v4();
    expect_not_found(
        s.update_work_order(
            a.id,
            unknown,
            rename("x", T0 + 125),
            va.clone(),
            Some(change(actions::WORK_ORDER_UPDATE, unknown, T0 + 125)),
        )
        .await,
        "updating an unknown work order",
    );
    assert_eq!(
        list(&s, &a, of(unknown)).await.0,
        0,
        "a refused update records no event"
    );

    // An event that cannot be written (its id is taken) refuses its change: nothing is written.
    let mut twin = change(actions::WORK_ORDER_UPDATE, wo.id, T0 + 130);
    twin.id = e_update.id;
    assert!(
        s.update_work_order(
            a.id,
            wo.id,
            rename("lost", T0 + 130),
            va.clone(),
            Some(twin)
        )
        .await
        .is_err(),
        "an update whose event id is taken must fail"
    );
    let stored = ok(s.get_work_order(a.id, wo.id).await, "get_work_order");
    assert_eq!(
        stored.map(|w| (w.name, w.update_date)),
        Some(("renamed".to_string(), T0 + 120)),
        "an update whose event failed is not applied"
    );
    let lost = WorkOrderRow {
        tags: vec!["first-seen-here".into()],
        ..work_order(&a, &va, "lost", T0 + 140)
    };
    let mut twin = change(actions::WORK_ORDER_CREATE, lost.id, T0 + 140);
    twin.id = e_create.id;
    assert!(
        s.create_work_order(lost.clone(), None, Some(twin))
            .await
            .is_err(),
        "a create whose event id is taken must fail"
    );
    assert_eq!(
        ok(s.get_work_order(a.id, lost.id).await, "get_work_order"),
        None,
        "a create whose event failed stores no work order"
    );
    // ... nor its list entries: a tag it brought first is new again for the next work order.
    let found = WorkOrderRow {
        tags: vec!["first-seen-here".into()],
        ..work_order(&a, &va, "found", T0 + 145)
    };
    create(&s, &found).await;
    let by_tag = WorkOrderFilter {
        tags: vec!["first-seen-here".into()],
        ..Default::default()
    };
    assert_eq!(
        list_all(&s, &a, &by_tag).await,
        (1, vec![found.clone()]),
        "only the work order that was created lists under the tag"
    );
    let mut twin = change(actions::WORK_ORDER_DELETE, wo.id, T0 + 150);
    twin.id = e_create.id;
    assert!(
        s.delete_work_order(a.id, wo.id, Some(twin)).await.is_err(),
        "a delete whose event id is taken must fail"
    );
    assert!(
        ok(s.get_work_order(a.id, wo.id).await, "get_work_order").is_some(),
        "a delete whose event failed deletes nothing"
    );

    // Delete; a second delete is refused and records nothing.
    let e_delete = change(actions::WORK_ORDER_DELETE, wo.id, T0 + 160);
    ok(
        s.delete_work_order(a.id, wo.id, Some(e_delete.clone()))
            .await,
        "delete_work_order with an event",
    );
    expect_not_found(
        s.delete_work_order(
            a.id,
            wo.id,
            Some(change(actions::WORK_ORDER_DELETE, wo.id, T0 + 170)),
        )
        .await,
        "deleting twice",
    );

    // Everything acknowledged is in the storage.
    cx.reopen().await;
    assert_eq!(
        list(&cx.store, &a, of(wo.id)).await,
        (3, vec![e_delete, e_update, e_create]),
        "a work order's create, update and delete events, and nothing else, survive a reopen"
    );
    assert_eq!(
        list(&cx.store, &a, AuditFilter::default()).await.0,
        3,
        "no event of a refused change was written"
    );
    assert_eq!(
        list_all(&cx.store, &a, &by_tag).await,
        (1, vec![found]),
        "the list entries after a reopen"
    );
}
