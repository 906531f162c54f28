use charla::cli::{self, Cli, Command, EXIT_USAGE};
use charla::config::{Config, Paths};
use clap::{CommandFactory, Parser};
use std::sync::Arc;

fn main() {
    charla::util::mark_start();
    let cli = Cli::parse();
    let paths = Paths::resolve(cli.config.as_deref());
    charla::log::init(&paths.log_file());
    charla::pricing::set_data_dir(&paths.data_dir);
    // Commands that work without a valid config.
    match &cli.command {
        Some(Command::Completions { shell }) => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "charla",
                &mut std::io::stdout(),
            );
            return;
        }
        Some(Command::Config { action }) => {
            let cfg = Config::load(paths.clone());
            let action = match action {
                cli::ConfigAction::Path => cli::ConfigAction::Path,
                cli::ConfigAction::Init => cli::ConfigAction::Init,
                cli::ConfigAction::Check => cli::ConfigAction::Check,
            };
            std::process::exit(cli::manage::config_cmd(&paths, cfg.as_ref(), action));
        }
        _ => {}
    }
    // A bad config is reported before the terminal is touched.
    let cfg = match Config::load(paths) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            cli::ask::err(e);
            std::process::exit(EXIT_USAGE);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            cli::ask::err(format!("cannot start the runtime: {e}"));
            std::process::exit(1);
        }
    };
    // Only `compare` takes several models.
    if cli.model.len() > 1 && !matches!(cli.command, Some(Command::Compare(_))) {
        cli::ask::err("-m is given once (charla compare takes several: -m A -m B)");
        std::process::exit(EXIT_USAGE);
    }
    let models = cli.model.clone();
    let model = cli.model.last().cloned();
    let code = rt.block_on(async move {
        match cli.command {
            Some(Command::Compare(args)) => cli::compare::run(cfg, &models, args).await,
            Some(Command::Fork { id, at, json }) => cli::manage::fork(&cfg, &id, at, model, json),
            None => charla::tui::run(cfg, model, cli.open).await,
            Some(Command::Ask(args)) => cli::ask::run(cfg, model, args).await,
            Some(Command::Models(args)) => cli::manage::models(&cfg, args).await,
            Some(Command::List { search, json }) => cli::manage::list(&cfg, search, json),
            Some(Command::Show { id, raw }) => cli::manage::show(&cfg, &id, raw),
            Some(Command::Export { id, format, output }) => {
                cli::manage::export_cmd(&cfg, &id, format, output)
            }
            Some(Command::Replay { id, json }) => cli::replay::run(cfg, &id, model, json).await,
            Some(Command::Presets { json }) => cli::manage::presets_cmd(&cfg, json),
            Some(Command::Delete { id }) => cli::manage::delete(&cfg, &id),
            Some(Command::Rag { action }) => cli::rag::run(&cfg, action).await,
            Some(Command::Tools { mcp, json }) => {
                cli::agent::tools_cmd(cfg.clone(), &mcp, json).await
            }
            Some(Command::Prices { action }) => cli::manage::prices_cmd(&cfg, action).await,
            Some(Command::Completions { .. }) | Some(Command::Config { .. }) => 0,
        }
    });
    // Do not wait for a blocked stdin reader or a lingering request task.
    rt.shutdown_background();
    std::process::exit(code);
}
