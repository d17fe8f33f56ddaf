//! The `payglot` command: run the proxy, run the provider sandbox, and the operator's tools
//! (`translate`, `sign`, `check`, `explain`).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use time::OffsetDateTime;

use payglot::config::{self, LoadedConfig};
use payglot::dialect::{Dialect, Note};
use payglot::network::NetworkTable;
use payglot::sandbox::{Sandbox, SandboxSettings, control, demo};
use payglot::secret::Credentials;
use payglot::translate::{self, UpstreamRequest};
use payglot::{app, serve};

#[derive(Parser)]
#[command(
    name = "payglot",
    version,
    about = "A reverse proxy that translates crypto-payment API dialects"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy (and, when the config asks for it, the provider sandbox beside it).
    Run {
        #[arg(long, default_value = "config/payglot.yaml")]
        config: PathBuf,
    },
    /// Run the offline emulator of the three providers on its own (the default), or move one of
    /// its payments through its statuses.
    #[command(args_conflicts_with_subcommands = true)]
    Sandbox {
        #[arg(long, default_value = SANDBOX_LISTEN)]
        listen: String,
        #[command(subcommand)]
        action: Option<SandboxAction>,
    },
    /// Print the upstream request payglot would send for a merchant's request body.
    Translate {
        #[arg(long)]
        from: Dialect,
        #[arg(long)]
        to: Dialect,
        /// Take credentials, profile and networks from this config instead of the demo set.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print one JSON object {method, path, headers, body}.
        #[arg(long)]
        json: bool,
        /// The merchant's request body; standard input when absent.
        body: Option<PathBuf>,
    },
    /// Print the signature headers a merchant of a dialect sends with a body (demo credentials
    /// unless --config names a merchant), one `Name: value` per line.
    Sign {
        #[arg(long)]
        dialect: Dialect,
        #[arg(long)]
        config: Option<PathBuf>,
        body: Option<PathBuf>,
    },
    /// Validate a config and print every problem at once (exit 1 when any).
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Show which merchant, rule and upstream a request would take, and the exact upstream
    /// request, without sending it.
    Explain {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        dialect: Dialect,
        /// A request header the rules may match on, as `Name: value` (repeatable).
        #[arg(long = "header", value_name = "NAME:VALUE")]
        headers: Vec<String>,
        body: PathBuf,
    },
    /// The webhook relay's outbox (list, replay) and a receiver to try it with (listen).
    Webhooks {
        #[command(subcommand)]
        action: WebhooksAction,
    },
}

#[derive(Subcommand)]
enum WebhooksAction {
    /// The newest merchant webhooks in the outbox, with their delivery state.
    List {
        #[arg(long, default_value = "config/payglot.yaml")]
        config: PathBuf,
        /// Only this merchant's.
        #[arg(long)]
        merchant: Option<String>,
        /// Only events in this state: pending, failed, delivered or dead.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Deliver an event again now, whatever its state (the running payglot sends it).
    Replay {
        #[arg(long, default_value = "config/payglot.yaml")]
        config: PathBuf,
        /// The event id, as `list` prints it.
        id: String,
    },
    /// A tiny merchant receiver on 127.0.0.1: prints each webhook and checks its signature as a
    /// merchant of the dialect would (demo credentials unless --config names a merchant).
    Listen {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        dialect: Dialect,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Stop after this many webhooks.
        #[arg(long)]
        count: Option<usize>,
    },
}

/// Where `payglot sandbox` listens unless told otherwise.
const SANDBOX_LISTEN: &str = "127.0.0.1:8090";
/// Where `payglot sandbox pay|expire` find the sandbox unless told otherwise.
const SANDBOX_URL: &str = "http://127.0.0.1:8090";

#[derive(Subcommand)]
enum SandboxAction {
    /// Run the sandbox (what `payglot sandbox` alone does).
    Serve {
        #[arg(long, default_value = SANDBOX_LISTEN)]
        listen: String,
    },
    /// One incoming transaction to a sandbox payment (POST /_sandbox/pay); prints the answer.
    Pay {
        /// The sandbox's base URL.
        #[arg(long, default_value = SANDBOX_URL)]
        sandbox: String,
        /// The provider's payment id (AlpPay `id`, Cryptomus `uuid`, Apollo order id).
        #[arg(long)]
        id: String,
        /// A decimal amount in the payment's currency; what is still due when absent.
        #[arg(long)]
        amount: Option<String>,
    },
    /// End a sandbox payment's lifetime now (POST /_sandbox/expire); prints the answer.
    Expire {
        #[arg(long, default_value = SANDBOX_URL)]
        sandbox: String,
        #[arg(long)]
        id: String,
    },
}

payglot::use_allocator!();

fn main() -> ExitCode {
    // Kept to the end of main: dropping it flushes the log lines still queued.
    let _log_flush = init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config } => run(&config),
        Command::Sandbox { listen, action } => sandbox_command(listen, action),
        Command::Translate {
            from,
            to,
            config,
            json,
            body,
        } => translate_command(from, to, config.as_deref(), json, body.as_deref()),
        Command::Sign {
            dialect,
            config,
            body,
        } => sign_command(dialect, config.as_deref(), body.as_deref()),
        Command::Check { config } => check_command(&config),
        Command::Webhooks { action } => webhooks_command(action),
        Command::Explain {
            config,
            dialect,
            headers,
            body,
        } => explain_command(&config, dialect, &headers, &body),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn sandbox_command(listen: String, action: Option<SandboxAction>) -> Result<(), String> {
    let answer = match action {
        None => return serve_sandbox(&listen),
        Some(SandboxAction::Serve { listen }) => return serve_sandbox(&listen),
        Some(SandboxAction::Pay {
            sandbox,
            id,
            amount,
        }) => control::pay(&sandbox, &id, amount.as_deref())?,
        Some(SandboxAction::Expire { sandbox, id }) => control::expire(&sandbox, &id)?,
    };
    println!("{}", answer.body);
    if answer.is_success() {
        Ok(())
    } else {
        Err(format!("the sandbox answered HTTP {}", answer.status))
    }
}

fn serve_sandbox(listen: &str) -> Result<(), String> {
    let sandbox = Sandbox::new(SandboxSettings::default());
    eprintln!(
        "payglot sandbox listening on {listen} (/alppay/v2, /cryptomus/v1, /apollo/api-gateway, /_sandbox)"
    );
    serve::run_until_signal(
        serve::quick_stop_conf(),
        vec![Box::new(sandbox.service(listen))],
    );
    Ok(())
}

/// Logs go to stderr through a buffer a background thread writes out, so a request never
/// waits on stderr.
fn init_logging() -> payglot::logwriter::FlushOnDrop {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PAYGLOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var("PAYGLOT_LOG_FORMAT").is_ok_and(|f| f == "json");
    let (writer, flush) = payglot::logwriter::buffered_stderr();
    // Colour codes only for a terminal; the module path adds nothing to a request line.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_writer(writer);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    flush
}

fn load(path: &Path) -> Result<LoadedConfig, String> {
    config::load_file(path)
        .map_err(|errors| format!("{}: the config has errors:\n{errors}", path.display()))
}

fn run(path: &Path) -> Result<(), String> {
    // Before any slow start-up work: SIGHUP's default action ends the process, and the
    // reloader only listens for it once the server runs.
    ignore_hangup_until_the_reloader_listens()?;
    let loaded = load(path)?;
    for problem in loaded.shutdown_problems() {
        tracing::warn!(%problem, "payglot check would refuse this config");
    }
    tracing::info!(
        listen = %loaded.server.listen,
        metrics = %loaded.server.metrics_listen,
        sandbox = ?loaded.sandbox.as_ref().map(|s| s.listen),
        config = %loaded.generation_hash,
        "payglot starting"
    );
    let assembly = app::assemble(loaded, Some(path));
    serve::run_until_signal(assembly.server_conf, assembly.services);
    Ok(())
}

/// Installs the process's SIGHUP handler (tokio's, which stays installed for the life of the
/// process once registered) so that a hang-up that arrives during start-up is dropped, not
/// fatal. The reloader subscribes to the same handler when it starts.
fn ignore_hangup_until_the_reloader_listens() -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime for signal handling: {e}"))?;
    runtime
        .block_on(async {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).map(drop)
        })
        .map_err(|e| format!("cannot handle SIGHUP: {e}"))
}

fn read_body(path: Option<&Path>) -> Result<Vec<u8>, String> {
    match path {
        Some(p) => std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display())),
        None => {
            let mut body = Vec::new();
            std::io::stdin()
                .read_to_end(&mut body)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
            Ok(body)
        }
    }
}

/// What `translate` needs from a config, or the demo set.
struct Setting {
    networks: NetworkTable,
    profile: payglot::model::MerchantProfile,
    upstream_credentials: Credentials,
}

fn setting_for(from: Dialect, to: Dialect, config_path: Option<&Path>) -> Result<Setting, String> {
    let Some(path) = config_path else {
        return Ok(Setting {
            networks: NetworkTable::builtin(),
            profile: demo::merchant_profile(),
            upstream_credentials: demo::credentials(to),
        });
    };
    let loaded = load(path)?;
    let merchant = loaded
        .merchants()
        .iter()
        .find(|m| m.dialect == from)
        .ok_or_else(|| format!("{}: no merchant speaks {from}", path.display()))?;
    let upstream = loaded
        .upstreams()
        .iter()
        .find(|u| u.dialect == to)
        .ok_or_else(|| format!("{}: no upstream speaks {to}", path.display()))?;
    Ok(Setting {
        networks: loaded.networks.clone(),
        profile: merchant.profile.clone(),
        upstream_credentials: merchant.credentials_for(upstream).clone(),
    })
}

fn translate_command(
    from: Dialect,
    to: Dialect,
    config_path: Option<&Path>,
    json: bool,
    body_path: Option<&Path>,
) -> Result<(), String> {
    let body = read_body(body_path)?;
    let setting = setting_for(from, to, config_path)?;
    let request = from
        .codec()
        .parse_create(&body, &setting.networks)
        .map_err(|e| format!("the {from} request is refused: {e}"))?;
    let request_id = uuid::Uuid::new_v4().to_string();
    let context = translate::render_context(
        &setting.networks,
        &setting.profile,
        to,
        &request_id,
        OffsetDateTime::now_utc(),
    );
    let plan = translate::plan_upstream(
        from,
        to,
        &body,
        &request,
        &setting.upstream_credentials,
        &context,
    )
    .map_err(|e| format!("cannot translate to {to}: {e}"))?;
    print_notes(&plan.notes);
    print_request(&plan.upstream, json);
    Ok(())
}

fn print_notes(notes: &[Note]) {
    for note in notes {
        eprintln!(
            "note: {} {}: {}",
            note.action.label(),
            note.field,
            note.detail
        );
    }
}

fn print_request(request: &UpstreamRequest, json: bool) {
    let body = String::from_utf8_lossy(&request.body);
    if json {
        let headers: serde_json::Map<String, serde_json::Value> = request
            .headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), serde_json::Value::from(value.as_str())))
            .collect();
        let out = serde_json::json!({
            "method": request.method,
            "path": request.path,
            "headers": headers,
            "body": body,
        });
        println!("{out}");
    } else {
        println!("{} {}", request.method, request.path);
        for (name, value) in &request.headers {
            println!("{name}: {value}");
        }
        println!();
        println!("{body}");
    }
}

fn sign_command(
    dialect: Dialect,
    config_path: Option<&Path>,
    body_path: Option<&Path>,
) -> Result<(), String> {
    let body = read_body(body_path)?;
    let credentials = merchant_credentials(dialect, config_path)?;
    for (name, value) in dialect.codec().sign(&body, &credentials) {
        println!("{name}: {value}");
    }
    Ok(())
}

fn webhooks_command(action: WebhooksAction) -> Result<(), String> {
    use payglot::webhooks::cli;
    match action {
        WebhooksAction::List {
            config,
            merchant,
            state,
            limit,
        } => {
            print!(
                "{}",
                cli::list(&load(&config)?, merchant, state.as_deref(), limit)?
            );
            Ok(())
        }
        WebhooksAction::Replay { config, id } => {
            print!("{}", cli::replay(&load(&config)?, &id)?);
            Ok(())
        }
        WebhooksAction::Listen {
            port,
            dialect,
            config,
            count,
        } => {
            let credentials = merchant_credentials(dialect, config.as_deref())?;
            cli::listen(port, dialect, credentials, count)
        }
    }
}

/// The credentials of the config's first merchant speaking `dialect`, or the demo ones.
fn merchant_credentials(
    dialect: Dialect,
    config_path: Option<&Path>,
) -> Result<Credentials, String> {
    match config_path {
        None => Ok(demo::credentials(dialect)),
        Some(path) => {
            let loaded = load(path)?;
            loaded
                .merchants()
                .iter()
                .find(|m| m.dialect == dialect)
                .map(|m| m.credentials.clone())
                .ok_or_else(|| format!("{}: no merchant speaks {dialect}", path.display()))
        }
    }
}

fn check_command(path: &Path) -> Result<(), String> {
    let loaded = load(path)?;
    let problems = config::ConfigErrors(loaded.shutdown_problems());
    if !problems.is_empty() {
        return Err(format!(
            "{}: the config has errors:\n{problems}",
            path.display()
        ));
    }
    println!(
        "{}: ok ({} merchants, {} upstreams, {} routes; config {})",
        path.display(),
        loaded.merchants().len(),
        loaded.upstreams().len(),
        loaded.routes.routes().len(),
        loaded.generation_hash
    );
    // Providers with one webhook URL per account: where to point it (set at the provider).
    for upstream in loaded.upstreams() {
        if upstream.dialect.webhooks().account_level_webhooks()
            && let Some(url) = loaded.webhooks.account_url(upstream)
        {
            println!(
                "upstream {}: set the {} account's webhook URL to {url}",
                upstream.id,
                upstream.dialect.codec().title()
            );
        }
    }
    Ok(())
}

fn explain_command(
    path: &Path,
    dialect: Dialect,
    header_args: &[String],
    body_path: &Path,
) -> Result<(), String> {
    let loaded = load(path)?;
    let body = read_body(Some(body_path))?;
    let mut headers = http::HeaderMap::new();
    for arg in header_args {
        let (name, value) = arg
            .split_once(':')
            .ok_or_else(|| format!("--header {arg}: expected NAME:VALUE"))?;
        let name = http::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|e| format!("--header {arg}: {e}"))?;
        let value = http::HeaderValue::from_str(value.trim())
            .map_err(|e| format!("--header {arg}: {e}"))?;
        headers.insert(name, value);
    }
    let explanation = payglot::explain::explain(&loaded, dialect, &headers, &body)?;
    print!("{explanation}");
    Ok(())
}
