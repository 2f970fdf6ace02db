//! The `ibkr-supervisor` binary: parse the command line, load settings, set up logging, then
//! hand over to the library. A settings mistake exits with code 2, naming the field.

use std::process::ExitCode;

use clap::Parser;
use ibkr_supervisor::cli::{Cli, Command};
use ibkr_supervisor::{demo, history, logging, settings::Settings, shutdown_signal, sim};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Some(Command::Sim(args)) => {
            logging::init(cli.run.log_format.map(Into::into).unwrap_or_default());
            runtime.block_on(sim::run_standalone(args, shutdown_signal()))
        }
        Some(Command::History(args)) => {
            let settings = match Settings::load(&cli.run.config) {
                Ok(settings) => settings,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let now = chrono::Utc::now();
            match history::report(&settings.database.path, settings.timezone, args.days, args.account.as_deref(), now) {
                Ok(table) => {
                    print!("{table}");
                    ExitCode::SUCCESS
                }
                Err(e @ (history::HistoryError::UnknownAccount { .. } | history::HistoryError::Days { .. })) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::Demo(args)) => {
            logging::init(cli.run.log_format.map(Into::into).unwrap_or_default());
            runtime.block_on(demo::run(args, shutdown_signal()))
        }
        None => {
            let settings = match Settings::load(&cli.run.config).and_then(|s| cli.run.apply_overrides(s)) {
                Ok(settings) => settings,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            if cli.run.check_config {
                println!("{}: valid", cli.run.config.display());
                for account in &settings.accounts {
                    println!(
                        "  {} ({}) {}:{} client id {}",
                        account.name,
                        if account.paper_trading { "paper" } else { "live" },
                        account.host,
                        account.port,
                        account.client_id
                    );
                }
                return ExitCode::SUCCESS;
            }
            logging::init(cli.run.log_format.map(Into::into).unwrap_or(settings.logging.format));
            runtime.block_on(ibkr_supervisor::run_cli(settings, cli.run, shutdown_signal()))
        }
    }
}
