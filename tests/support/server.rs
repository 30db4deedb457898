//! An ingest server on a real TCP port with a real registry (SQLite in a
//! temp dir) and whatever event log the test gives it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use revstream_ingest::http::{IngestConfig, IngestState, ServeOptions, finish, router, serve_http};
use revstream_ingest::log::EventLog;
use revstream_registry::{MasterKey, NewTenant, Registry};
use revstream_schemas::TenantId;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

pub struct TestServer {
    pub base: String,
    pub addr: SocketAddr,
    pub registry: Registry,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start(log: Arc<dyn EventLog>, config: IngestConfig) -> TestServer {
        Self::start_with(
            log,
            config,
            Duration::from_secs(10),
            ServeOptions::default(),
        )
        .await
    }

    /// Like [`TestServer::start`], with the request timeout of `finish` and
    /// the connection limits of `serve_http` chosen by the test.
    pub async fn start_with(
        log: Arc<dyn EventLog>,
        config: IngestConfig,
        request_timeout: Duration,
        serve: ServeOptions,
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::open_in_data_dir(dir.path(), MasterKey::generate().unwrap())
            .await
            .unwrap();
        let state = IngestState::new(registry.clone(), log, ADMIN_TOKEN.to_owned(), config);
        let app = finish(router(state), request_timeout);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        // The binary's own server (header read timeout included), so what
        // the tests see is what a deployment does.
        let task = tokio::spawn(async move {
            serve_http(listener, app, serve, std::future::pending())
                .await
                .unwrap();
        });
        TestServer {
            base: format!("http://{addr}"),
            addr,
            registry,
            http: reqwest::Client::new(),
            dir,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A tenant with a secret per webhook source and an ingest key.
    pub async fn tenant_with_secrets(&self, id: &str) -> TenantFixture {
        let tenant = TenantId::parse(id).unwrap();
        self.registry
            .create_tenant(NewTenant {
                id: tenant.clone(),
                name: None,
                timezone: None,
                churn_recognition: None,
            })
            .await
            .unwrap();
        let secrets = TenantSecrets {
            stripe: "whsec_stripe_test_secret".into(),
            calendly: "calendly-signing-key".into(),
            // Standard Webhooks secrets are whsec_ + base64.
            standard: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        };
        for (source, secret) in [
            ("stripe", &secrets.stripe),
            ("calendly", &secrets.calendly),
            ("whop", &secrets.standard),
            ("standard", &secrets.standard),
        ] {
            self.registry
                .add_webhook_secret(&tenant, source, secret)
                .await
                .unwrap();
        }
        let ingest_key = self
            .registry
            .create_key(&tenant, revstream_registry::Role::Ingest)
            .await
            .unwrap()
            .key;
        TenantFixture {
            tenant,
            secrets,
            ingest_key,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct TenantSecrets {
    pub stripe: String,
    pub calendly: String,
    pub standard: String,
}

pub struct TenantFixture {
    pub tenant: TenantId,
    pub secrets: TenantSecrets,
    pub ingest_key: String,
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
