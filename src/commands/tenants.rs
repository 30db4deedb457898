//! `revstream tenants …`

use anyhow::Context;
use revstream_registry::NewTenant;
use revstream_schemas::TenantId;

use super::output;
use crate::cli::TenantsCommand;

pub(super) async fn run(command: TenantsCommand) -> anyhow::Result<()> {
    match command {
        TenantsCommand::Create {
            id,
            name,
            timezone,
            churn_recognition,
            registry,
        } => {
            let id = TenantId::parse(&id).with_context(|| format!("tenant id {id:?}"))?;
            let churn = churn_recognition.parse()?;
            let reg = registry.open().await?;
            let tenant = reg
                .create_tenant(NewTenant {
                    id,
                    name,
                    timezone: Some(timezone),
                    churn_recognition: Some(churn),
                })
                .await?;
            output::note(format!(
                "created tenant {} ({:?}, timezone {}, churn recognized {}) in {}",
                tenant.id,
                tenant.name,
                tenant.timezone.name(),
                tenant.churn_recognition.as_str(),
                registry.describe()
            ));
            output::result(tenant.id)
        }
        TenantsCommand::List { registry } => {
            let reg = registry.open().await?;
            for t in reg.tenants().await? {
                output::result(format!(
                    "{}\t{}\t{}\t{}",
                    t.id,
                    t.name,
                    t.timezone.name(),
                    t.churn_recognition.as_str()
                ))?;
            }
            Ok(())
        }
    }
}
