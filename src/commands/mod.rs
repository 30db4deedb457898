//! One module per command family; `run` dispatches.

mod backfill;
mod ingest;
mod keys;
mod output;
mod pipeline;
mod query;
mod secrets;
mod serve;
mod sql;
mod tenants;

use crate::cli::Command;

pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::run(args).await,
        Command::Ingest(args) => ingest::run(args).await,
        Command::Pipeline(args) => pipeline::run(args).await,
        Command::Query(args) => query::run(args).await,
        Command::Sql(args) => sql::run(args).await,
        Command::Tenants(c) => tenants::run(c).await,
        Command::Keys(c) => keys::run(c).await,
        Command::Secrets(c) => secrets::run(c).await,
        Command::Backfill(args) => backfill::run(args).await,
    }
}
