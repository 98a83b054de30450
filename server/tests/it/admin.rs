//! The admin service without any front end: what `cronium executions/token/variables/tools`
//! do, as plain data, on a real SQLite store and real token keys.

use std::time::Duration;

use cronium_server::admin::{Admin, AdminError};
use cronium_server::auth::{AuthConfig, Authenticator, KeyMaterial, KeySpec, Scope, Scopes};
use cronium_server::config::CoreConfig;
use cronium_store::sqlite::Sync;
use cronium_store::NewExecution;
use cronium_tools::{Tool, ToolsConfig};
use serde_json::json;

fn core(dir: &std::path::Path) -> CoreConfig {
    CoreConfig {
        state_dir: dir.to_path_buf(),
        db_path: dir.join("state.db"),
        database: None,
        sync: Sync::Normal,
        auth: AuthConfig {
            keys: vec![KeySpec {
                kid: "k1".into(),
                material: KeyMaterial::Hs256(b"an admin test secret of at least 32 bytes".to_vec()),
            }],
            ..AuthConfig::default()
        },
        token_ttl: Duration::from_secs(600),
        tools: ToolsConfig::defaults(dir),
        retention: Default::default(),
        retention_interval: None,
    }
}

#[tokio::test]
async fn executions_and_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let core = core(dir.path());
    let admin = Admin::open(&core).expect("open");
    let created = admin
        .create_execution(
            NewExecution {
                user_id: "u1".into(),
                input: Some("[1,2]".into()),
                ..Default::default()
            },
            Duration::from_secs(3600),
            Some([Scope::InputRead].into_iter().collect::<Scopes>()),
        )
        .await
        .expect("create");
    let auth = Authenticator::new(core.auth.clone()).expect("auth");
    let p = auth.verify(&created.token).expect("the token verifies");
    assert_eq!(p.execution_id, created.execution.id);
    assert!(p.scopes.contains(Scope::InputRead));
    assert!(!p.scopes.contains(Scope::VariablesWrite), "scopes are kept");

    let view = admin
        .show_execution(&created.execution.id)
        .await
        .expect("show");
    assert_eq!(view.report.execution.input.as_deref(), Some("[1,2]"));
    let listed = admin.list_executions(10).await.expect("list");
    assert_eq!(listed.len(), 1);

    let token = admin
        .mint_token(&created.execution.id, Some(Duration::from_secs(60)), None)
        .await
        .expect("mint");
    let p = auth.verify(&token).expect("the minted token verifies");
    assert!(
        p.scopes.contains(Scope::VariablesWrite),
        "default: every scope"
    );

    assert!(matches!(
        admin.show_execution("nope").await,
        Err(AdminError::NotFound(m)) if m.contains("cronium executions list")
    ));
    assert!(matches!(
        admin.mint_token("nope", None, None).await,
        Err(AdminError::NotFound(_))
    ));
}

#[tokio::test]
async fn variables_and_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let core = core(dir.path());
    let admin = Admin::open(&core).expect("open");
    assert_eq!(
        admin
            .set_variable("u", "k", "{\"a\":1}")
            .await
            .expect("set"),
        1
    );
    assert_eq!(admin.set_variable("u", "k", "2").await.expect("set"), 2);
    assert_eq!(admin.variable("u", "k").await.expect("get"), "2");
    assert_eq!(admin.variable_keys("u").await.expect("keys"), ["k"]);
    assert!(matches!(
        admin.variable("u", "bad key").await,
        Err(AdminError::Invalid(_))
    ));
    assert!(admin.delete_variable("u", "k").await.expect("delete"));
    assert!(!admin.delete_variable("u", "k").await.expect("again"));
    assert!(matches!(
        admin.variable("u", "k").await,
        Err(AdminError::NotFound(_))
    ));

    let secret_path = "/services/T000/B000/abcdefghijklmnopqrstuvwx";
    let cfg = json!({"webhook_url": format!("https://hooks.slack.com{secret_path}")});
    let (replaced, _) = admin
        .add_credential("u", Tool::Slack, "default", &cfg)
        .await
        .expect("add");
    assert!(!replaced);
    let listed = admin.list_credentials(Some("u")).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].row.tool, "slack");
    assert!(
        !listed[0].target.contains("abcdefghijklmnopqrstuvwx"),
        "a listing never shows the secret part: {}",
        listed[0].target
    );
    assert!(matches!(
        admin
            .add_credential("u", Tool::Slack, "default", &json!({"nope": 1}))
            .await,
        Err(AdminError::Invalid(_))
    ));
    admin
        .remove_credential("u", Tool::Slack, "default")
        .await
        .expect("remove");
    assert!(matches!(
        admin.remove_credential("u", Tool::Slack, "default").await,
        Err(AdminError::NotFound(m)) if m.contains("cronium tools list")
    ));
}
