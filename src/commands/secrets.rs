//! `revstream secrets …`

use anyhow::Context;
use revstream_schemas::TenantId;

use super::output;
use crate::cli::SecretsCommand;

fn tenant_id(s: &str) -> anyhow::Result<TenantId> {
    TenantId::parse(s).with_context(|| format!("tenant id {s:?}"))
}

pub(super) async fn run(command: SecretsCommand) -> anyhow::Result<()> {
    match command {
        SecretsCommand::Set {
            tenant,
            source,
            secret,
            registry,
        } => {
            let tenant = tenant_id(&tenant)?;
            let reg = registry.open().await?;
            let n = reg.add_webhook_secret(&tenant, &source, &secret).await?;
            let active = reg.list_webhook_secrets(&tenant, &source).await?.len();
            output::note(format!(
                "added {source} secret #{n} for tenant {tenant}; {active} active (older ones stay \
                 valid until `revstream secrets delete --n N`)"
            ));
            output::result(n)
        }
        SecretsCommand::List {
            tenant,
            source,
            registry,
        } => {
            let tenant = tenant_id(&tenant)?;
            let reg = registry.open().await?;
            for s in reg.list_webhook_secrets(&tenant, &source).await? {
                let created = chrono::DateTime::from_timestamp_millis(s.created_at_ms)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default();
                output::result(format!("{}\t{created}", s.n))?;
            }
            Ok(())
        }
        SecretsCommand::Delete {
            tenant,
            source,
            n,
            registry,
        } => {
            let tenant = tenant_id(&tenant)?;
            let reg = registry.open().await?;
            reg.delete_webhook_secret(&tenant, &source, n).await?;
            output::note(format!("removed {source} secret #{n} of tenant {tenant}"));
            Ok(())
        }
    }
}
