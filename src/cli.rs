//! Command-line interface. Every flag also reads `REVSTREAM_<FLAG>` from the
//! environment (API.md).

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::registry_args::RegistryArgs;
use crate::role_args::{HttpArgs, IngestArgs, KafkaArgs, LocalLogArgs, QueryArgs, TableArgs};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
    #[command(flatten)]
    pub(crate) http: HttpArgs,
    #[command(flatten)]
    pub(crate) kafka: KafkaArgs,
    #[command(flatten)]
    pub(crate) local_log: LocalLogArgs,
    #[command(flatten)]
    pub(crate) tables: TableArgs,
    #[command(flatten)]
    pub(crate) ingest: IngestArgs,
    #[command(flatten)]
    pub(crate) query: QueryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct QueryRoleArgs {
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
    #[command(flatten)]
    pub(crate) http: HttpArgs,
    #[command(flatten)]
    pub(crate) tables: TableArgs,
    #[command(flatten)]
    pub(crate) query: QueryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SqlArgs {
    /// The tenant whose tables the query sees (and only those).
    #[arg(long, env = "REVSTREAM_TENANT")]
    pub(crate) tenant: String,
    /// Read-only SQL over events, subscriptions, mrr_movements,
    /// metrics_daily, calls, payments, refunds and customers.
    pub(crate) sql: String,
    /// Output: a readable table, csv or json.
    #[arg(long, default_value = "table")]
    pub(crate) format: String,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
    #[command(flatten)]
    pub(crate) tables: TableArgs,
}

#[derive(Debug, Parser)]
#[command(
    name = "revstream",
    version,
    about = "Real-time revenue analytics: signed webhooks and events in, per-tenant metrics out over SQL.",
    long_about = "revstream turns Stripe, Whop and Calendly webhooks, sync pulls and producer \
                  events into always-fresh per-tenant metrics (MRR and its movements, churn, \
                  show rate, close rate, cash collected) and answers dashboards and analysts \
                  over SQL.\n\nStart with `revstream serve`; manage tenants with `revstream \
                  tenants create`, `keys create` and `secrets set`."
)]
pub(crate) struct Cli {
    /// Log format on stderr: human-readable text or one JSON object per line.
    #[arg(
        long,
        global = true,
        env = "REVSTREAM_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub(crate) log_format: LogFormat,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct IngestRoleArgs {
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
    #[command(flatten)]
    pub(crate) http: HttpArgs,
    #[command(flatten)]
    pub(crate) kafka: KafkaArgs,
    #[command(flatten)]
    pub(crate) ingest: IngestArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PipelineRoleArgs {
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
    #[command(flatten)]
    pub(crate) kafka: KafkaArgs,
    #[command(flatten)]
    pub(crate) tables: TableArgs,
    /// Address of the operations listener: GET /metrics, /healthz and
    /// /readyz, nothing else and no authentication (keep it private).
    #[arg(
        long = "http",
        env = "REVSTREAM_HTTP",
        default_value = "127.0.0.1:9464"
    )]
    pub(crate) http: std::net::SocketAddr,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run every role in one process: HTTP ingest on the embedded durable
    /// log (or Kafka with --kafka), the registry in SQLite (or PostgreSQL
    /// with --database-url), state in --data-dir. Prints where it listens
    /// and where the admin token is.
    Serve(ServeArgs),
    /// Run the ingest role alone: webhooks and batch events into Kafka
    /// (--kafka), tenants from PostgreSQL (--database-url). Stateless: run
    /// as many as needed behind a load balancer.
    Ingest(IngestRoleArgs),
    /// Run one pipeline worker: consume Kafka in a consumer group and commit
    /// per-tenant tables under --table-uri. Run several to share partitions.
    Pipeline(PipelineRoleArgs),
    /// Run the query role alone: SQL over HTTP, /v1/metrics and /v1/tables
    /// over the tables at --table-uri, keys checked against --database-url.
    /// Stateless: run as many as needed.
    Query(QueryRoleArgs),
    /// Run one read-only SQL query over a tenant's tables and print the
    /// result (reads the tables directly; no server needed).
    Sql(SqlArgs),
    /// Manage tenants (the unit of isolation: every row belongs to one).
    #[command(subcommand)]
    Tenants(TenantsCommand),
    /// Manage API keys (shown once, stored hashed).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage webhook signing secrets (encrypted at rest; several may be
    /// active at once for rotation).
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Backfill or repair a tenant's history: pull a provider's API with the
    /// stored credential (--pull), or import a file (provider list pages,
    /// NDJSON canonical events, CSV with a column mapping). Re-running is
    /// safe: the same records get the same event ids.
    Backfill(BackfillArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BackfillArgs {
    #[arg(long, env = "REVSTREAM_TENANT")]
    pub(crate) tenant: String,
    /// stripe, whop or calendly (with --pull, or a file of list-API pages),
    /// csv or ndjson (a file).
    #[arg(long, env = "REVSTREAM_SOURCE")]
    pub(crate) source: String,
    /// The file to import.
    pub(crate) file: Option<std::path::PathBuf>,
    /// Read the provider's list API with the tenant's stored credential
    /// (PUT /v1/admin/tenants/{tenant}/credentials/{source}).
    #[arg(long)]
    pub(crate) pull: bool,
    /// CSV: a JSON mapping {"columns": {"Column": "field.path"}, "constants": {"type": "…"}}.
    #[arg(long, env = "REVSTREAM_MAPPING")]
    pub(crate) mapping: Option<std::path::PathBuf>,
    /// CSV: map a column to a canonical field (COLUMN=FIELD, repeatable).
    #[arg(long)]
    pub(crate) map: Vec<String>,
    /// CSV: set a canonical field on every row (FIELD=VALUE, repeatable),
    /// e.g. --set type=payment.succeeded.
    #[arg(long)]
    pub(crate) set: Vec<String>,
    /// --pull: the provider API's base URL (default: its production API).
    #[arg(long, env = "REVSTREAM_SYNC_BASE_URL")]
    pub(crate) base_url: Option<String>,
    #[command(flatten)]
    pub(crate) registry: RegistryArgs,
    #[command(flatten)]
    pub(crate) kafka: KafkaArgs,
    #[command(flatten)]
    pub(crate) local_log: LocalLogArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TenantsCommand {
    /// Create a tenant.
    Create {
        /// Tenant id: lowercase letters, digits, '-' and '_' (e.g. acme-coaching).
        id: String,
        /// Display name (defaults to the id).
        #[arg(long)]
        name: Option<String>,
        /// IANA timezone in which the tenant's days start and end.
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// When a cancellation stops counting as MRR: at_period_end (when the
        /// subscription actually ends) or at_request (when it is requested).
        #[arg(long, default_value = "at_period_end")]
        churn_recognition: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Create an API key and print it (it is shown only this once).
    Create {
        /// Tenant the key belongs to.
        #[arg(long, env = "REVSTREAM_TENANT")]
        tenant: String,
        /// admin: everything in the tenant; analyst: SQL and dashboards;
        /// viewer: dashboards; ingest: sending events only.
        #[arg(long, env = "REVSTREAM_ROLE")]
        role: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SecretsCommand {
    /// Add a webhook signing secret for a source. Earlier secrets stay valid
    /// until removed, so providers can be switched over without downtime.
    Set {
        #[arg(long, env = "REVSTREAM_TENANT")]
        tenant: String,
        /// stripe, whop, calendly, or standard (canonical events signed per
        /// Standard Webhooks).
        #[arg(long, env = "REVSTREAM_SOURCE")]
        source: String,
        /// The signing secret as the provider shows it (Stripe `whsec_…`,
        /// Standard Webhooks `whsec_<base64>`, Calendly signing key). Prefer
        /// the REVSTREAM_SECRET variable: arguments are visible in `ps`.
        #[arg(long, env = "REVSTREAM_SECRET", hide_env_values = true)]
        secret: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// List the secrets of a source (numbers and ages, never values).
    List {
        #[arg(long, env = "REVSTREAM_TENANT")]
        tenant: String,
        #[arg(long, env = "REVSTREAM_SOURCE")]
        source: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Remove secret number N of a source.
    Delete {
        #[arg(long, env = "REVSTREAM_TENANT")]
        tenant: String,
        #[arg(long, env = "REVSTREAM_SOURCE")]
        source: String,
        /// The secret's number, as printed by `secrets set` and `secrets list`.
        #[arg(long)]
        n: i64,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}
