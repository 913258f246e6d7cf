//! The outbox retry claims its rows before pushing: no row lock or transaction is held across
//! network calls, two passes never push the same row at once, and a lapsed claim is retried.

use crate::helpers::{spawn_app_with_edge, unused_addr, EdgeReceiver, TestApp, EDGE_SECRET};
use origin_api::config::EdgePushConfig;
use origin_api::edge_push::{claim_pending, retry_pending, EdgePusher, RetryReport};
use secrecy::SecretString;
use sqlx::PgPool;
use std::collections::BTreeSet;

/// An app whose edge is unreachable, with `n` revoked sessions left in the outbox.
async fn app_with_pending(db: PgPool, n: usize) -> (TestApp, BTreeSet<String>) {
    let down = unused_addr().await;
    let app = spawn_app_with_edge(db, &format!("http://{down}/__auth/revocations")).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    let mut sessions = BTreeSet::new();
    for _ in 0..n {
        let other = app.sign_in("acme", "ursula@example.com").await;
        let id = other["session_id"].as_str().unwrap().to_owned();
        let response = app.delete_session("acme", &id, &s.access_token).await;
        assert_eq!(response.status(), 202);
        sessions.insert(id);
    }
    // What these tests count is revocations; the sign-ins' listing notices would be pushed too.
    app.drop_session_notices().await;
    assert_eq!(app.outbox_rows().await.len(), n);
    (app, sessions)
}

fn pusher_to(edge: &EdgeReceiver) -> EdgePusher {
    EdgePusher::new(&EdgePushConfig {
        url: edge.url.clone(),
        secret: SecretString::from(EDGE_SECRET.to_owned()),
    })
    .unwrap()
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_retry_pass_holds_no_row_lock_while_it_pushes_and_a_concurrent_pass_pushes_nothing(
    db: PgPool,
) {
    let (app, sessions) = app_with_pending(db, 3).await;
    let edge = EdgeReceiver::start().await;
    let pusher = pusher_to(&edge);
    let held = edge.hold().await;

    let first = tokio::spawn({
        let (db, pusher) = (app.db.clone(), pusher.clone());
        async move { retry_pending(&db, &pusher).await.unwrap() }
    });
    edge.wait_for(3).await;

    // The pushes are in flight: every row is claimed, yet none is locked.
    let mut tx = app.db.begin().await.unwrap();
    let rows: Vec<(bool,)> =
        sqlx::query_as("SELECT claimed_until > now() FROM revocation_outbox FOR UPDATE NOWAIT")
            .fetch_all(&mut *tx)
            .await
            .expect("no outbox row is locked while its push is in flight");
    tx.rollback().await.unwrap();
    assert_eq!(rows, vec![(true,); 3]);

    let second = retry_pending(&app.db, &pusher).await.unwrap();
    assert_eq!(
        second,
        RetryReport::default(),
        "a concurrent pass finds every row claimed"
    );

    drop(held);
    let first = first.await.unwrap();
    assert_eq!(first.delivered, 3);
    assert_eq!(edge.overlapping_pushes(), 0);
    let pushed: Vec<String> = edge.notices().into_iter().map(|n| n.session_id).collect();
    assert_eq!(pushed.len(), 3, "each row pushed exactly once");
    assert_eq!(pushed.into_iter().collect::<BTreeSet<_>>(), sessions);
    assert!(app.outbox_rows().await.is_empty());
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn concurrent_retry_passes_push_every_row_exactly_once(db: PgPool) {
    let (app, sessions) = app_with_pending(db, 6).await;
    let edge = EdgeReceiver::start().await;
    let pusher = pusher_to(&edge);

    let passes: Vec<_> = (0..4)
        .map(|_| {
            let (db, pusher) = (app.db.clone(), pusher.clone());
            tokio::spawn(async move { retry_pending(&db, &pusher).await.unwrap() })
        })
        .collect();
    let mut delivered = 0;
    for pass in passes {
        delivered += pass.await.unwrap().delivered;
    }
    assert_eq!(delivered, 6);
    assert_eq!(edge.overlapping_pushes(), 0);
    let pushed: Vec<String> = edge.notices().into_iter().map(|n| n.session_id).collect();
    assert_eq!(pushed.len(), 6, "{pushed:?}");
    assert_eq!(pushed.into_iter().collect::<BTreeSet<_>>(), sessions);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_claim_whose_holder_vanished_is_retried_once_it_lapses(db: PgPool) {
    let (app, sessions) = app_with_pending(db, 1).await;
    let edge = EdgeReceiver::start().await;
    let pusher = pusher_to(&edge);

    // An instance claims the row and crashes before pushing.
    let claimed = claim_pending(&app.db, uuid::Uuid::new_v4(), 20)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        retry_pending(&app.db, &pusher).await.unwrap(),
        RetryReport::default(),
        "a live claim is respected"
    );
    assert!(edge.received().is_empty());

    sqlx::query("UPDATE revocation_outbox SET claimed_until = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    let report = retry_pending(&app.db, &pusher).await.unwrap();
    assert_eq!(report.delivered, 1);
    let pushed: BTreeSet<String> = edge.notices().into_iter().map(|n| n.session_id).collect();
    assert_eq!(pushed, sessions);
    assert!(app.outbox_rows().await.is_empty());
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_request_claims_the_notices_it_queues_so_no_retry_pass_pushes_them_meanwhile(db: PgPool) {
    let edge = EdgeReceiver::start().await;
    let app = spawn_app_with_edge(db, &edge.url).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    let held = edge.hold().await;

    let delete = tokio::spawn({
        let url = app.url(&format!("/t/acme/v1/sessions/{}", s.session_id));
        let (client, token) = (app.client.clone(), s.access_token.clone());
        async move { client.delete(url).bearer_auth(token).send().await.unwrap() }
    });
    edge.wait_for(1).await;
    let pusher = app.state.edge().unwrap();
    assert_eq!(
        retry_pending(&app.db, pusher).await.unwrap(),
        RetryReport::default()
    );
    drop(held);
    assert_eq!(delete.await.unwrap().status(), 204);
    assert_eq!(edge.received().len(), 1);
    assert!(app.outbox_rows().await.is_empty());
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn after_one_failed_push_a_pass_releases_the_rest_unpushed(db: PgPool) {
    let (app, _) = app_with_pending(db, 3).await;
    let down = unused_addr().await;
    let pusher = EdgePusher::new(&EdgePushConfig {
        url: format!("http://{down}/__auth/revocations"),
        secret: SecretString::from(EDGE_SECRET.to_owned()),
    })
    .unwrap();
    let report = retry_pending(&app.db, &pusher).await.unwrap();
    assert_eq!(report.delivered, 0);
    assert!(report.failed >= 1, "{report:?}");
    assert_eq!(report.failed + report.deferred, 3, "{report:?}");
    let (claimed,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM revocation_outbox WHERE claim IS NOT NULL")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(claimed, 0, "every row is free for the next pass");
}
