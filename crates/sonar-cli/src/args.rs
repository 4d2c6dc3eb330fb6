//! Command-line flags (clap derive), each defined once, and their conversion into validated,
//! typed values ([`Run`]) that the commands use. Raw strings never travel further than here.

use std::net::IpAddr;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use sonar::config::{DetectionMode, Overrides};
use sonar::synthetic::Placement;

/// SONAR: multivariate anomaly detection on Wazuh alerts (MVAD).
#[derive(Debug, Parser)]
#[command(name = "sonar", version, about, propagate_version = true)]
pub struct Cli {
    /// Settings every command shares.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted by every command (before or after the command name).
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Log level: error, warn, info, debug or trace (or a tracing filter such as `sonar=debug`).
    #[arg(long, global = true, default_value = "info", value_name = "LEVEL")]
    pub log_level: String,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Colour in log lines on stderr: auto (only when stderr is a terminal and NO_COLOR is
    /// unset), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stderr is a terminal and `NO_COLOR` is unset or empty.
    Auto,
    /// Always colour, even into a file or pipe.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether log lines carry ANSI colour codes, given whether stderr is a terminal and the
    /// value of `NO_COLOR` (<https://no-color.org>: set and not empty turns colour off).
    pub fn ansi(self, stderr_is_terminal: bool, no_color: Option<&str>) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => stderr_is_terminal && no_color.is_none_or(str::is_empty),
        }
    }
}

/// `--config` and `--debug`, on the commands that load the settings (check, train, detect,
/// scenario, serve), so that `validate` and `eval` do not offer flags they ignore.
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// Configuration file (default: config/default_config.yaml if it exists, else built-in defaults).
    #[arg(long, value_name = "YAML")]
    pub config: Option<PathBuf>,
    /// Debug mode: read the bundled local alert files, write anomalies to a local JSONL file; nothing is sent anywhere.
    #[arg(long)]
    pub debug: bool,
}

/// `--start` / `--end` of a one-off train or detect run.
#[derive(Debug, Clone, Args)]
pub struct WindowArgs {
    /// Start of the run's window (RFC 3339), instead of the lookback: backfill a range, or
    /// train on a period known to be clean.
    #[arg(long, value_name = "TIME")]
    pub start: Option<DateTime<Utc>>,
    /// End of the run's window (RFC 3339, exclusive; default: now).
    #[arg(long, value_name = "TIME")]
    pub end: Option<DateTime<Utc>>,
}

impl WindowArgs {
    fn window(&self) -> sonar::config::RunWindow {
        sonar::config::RunWindow {
            start: self.start,
            end: self.end,
        }
    }
}

/// `--shard I/N` of a per-entity scenario's train, detect or scenario run.
#[derive(Debug, Clone, Args)]
pub struct ShardArgs {
    /// Handle only shard I of N of a per-entity scenario's entities (a stable hash of each
    /// entity): N processes with 1/N .. N/N together write exactly what one process writes.
    /// Each shard keeps its model set in `<model dir>/shard-I-of-N`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<sonar::pipeline::entity::Shard>,
}

/// `sonar check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Settings.
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// Flags of the commands that write (train, detect, scenario): how write requests are
/// inspected. Only there, so that `sonar eval --help` does not offer flags it ignores.
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// Print every write request (anomaly documents, templates) as JSON on stdout; secrets redacted.
    #[arg(long)]
    pub print_payloads: bool,
    /// Record write requests (see --payload-dir) but send none.
    #[arg(long)]
    pub dry_run: bool,
    /// Directory where write requests are saved as JSON files.
    #[arg(long, value_name = "DIR")]
    pub payload_dir: Option<PathBuf>,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the connection to the Wazuh indexer step by step (DNS, TCP, TLS, HTTP, auth, health).
    Check(CheckArgs),
    /// Train a model on historical alerts and save it.
    Train(TrainArgs),
    /// Score recent alerts with a trained model and write the anomalies.
    Detect(DetectArgs),
    /// Run a scenario file: train and/or detect as its sections and mode say.
    Scenario(ScenarioArgs),
    /// Check config and scenario files without running anything.
    Validate(ValidateArgs),
    /// Measure detection quality: train on a CSV, score a labelled CSV, print threshold-free
    /// metrics for the engine next to the random-score and PCA baselines.
    Eval(EvalArgs),
    /// Run every enabled scenario of a directory (or list) in one process: each on its own
    /// polling schedule, with metrics and health on an optional loopback listener.
    Serve(ServeArgs),
}

/// `sonar serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Settings.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Scenario files, or directories of scenario files (`*.yaml`, `*.yml`).
    #[arg(required = true, value_name = "SCENARIO|DIR")]
    pub scenarios: Vec<PathBuf>,
    /// Serve `/metrics` (Prometheus text format) and `/health` on this address, e.g.
    /// 127.0.0.1:9108 (port 0 picks a free port; the address is printed).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Ship anomalies to each scenario's data stream.
    #[arg(long)]
    pub ship: bool,
    /// Write flags.
    #[command(flatten)]
    pub write: WriteArgs,
    /// Testing aid: pretend the current time is TIME (RFC 3339); waits advance this simulated clock instantly.
    #[arg(long, value_name = "TIME", hide = true)]
    pub now: Option<DateTime<Utc>>,
    /// Stop after every scenario has polled N times.
    #[arg(long, value_name = "N")]
    pub max_polls: Option<u64>,
}

/// `--scenario` for train and detect.
#[derive(Debug, Args)]
pub struct ScenarioFileArg {
    /// Scenario file whose settings apply (training, detection, shipping, debug, wazuh).
    #[arg(long, value_name = "YAML")]
    pub scenario: Option<PathBuf>,
}

/// Synthetic alert flags (in memory only; never written to any index).
#[derive(Debug, Args)]
pub struct SyntheticArgs {
    /// Inject N synthetic alerts, one bucket apart.
    #[arg(long, value_name = "N")]
    pub synthetic_count: Option<u64>,
    /// Where injected alerts go relative to the real ones.
    #[arg(long, value_enum, value_name = "MODE")]
    pub synthetic_mode: Option<SyntheticMode>,
    /// rule.level of synthetic alerts (default 5).
    #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(u64).range(0..=16))]
    pub synthetic_level: Option<u64>,
    /// data.srcip of synthetic alerts.
    #[arg(long, value_name = "IP")]
    pub synthetic_srcip: Option<IpAddr>,
    /// Pad short data with synthetic buckets up to the minimum the model needs.
    #[arg(long)]
    pub fill_with_synthetic: bool,
}

/// `--synthetic-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyntheticMode {
    /// After the last real alert.
    Append,
    /// Before the first real alert.
    Prepend,
    /// Instead of the real alerts.
    Only,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Score the lookback window with the existing model.
    Historical,
    /// Train, then score the lookback window.
    Batch,
    /// Poll; score each complete bucket once; resume after restarts.
    Realtime,
}

/// Flags that control detection runs.
#[derive(Debug, Args)]
pub struct DetectionArgs {
    /// Minutes of recent buckets to score (a one-off run, or the first realtime poll).
    #[arg(long, value_name = "MINUTES")]
    pub lookback_minutes: Option<u64>,
    /// Ship anomalies to the scenario's data stream (installs its templates) instead of the anomalies index.
    #[arg(long)]
    pub ship: bool,
    /// Testing aid: pretend the current time is TIME (RFC 3339); realtime waits then advance this simulated clock instantly.
    #[arg(long, value_name = "TIME", hide = true)]
    pub now: Option<DateTime<Utc>>,
    /// Realtime: stop after N polls (default: run until Ctrl+C / SIGTERM).
    #[arg(long, value_name = "N")]
    pub max_polls: Option<u64>,
}

/// `sonar train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Settings.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// The run's window.
    #[command(flatten)]
    pub window: WindowArgs,
    /// The share of a per-entity scenario's entities.
    #[command(flatten)]
    pub shard: ShardArgs,
    /// Scenario.
    #[command(flatten)]
    pub scenario: ScenarioFileArg,
    /// Hours of history to train on (default: the scenario's lookback_hours, else 24).
    #[arg(long, value_name = "HOURS")]
    pub lookback_hours: Option<u64>,
    /// Model name (a directory next to model_path); default: derived from the scenario name.
    #[arg(long, value_name = "NAME")]
    pub model_name: Option<String>,
    /// Create the scenario's data stream templates for later shipping.
    #[arg(long)]
    pub ship: bool,
    /// Synthetic alerts.
    #[command(flatten)]
    pub synthetic: SyntheticArgs,
    /// Write inspection.
    #[command(flatten)]
    pub write: WriteArgs,
    /// Testing aid: pretend the current time is TIME (RFC 3339).
    #[arg(long, value_name = "TIME", hide = true)]
    pub now: Option<DateTime<Utc>>,
}

/// `sonar detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Settings.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// The run's window.
    #[command(flatten)]
    pub window: WindowArgs,
    /// The share of a per-entity scenario's entities.
    #[command(flatten)]
    pub shard: ShardArgs,
    /// Scenario.
    #[command(flatten)]
    pub scenario: ScenarioFileArg,
    /// Run once (historical, the default) or keep polling (realtime); batch trains first.
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Detection flags.
    #[command(flatten)]
    pub detection: DetectionArgs,
    /// Synthetic alerts.
    #[command(flatten)]
    pub synthetic: SyntheticArgs,
    /// Write inspection.
    #[command(flatten)]
    pub write: WriteArgs,
}

/// `sonar scenario`.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// Settings.
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// The run's window.
    #[command(flatten)]
    pub window: WindowArgs,
    /// The share of a per-entity scenario's entities.
    #[command(flatten)]
    pub shard: ShardArgs,
    /// The scenario file to run.
    #[arg(long, value_name = "YAML")]
    pub use_case: PathBuf,
    /// Override the scenario's detection mode.
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Hours of history to train on (overrides the scenario's lookback_hours).
    #[arg(long, value_name = "HOURS")]
    pub lookback_hours: Option<u64>,
    /// Detection flags.
    #[command(flatten)]
    pub detection: DetectionArgs,
    /// Synthetic alerts.
    #[command(flatten)]
    pub synthetic: SyntheticArgs,
    /// Write inspection.
    #[command(flatten)]
    pub write: WriteArgs,
}

/// `sonar eval`: numeric series (`--train`, `--test`) or alert data at a scenario's operating
/// point (`--alerts`, `--scenario`, `--attacks`).
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Training CSV: a header, a first column of row labels or timestamps, numeric columns.
    #[arg(
        long,
        value_name = "CSV",
        required_unless_present = "alerts",
        conflicts_with = "alerts"
    )]
    pub train: Option<PathBuf>,
    /// Test CSV; its `label` / `is_anomaly` / `anomaly` column is the ground truth.
    #[arg(
        long,
        value_name = "CSV",
        required_unless_present = "alerts",
        conflicts_with = "alerts"
    )]
    pub test: Option<PathBuf>,
    /// Alert data instead of CSV series: Wazuh alerts (any format debug mode reads) or an
    /// AIT-ADS alert CSV. Split at --train-until unless --detect-alerts is given.
    #[arg(long, value_name = "FILE", requires_all = ["scenario", "attacks"])]
    pub alerts: Option<PathBuf>,
    /// With --alerts: separate detection alerts (--alerts then holds the training alerts).
    #[arg(
        long,
        value_name = "FILE",
        requires = "alerts",
        conflicts_with = "train_until"
    )]
    pub detect_alerts: Option<PathBuf>,
    /// With --alerts: the scenario whose features, model and detection rules are measured.
    #[arg(long, value_name = "YAML", requires = "alerts")]
    pub scenario: Option<PathBuf>,
    /// With --alerts: the labelled attack windows, `time_label` (the AIT-ADS CSV's column) or
    /// a JSON file of `{name, start, end}` windows such as demo/labels.json.
    #[arg(long, value_name = "time_label|JSON", requires = "alerts")]
    pub attacks: Option<String>,
    /// With --alerts: end of the training period (RFC 3339); default: the first attack's start.
    #[arg(long, value_name = "TIME", requires = "alerts")]
    pub train_until: Option<DateTime<Utc>>,
    /// With --alerts: methods to run, comma-separated (default, faithful, pca).
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "default,faithful,pca",
        requires = "alerts"
    )]
    pub methods: Vec<String>,
    /// With --alerts: the configuration file under the scenario (default:
    /// config/default_config.yaml if it exists).
    #[arg(long, value_name = "YAML", requires = "alerts")]
    pub config: Option<PathBuf>,
    /// With --alerts: directory for the split files, models and anomaly files (default: a
    /// temporary directory, removed afterwards).
    #[arg(long, value_name = "DIR", requires = "alerts")]
    pub work_dir: Option<PathBuf>,
    /// Ground truth in a separate one-column CSV (one row per test row) instead.
    #[arg(long, value_name = "CSV")]
    pub labels: Option<PathBuf>,
    /// Engine parameters as JSON, the reference's keys (e.g. '{"sliding_window": 100, "epochs": 15}').
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub params: String,
    /// Evaluation options as JSON (e.g. '{"max_train_rows": 8000, "variants": [{"name":
    /// "blend", "recon_gamma": 1.0, "smooth_rows": 5}]}'); see `sonar_eval::EvalOptions`.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub options: String,
    /// Also measure another scorer's scores (one per test row, in a one-column CSV with a
    /// header), e.g. the Python reference's; repeatable.
    #[arg(long = "scores", value_name = "NAME=CSV")]
    pub score_files: Vec<String>,
    /// Write every method's per-row scores, with the labels, to this CSV.
    #[arg(long, value_name = "CSV")]
    pub write_scores: Option<PathBuf>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `sonar validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Config or scenario files (the kind is told from the top-level keys).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

impl From<Mode> for DetectionMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Historical => DetectionMode::Historical,
            Mode::Batch => DetectionMode::Batch,
            Mode::Realtime => DetectionMode::Realtime,
        }
    }
}

impl From<SyntheticMode> for Placement {
    fn from(mode: SyntheticMode) -> Self {
        match mode {
            SyntheticMode::Append => Placement::Append,
            SyntheticMode::Prepend => Placement::Prepend,
            SyntheticMode::Only => Placement::Only,
        }
    }
}

/// The validated arguments of a train / detect / scenario run.
#[derive(Debug, Clone)]
pub struct Run {
    /// Config file.
    pub config: Option<PathBuf>,
    /// Scenario file.
    pub scenario: Option<PathBuf>,
    /// The command-line layer of the settings.
    pub overrides: Overrides,
    /// `--payload-dir` was given explicitly.
    pub payload_dir_given: bool,
    /// Simulated start time.
    pub now: Option<DateTime<Utc>>,
    /// Realtime poll limit.
    pub max_polls: Option<u64>,
}

impl SettingsArgs {
    fn overrides(&self, write: &WriteArgs) -> Overrides {
        Overrides {
            debug: self.debug,
            print_payloads: write.print_payloads,
            dry_run: write.dry_run,
            payload_dir: write.payload_dir.clone(),
            ..Overrides::default()
        }
    }
}

impl SyntheticArgs {
    fn apply(&self, o: &mut Overrides) {
        o.synthetic_count = self.synthetic_count;
        o.synthetic_mode = self.synthetic_mode.map(Into::into);
        o.synthetic_level = self.synthetic_level;
        o.synthetic_srcip = self.synthetic_srcip;
        o.fill_with_synthetic = self.fill_with_synthetic;
    }
}

impl Run {
    /// `sonar serve` (per scenario, the mode is realtime).
    pub fn serve(args: &ServeArgs) -> Self {
        let mut overrides = args.settings.overrides(&args.write);
        overrides.ship = args.ship;
        overrides.mode = Some(DetectionMode::Realtime);
        Self {
            config: args.settings.config.clone(),
            scenario: None,
            overrides,
            payload_dir_given: args.write.payload_dir.is_some(),
            now: args.now,
            max_polls: args.max_polls,
        }
    }

    /// `sonar train`.
    pub fn train(args: &TrainArgs) -> Self {
        let mut overrides = args.settings.overrides(&args.write);
        overrides.lookback_hours = args.lookback_hours;
        overrides.model_name = args.model_name.clone();
        overrides.ship = args.ship;
        overrides.window = args.window.window();
        overrides.shard = args.shard.shard;
        args.synthetic.apply(&mut overrides);
        Self {
            config: args.settings.config.clone(),
            scenario: args.scenario.scenario.clone(),
            overrides,
            payload_dir_given: args.write.payload_dir.is_some(),
            now: args.now,
            max_polls: None,
        }
    }

    fn detection(
        settings: &SettingsArgs,
        d: &DetectionArgs,
        s: &SyntheticArgs,
        w: &WriteArgs,
        mode: Option<Mode>,
    ) -> Overrides {
        let mut overrides = settings.overrides(w);
        overrides.lookback_minutes = d.lookback_minutes;
        overrides.ship = d.ship;
        overrides.mode = mode.map(Into::into);
        s.apply(&mut overrides);
        overrides
    }

    /// `sonar detect`.
    pub fn detect(args: &DetectArgs) -> Self {
        let mut overrides = Self::detection(
            &args.settings,
            &args.detection,
            &args.synthetic,
            &args.write,
            args.mode,
        );
        overrides.window = args.window.window();
        overrides.shard = args.shard.shard;
        Self {
            config: args.settings.config.clone(),
            scenario: args.scenario.scenario.clone(),
            overrides,
            payload_dir_given: args.write.payload_dir.is_some(),
            now: args.detection.now,
            max_polls: args.detection.max_polls,
        }
    }

    /// `sonar scenario`.
    pub fn scenario(args: &ScenarioArgs) -> Self {
        let mut overrides = Self::detection(
            &args.settings,
            &args.detection,
            &args.synthetic,
            &args.write,
            args.mode,
        );
        overrides.lookback_hours = args.lookback_hours;
        overrides.window = args.window.window();
        overrides.shard = args.shard.shard;
        Self {
            config: args.settings.config.clone(),
            scenario: Some(args.use_case.clone()),
            overrides,
            payload_dir_given: args.write.payload_dir.is_some(),
            now: args.detection.now,
            max_polls: args.detection.max_polls,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn help(command: &str) -> String {
        let mut cli = Cli::command();
        cli.build();
        cli.find_subcommand_mut(command)
            .unwrap_or_else(|| panic!("no command {command}"))
            .render_long_help()
            .to_string()
    }

    #[test]
    fn write_flags_appear_only_on_the_commands_that_write() {
        let write_flags = ["--dry-run", "--print-payloads", "--payload-dir"];
        for command in ["train", "detect", "scenario"] {
            let text = help(command);
            for flag in write_flags {
                assert!(
                    text.contains(flag),
                    "{command} --help lacks {flag}:\n{text}"
                );
            }
        }
        for command in ["eval", "validate", "check"] {
            let text = help(command);
            for flag in write_flags {
                assert!(
                    !text.contains(flag),
                    "{command} --help offers {flag}:\n{text}"
                );
            }
            assert!(text.contains("--color"), "{command}:\n{text}");
        }
    }

    #[test]
    fn write_flags_keep_their_spelling_and_reach_the_overrides() {
        let cli = Cli::try_parse_from([
            "sonar",
            "detect",
            "--dry-run",
            "--print-payloads",
            "--payload-dir",
            "dumps",
        ])
        .expect("parses");
        let Command::Detect(args) = &cli.command else {
            panic!("not detect: {cli:?}");
        };
        let run = Run::detect(args);
        assert!(run.overrides.dry_run && run.overrides.print_payloads);
        assert_eq!(run.overrides.payload_dir, Some(PathBuf::from("dumps")));
        assert!(run.payload_dir_given);
        let error =
            Cli::try_parse_from(["sonar", "eval", "--dry-run", "--train", "a", "--test", "b"])
                .expect_err("eval has no --dry-run");
        assert_eq!(error.kind(), clap::error::ErrorKind::UnknownArgument);
    }

    #[test]
    fn settings_flags_appear_only_on_the_commands_that_load_settings() {
        for command in ["check", "train", "detect", "scenario", "serve"] {
            let text = help(command);
            for flag in ["--config", "--debug"] {
                assert!(
                    text.contains(flag),
                    "{command} --help lacks {flag}:\n{text}"
                );
            }
        }
        let validate = help("validate");
        assert!(
            !validate.contains("--config") && !validate.contains("--debug"),
            "{validate}"
        );
        let eval = help("eval");
        assert!(
            !eval.contains("--debug") && eval.contains("--config"),
            "{eval}"
        );
        let cli = Cli::try_parse_from(["sonar", "check", "--debug", "--config", "c.yaml"])
            .expect("parses");
        let Command::Check(args) = &cli.command else {
            panic!("not check: {cli:?}");
        };
        assert!(args.settings.debug);
        assert_eq!(args.settings.config, Some(PathBuf::from("c.yaml")));
        let error = Cli::try_parse_from(["sonar", "validate", "--debug", "x.yaml"])
            .expect_err("validate has no --debug");
        assert_eq!(error.kind(), clap::error::ErrorKind::UnknownArgument);
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color_unless_forced() {
        let cases = [
            (ColorChoice::Auto, true, None, true),
            (ColorChoice::Auto, false, None, false),
            (ColorChoice::Auto, true, Some("1"), false),
            (ColorChoice::Auto, true, Some(""), true),
            (ColorChoice::Always, false, Some("1"), true),
            (ColorChoice::Never, true, None, false),
        ];
        for (choice, terminal, no_color, expected) in cases {
            assert_eq!(
                choice.ansi(terminal, no_color),
                expected,
                "{choice:?} terminal={terminal} NO_COLOR={no_color:?}"
            );
        }
    }
}
