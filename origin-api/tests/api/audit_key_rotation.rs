//! Signing-key rotation in the audit trail: each step of the schedule as the `system`'s, and an
//! admin's rotation or revocation as theirs, with the steps it caused.

use crate::helpers::{spawn_app, ADMIN_TOKEN};
use origin_api::key_rotation::{self, RotationPolicy};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use time::OffsetDateTime;

fn kid_of(keys: &Value, status: &str) -> String {
    keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["status"] == status)
        .unwrap_or_else(|| panic!("no {status} key in {keys}"))["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_schedule_records_each_step_as_the_system(db: PgPool) {
    let app = spawn_app(db.clone()).await;
    app.create_tenant("acme").await;
    let keys_path = "/v1/admin/tenants/acme/keys";
    let before = app
        .admin_ok(Method::GET, keys_path, ADMIN_TOKEN, None)
        .await;
    let (old, next) = (kid_of(&before, "current"), kid_of(&before, "next"));
    let policy = RotationPolicy::default();
    let due = OffsetDateTime::now_utc() + time::Duration::seconds(policy.period_secs + 1);
    key_rotation::settle_due(&db, &app.kek, &policy, due)
        .await
        .unwrap();

    let promoted = app.audit_of_type("acme", "signing_key.promoted").await;
    assert_eq!(promoted.len(), 1);
    assert_eq!(promoted[0]["actor"], json!({"kind": "system", "id": null}));
    assert_eq!(promoted[0]["subject_id"], next.as_str());
    assert_eq!(promoted[0]["details"]["retired"], old.as_str());
    assert_eq!(promoted[0]["details"]["cause"], "scheduled");
    let after = app
        .admin_ok(Method::GET, keys_path, ADMIN_TOKEN, None)
        .await;
    let created = app.audit_of_type("acme", "signing_key.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["subject_id"], kid_of(&after, "next").as_str());
    assert_eq!(created[0]["details"]["status"], "next");
    assert!(created[0]["details"]["signs_from"].is_string());
    assert_eq!(created[0]["actor"]["kind"], "system");

    // A pass with nothing due records nothing.
    key_rotation::settle_due(&db, &app.kek, &policy, due)
        .await
        .unwrap();
    assert_eq!(
        app.audit_of_type("acme", "signing_key.promoted")
            .await
            .len(),
        1
    );

    // The retired key's publication ends: unpublished, by the system.
    let far = due + time::Duration::seconds(policy.retired_publication_secs() + 1);
    key_rotation::settle_due(&db, &app.kek, &policy, far)
        .await
        .unwrap();
    let gone = app.audit_of_type("acme", "signing_key.unpublished").await;
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0]["subject_id"], old.as_str());
    assert_eq!(gone[0]["actor"]["kind"], "system");
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_admins_rotation_and_revocation_are_theirs_with_the_steps_they_caused(db: PgPool) {
    let app = spawn_app(db.clone()).await;
    app.create_tenant("acme").await;
    let (key_id, key) = app.admin_key("acme", &["read", "write"]).await;
    let actor = json!({"kind": "admin", "id": key_id});

    // Too early: scheduled, not rotated; the request is recorded all the same.
    let response = app
        .admin_call(
            Method::POST,
            "/v1/admin/tenants/acme/keys/rotate",
            &key,
            None,
        )
        .await;
    assert_eq!(response.status(), 202);
    let rotated = app
        .audit_of_type("acme", "admin.signing_keys_rotated")
        .await;
    assert_eq!(rotated.len(), 1);
    assert_eq!(rotated[0]["actor"], actor);
    assert_eq!(rotated[0]["details"]["rotated"], false);
    assert!(rotated[0]["details"]["signs_from"].is_string());
    assert!(app
        .audit_of_type("acme", "signing_key.promoted")
        .await
        .is_empty());

    // Once the next key has been published long enough, it signs at once.
    sqlx::query("UPDATE signing_keys SET created_at = created_at - interval '1 hour'")
        .execute(&db)
        .await
        .unwrap();
    let body = app
        .admin_ok(
            Method::POST,
            "/v1/admin/tenants/acme/keys/rotate",
            &key,
            None,
        )
        .await;
    assert_eq!(body["rotated"], true);
    let promoted = app.audit_of_type("acme", "signing_key.promoted").await;
    assert_eq!(promoted.len(), 1);
    assert_eq!(promoted[0]["actor"], actor);
    assert_eq!(promoted[0]["details"]["cause"], "rotate_now");
    assert_eq!(promoted[0]["subject_id"], kid_of(&body, "current").as_str());

    // An emergency revocation of the signing key: the revocation, then the promotion it forced.
    let current = kid_of(&body, "current");
    let revoked = app
        .admin_ok(
            Method::POST,
            &format!("/v1/admin/tenants/acme/keys/{current}/revoke"),
            ADMIN_TOKEN,
            None,
        )
        .await;
    let event = &app.audit_of_type("acme", "admin.signing_key_revoked").await[0];
    assert_eq!(event["subject_id"], current.as_str());
    assert_eq!(event["details"]["was"], "current");
    assert_eq!(event["actor"], json!({"kind": "admin", "id": "bootstrap"}));
    let promoted = app.audit_of_type("acme", "signing_key.promoted").await;
    assert_eq!(promoted.len(), 2);
    assert_eq!(promoted[0]["details"]["cause"], "emergency_revocation");
    assert_eq!(
        promoted[0]["subject_id"],
        kid_of(&revoked, "current").as_str()
    );
}
