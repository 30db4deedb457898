//! `revstream keys …`

use anyhow::Context;
use revstream_registry::Role;
use revstream_schemas::TenantId;

use super::output;
use crate::cli::KeysCommand;

pub(super) async fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create {
            tenant,
            role,
            registry,
        } => {
            let tenant =
                TenantId::parse(&tenant).with_context(|| format!("tenant id {tenant:?}"))?;
            let role: Role = role.parse()?;
            let reg = registry.open().await?;
            let key = reg.create_key(&tenant, role).await?;
            output::note(format!(
                "created {} key {} for tenant {tenant}; it is shown only now, store it safely:",
                role.as_str(),
                key.key_id
            ));
            output::result(key.key)
        }
    }
}
