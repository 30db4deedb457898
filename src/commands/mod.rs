//! One module per command family; `run` dispatches.

mod keys;
mod output;
mod secrets;
mod serve;
mod tenants;

use crate::cli::Command;

pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::run(args).await,
        Command::Tenants(c) => tenants::run(c).await,
        Command::Keys(c) => keys::run(c).await,
        Command::Secrets(c) => secrets::run(c).await,
    }
}
