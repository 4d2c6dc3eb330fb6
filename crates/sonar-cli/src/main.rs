//! The `sonar` binary: parses flags ([`args`]), loads the layered settings, runs the library's
//! pipeline, prints progress and one summary line per run.
//!
//! Exit codes: 0 success (including "nothing to do", said on stdout), 1 failure (one line plus
//! its causes on stderr), 2 usage error (clap's message). Ctrl+C / SIGTERM stop cleanly.

mod args;
mod listen;
mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use sonar::config::{DetectionMode, Settings};
use sonar::pipeline::{
    self, historical_range, open_sink, Clock, DetectRequest, LoadedModel, LoopLimit,
    SimulatedClock, StopFlag, SystemClock,
};

use args::{Cli, Command, GlobalArgs, LogFormat, Run};
use progress::CliProgress;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if let Err(e) = init_logging(&cli.global) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let stop = StopFlag::new();
    install_stop_handler(&stop, !matches!(cli.command, Command::Serve(_)));
    match run(cli, &stop) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(1)
        }
    }
}

/// SIGINT and SIGTERM (and SIGHUP, except under `serve`, where it reloads the scenarios)
/// raise `stop`: the run stops after the current step. A second signal exits at once (130).
fn install_stop_handler(stop: &StopFlag, hangup_stops: bool) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = vec![SIGINT, SIGTERM];
    #[cfg(unix)]
    if hangup_stops {
        signals.push(signal_hook::consts::SIGHUP);
    }
    #[cfg(not(unix))]
    let _ = hangup_stops;
    let flag = stop.shared();
    for signal in signals {
        let installed = signal_hook::flag::register_conditional_shutdown(signal, 130, flag.clone())
            .and_then(|_| signal_hook::flag::register(signal, flag.clone()));
        if let Err(e) = installed {
            tracing::warn!(error = %e, signal, "cannot install the stop handler");
        }
    }
    let heard = stop.clone();
    std::thread::spawn(move || {
        while !heard.is_raised() {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        eprintln!("stopping (Ctrl+C again to exit at once)…");
    });
}

fn init_logging(global: &GlobalArgs) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&global.log_level).with_context(|| {
        format!(
            "--log-level {:?} is not a level or filter",
            global.log_level
        )
    })?;
    let no_color = std::env::var("NO_COLOR").ok();
    let ansi = global
        .color
        .ansi(std::io::stderr().is_terminal(), no_color.as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi && global.log_format == LogFormat::Text)
        .with_target(false);
    match global.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

fn run(cli: Cli, stop: &StopFlag) -> Result<()> {
    match &cli.command {
        Command::Validate(args) => validate(&args.files),
        Command::Eval(args) if args.alerts.is_some() => eval_alerts(args, stop),
        Command::Eval(args) => eval(args),
        Command::Check(args) => check(&args.settings),
        Command::Train(args) => {
            let run = Run::train(args);
            let settings = load(&run)?;
            let clock = clock(&run);
            train(&settings, &run, clock.as_ref(), stop)
        }
        Command::Detect(args) => {
            let run = Run::detect(args);
            let settings = load(&run)?;
            let clock = clock(&run);
            if settings.detection.mode == DetectionMode::Batch {
                train(&settings, &run, clock.as_ref(), stop)?;
            }
            detect(&settings, &run, clock.as_ref(), stop)
        }
        Command::Serve(args) => {
            let run = Run::serve(args);
            serve(&run, args, stop)
        }
        Command::Scenario(args) => {
            let run = Run::scenario(args);
            let settings = load(&run)?;
            scenario(&settings, &run, stop)
        }
    }
}

fn clock(run: &Run) -> Box<dyn Clock> {
    match run.now {
        Some(now) => Box::new(SimulatedClock::new(now)),
        None => Box::new(SystemClock),
    }
}

fn load(run: &Run) -> Result<Settings> {
    let settings = Settings::load(
        run.config.as_deref(),
        run.scenario.as_deref(),
        &run.overrides,
    )
    .context("cannot load the settings")?;
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    if settings.debug.enabled {
        tracing::info!(
            training = %settings.debug.training_data.display(),
            detection = %settings.debug.detection_data.display(),
            "debug mode: reading local files, writing anomalies to a local JSONL file; nothing is sent anywhere"
        );
    }
    Ok(settings)
}

fn eval(args: &args::EvalArgs) -> Result<()> {
    let json: serde_json::Value =
        serde_json::from_str(&args.params).context("--params is not valid JSON")?;
    let params = sonar_mvad::MvadParams::default()
        .apply_json(&json)
        .context("invalid --params")?;
    let options: sonar_eval::EvalOptions =
        serde_json::from_str(&args.options).context("invalid --options")?;
    let score_files = args
        .score_files
        .iter()
        .map(|s| match s.split_once('=') {
            Some((name, path)) if !name.is_empty() && !path.is_empty() => {
                Ok((name.to_string(), std::path::PathBuf::from(path)))
            }
            _ => Err(anyhow::anyhow!("--scores `{s}`: expected NAME=CSV")),
        })
        .collect::<Result<Vec<_>>>()?;
    let (Some(train), Some(test)) = (&args.train, &args.test) else {
        anyhow::bail!("`sonar eval` needs --train and --test (or --alerts)");
    };
    let name = test
        .file_stem()
        .map_or_else(|| "test".to_string(), |s| s.to_string_lossy().into_owned());
    let report = sonar_eval::run(sonar_eval::EvalRequest {
        name,
        train_csv: train.clone(),
        test_csv: test.clone(),
        test_labels_csv: args.labels.clone(),
        params,
        options,
        score_files,
        scores_out: args.write_scores.clone(),
    })
    .context("evaluation failed")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{}: {} training rows, {} test rows ({} anomalous in {} events), {} features",
        report.name,
        report.train_rows,
        report.test_rows,
        report.anomalous_rows,
        report.events,
        report.features
    );
    println!("| method | VUS-PR | AUC-PR | AUC-ROC | best F1 | event F1 | PA-F1 | seconds |");
    println!("|---|---|---|---|---|---|---|---|");
    let f = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"));
    for m in &report.methods {
        let x = &m.metrics;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} |",
            m.method,
            f(x.vus_pr),
            f(x.auc_pr),
            f(x.auc_roc),
            f(x.best_f1),
            f(x.event_f1),
            f(x.pa_f1),
            m.seconds
        );
    }
    println!("PA-F1 is inflated by point adjustment: read it only next to the random score's.");
    Ok(())
}

/// `sonar eval --alerts`: the scenario's pipeline on labelled alert data (see
/// `sonar_eval::alerts`).
fn eval_alerts(args: &args::EvalArgs, stop: &StopFlag) -> Result<()> {
    use sonar_eval::alerts::{self, AlertEvalRequest, Attacks};
    let (Some(alert_file), Some(attacks)) = (&args.alerts, &args.attacks) else {
        anyhow::bail!("--alerts needs --scenario and --attacks");
    };
    let settings = load(&Run {
        config: args.config.clone(),
        scenario: args.scenario.clone(),
        overrides: sonar::config::Overrides {
            debug: true,
            ..Default::default()
        },
        payload_dir_given: false,
        now: None,
        max_polls: None,
    })?;
    let attacks = if attacks == "time_label" {
        Attacks::TimeLabel
    } else {
        Attacks::File(attacks.into())
    };
    let (work_dir, remove) = match &args.work_dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("sonar-eval-{}", std::process::id())),
            true,
        ),
    };
    let request = AlertEvalRequest {
        settings,
        scenario_stem: args
            .scenario
            .as_ref()
            .and_then(|p| p.file_stem())
            .map(|s| s.to_string_lossy().into_owned()),
        alerts: alert_file.clone(),
        detect_alerts: args.detect_alerts.clone(),
        attacks,
        train_until: args.train_until,
        methods: args.methods.clone(),
        work_dir: work_dir.clone(),
        stop: stop.clone(),
    };
    let result = alerts::run(&request);
    if remove {
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    let report = result.context("alert evaluation failed")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let day = |t: &chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    println!(
        "{}: trained on {} .. {}, detected over {} .. {}: {} buckets, {} in {} attack phase(s)",
        report.scenario,
        day(&report.training.0),
        day(&report.training.1),
        day(&report.detection.0),
        day(&report.detection.1),
        report.buckets,
        report.attack_buckets,
        report.phases
    );
    println!("| method | threshold | chain | phases hit | events | in attacks | in other attacks | false / day | anomalous buckets (in attacks) | VUS-PR | seconds |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for m in &report.methods {
        println!(
            "| {} | {:.4} (min_consecutive {}) | {} | {}/{} | {} | {} | {} | {:.2} | {} ({}) | {} | {:.1} |",
            m.method,
            m.threshold,
            m.min_consecutive,
            if m.chain_hit { "hit" } else { "miss" },
            m.phases.iter().filter(|p| p.hit).count(),
            m.phases.len(),
            m.events,
            m.events_in_attacks,
            m.events_in_other_attacks,
            m.false_events_per_day,
            m.anomalous_buckets,
            m.anomalous_buckets_in_attacks,
            m.vus_pr.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}")),
            m.seconds
        );
    }
    let header: Vec<&str> = report.methods.iter().map(|m| m.method.as_str()).collect();
    println!("\n| phase | start | {} |", header.join(" | "));
    println!("|---|---|{}", "---|".repeat(header.len()));
    for (i, phase) in report
        .methods
        .first()
        .map_or(&[][..], |m| &m.phases[..])
        .iter()
        .enumerate()
    {
        let cells: Vec<String> = report
            .methods
            .iter()
            .map(|m| match m.phases.get(i) {
                Some(p) if p.hit => match p.delay_minutes {
                    Some(d) => format!("hit ({d:.0} min)"),
                    None => "hit".to_string(),
                },
                _ => "miss".to_string(),
            })
            .collect();
        println!(
            "| {} | {} | {} |",
            phase.name,
            day(&phase.start),
            cells.join(" | ")
        );
    }
    Ok(())
}

/// `sonar serve`: every enabled scenario in one process (`sonar::pipeline::serve`), SIGHUP
/// reloads the scenario files, `--listen` serves `/metrics` and `/health`.
fn serve(run: &Run, args: &args::ServeArgs, stop: &StopFlag) -> Result<()> {
    use sonar::pipeline::{PollResult, ReloadFlag, ServeRequest, StatusBoard};
    use std::sync::Arc;
    let clock: Arc<dyn Clock + Send + Sync> = match run.now {
        Some(now) => Arc::new(SimulatedClock::new(now)),
        None => Arc::new(SystemClock),
    };
    let reload = ReloadFlag::default();
    #[cfg(unix)]
    signal_hook::flag::register(signal_hook::consts::SIGHUP, reload.shared())
        .context("cannot install the SIGHUP handler")?;
    let board = StatusBoard::default();
    if let Some(addr) = args.listen {
        let local = listen::start(addr, board.clone(), clock.clone(), stop.clone())?;
        println!("listening on http://{local} (/metrics, /health)");
    }
    let request = ServeRequest {
        config: run.config.clone(),
        scenarios: args.scenarios.clone(),
        overrides: run.overrides.clone(),
        payload_dir_given: run.payload_dir_given,
    };
    let mut progress = CliProgress::new();
    let mut on_poll = |id: &str, result: &PollResult| match result {
        PollResult::Scored(o) => println!("poll {id} {}: {}", fmt_range(&o.range), o.summary),
        PollResult::NothingNew => println!("poll {id}: no complete bucket since the last poll"),
        PollResult::Retrying(e) => println!("poll {id}: failed, retrying with backoff: {e}"),
        PollResult::Stopped => {}
    };
    pipeline::serve(
        &request,
        clock.as_ref(),
        &mut progress,
        stop,
        &reload,
        &board,
        LoopLimit {
            max_polls: run.max_polls,
        },
        &mut on_poll,
    )
    .context("the service failed")?;
    if stop.is_raised() {
        println!("stopped cleanly; each scenario resumes after its last scored bucket");
    }
    Ok(())
}

fn validate(files: &[std::path::PathBuf]) -> Result<()> {
    let mut failed = 0;
    for file in files {
        match sonar::config::validate(file) {
            Ok(v) => {
                let kind = match v.kind {
                    sonar::config::FileKind::Config => "config",
                    sonar::config::FileKind::Scenario => "scenario",
                };
                println!(
                    "ok: {} ({kind}, {} warning(s))",
                    file.display(),
                    v.warnings.len()
                );
                for w in &v.warnings {
                    println!("  warning: {w}");
                }
            }
            Err(e) => {
                failed += 1;
                // The error names the file (and the key path) itself.
                println!("invalid: {e}");
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} file(s) are invalid", files.len());
    }
    Ok(())
}

fn check(settings: &args::SettingsArgs) -> Result<()> {
    let run = Run {
        config: settings.config.clone(),
        scenario: None,
        overrides: sonar::config::Overrides {
            debug: settings.debug,
            ..Default::default()
        },
        payload_dir_given: false,
        now: None,
        max_polls: None,
    };
    let settings = load(&run)?;
    if settings.debug.enabled {
        for path in [
            &settings.debug.training_data,
            &settings.debug.detection_data,
        ] {
            let files = sonar::source::local::LocalFiles::open(path)
                .with_context(|| format!("debug data {} is not readable", path.display()))?;
            println!(
                "✓ debug data: {} ({} file(s))",
                path.display(),
                files.files().len()
            );
        }
        return Ok(());
    }
    let client = pipeline::indexer_client(&settings).context("cannot build the indexer client")?;
    let result = client
        .check()
        .with_context(|| format!("connection check of {} failed", settings.wazuh.base_url))?;
    println!(
        "✓ connected to {} at {}: cluster {} (OpenSearch {}), health {}",
        settings.wazuh.base_url, result.address, result.cluster_name, result.version, result.health
    );
    Ok(())
}

fn train(settings: &Settings, run: &Run, clock: &dyn Clock, stop: &StopFlag) -> Result<()> {
    let mut progress = CliProgress::new();
    if let Some(entities) = &settings.entities {
        let outcome = pipeline::train_entities(
            settings,
            entities,
            clock,
            &mut progress,
            stop,
            run.payload_dir_given,
        )
        .with_context(|| format!("training the model set {} failed", settings.model_name))?;
        let m = &outcome.manifest;
        println!(
            "✓ model set {} split by {}: {} entities trained on {} .. {} → {}",
            settings.model_name,
            m.entity_fields.join(", "),
            m.members.len(),
            m.training_start
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            m.training_end
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            outcome.dir.display()
        );
        for (member, trained) in m.members.iter().zip(&outcome.members) {
            println!(
                "  {}: {} training alerts, {} columns, {} epochs",
                member.entity.label(),
                member.training_alerts,
                trained.columns,
                trained.epochs_run
            );
        }
        if !m.not_modelled.is_empty() {
            println!(
                "  not modelled (past training.max_entities): {} entities, {} alerts",
                m.not_modelled.len(),
                m.not_modelled.iter().map(|(_, n)| n).sum::<u64>()
            );
        }
        println!("train summary: {}", outcome.summary);
        return Ok(());
    }
    let outcome = pipeline::train(settings, clock, &mut progress, stop, run.payload_dir_given)
        .with_context(|| format!("training model {} failed", settings.model_name))?;
    println!(
        "✓ model {} trained on {} → {} ({} columns, {} epochs)",
        settings.model_name,
        fmt_range(&outcome.range),
        outcome.model_path.display(),
        outcome.columns,
        outcome.epochs_run
    );
    println!("train summary: {}", outcome.summary);
    Ok(())
}

fn fmt_range(r: &sonar::source::TimeRange) -> String {
    format!(
        "{} .. {}",
        r.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        r.end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// Detection for a per-entity scenario: every member of its model set into one sink.
fn detect_entities(
    settings: &Settings,
    entities: &pipeline::EntitySettings,
    run: &Run,
    clock: &dyn Clock,
    stop: &StopFlag,
) -> Result<()> {
    pipeline::entity::check_supported(settings, false)?;
    let set = pipeline::ModelSet::load(&pipeline::entity::set_dir(settings), entities)
        .with_context(|| format!("cannot load the model set {}", settings.model_name))?;
    let Some(first) = set.models.first() else {
        anyhow::bail!(
            "the model set {} has no member; retrain it",
            settings.model_name
        );
    };
    let mut sink = open_sink(settings, first, run.payload_dir_given)
        .context("cannot open the anomaly destination")?;
    let mut progress = CliProgress::new();
    if settings.detection.mode == DetectionMode::Realtime {
        let mut on_poll = |entity: &pipeline::Entity, o: &pipeline::DetectOutcome| {
            println!(
                "poll {} {}: {}",
                entity.label(),
                fmt_range(&o.range),
                o.summary
            );
        };
        let total = pipeline::run_realtime_entities(
            settings,
            entities,
            &set,
            sink.as_mut(),
            clock,
            &mut progress,
            stop,
            LoopLimit {
                max_polls: run.max_polls,
            },
            &mut on_poll,
        )
        .with_context(|| {
            format!(
                "realtime detection with the model set {} failed",
                settings.model_name
            )
        })?;
        println!("realtime summary: {total}");
        if stop.is_raised() {
            println!(
                "stopped cleanly; the next run resumes every entity after its last scored bucket"
            );
        }
        return Ok(());
    }
    let outcome = pipeline::detect_entities(
        settings,
        entities,
        &set,
        sink.as_mut(),
        clock,
        &mut progress,
        stop,
    )
    .with_context(|| {
        format!(
            "detection with the model set {} failed",
            settings.model_name
        )
    })?;
    for (entity, member) in &outcome.members {
        if member.summary.anomalies > 0 {
            println!(
                "  {}: {} anomalous bucket(s) in {} event(s)",
                entity.label(),
                member.summary.anomalies,
                member.summary.events
            );
        }
    }
    if !outcome.unmodelled.is_empty() {
        println!(
            "  entities without a model (new since training, or past training.max_entities): {}",
            outcome
                .unmodelled
                .iter()
                .map(|(e, n)| format!("{} ({n} alerts)", e.label()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let s = &outcome.summary;
    if s.anomalies == 0 {
        println!("no anomalies in any of {} entities", outcome.members.len());
    } else {
        println!(
            "{} anomalous bucket(s) in {} event(s) over {} entities written to {}",
            s.anomalies,
            s.events,
            outcome.members.len(),
            sink.destination()
        );
    }
    println!("detect summary: {s}");
    Ok(())
}

fn detect(settings: &Settings, run: &Run, clock: &dyn Clock, stop: &StopFlag) -> Result<()> {
    if let Some(entities) = &settings.entities {
        return detect_entities(settings, entities, run, clock, stop);
    }
    let model = LoadedModel::load(&settings.model_path)
        .with_context(|| format!("cannot load model {}", settings.model_name))?;
    let mut sink = open_sink(settings, &model, run.payload_dir_given)
        .context("cannot open the anomaly destination")?;
    let mut progress = CliProgress::new();
    if settings.detection.mode == DetectionMode::Realtime {
        let mut on_poll = |o: &pipeline::DetectOutcome| {
            println!("poll {}: {}", fmt_range(&o.range), o.summary);
        };
        let total = pipeline::run_realtime(
            settings,
            &model,
            sink.as_mut(),
            clock,
            &mut progress,
            stop,
            LoopLimit {
                max_polls: run.max_polls,
            },
            &mut on_poll,
        )
        .context("realtime detection failed")?;
        println!("realtime summary: {total}");
        if stop.is_raised() {
            println!("stopped cleanly; the next run resumes after the last scored bucket");
        }
        return Ok(());
    }
    let range = historical_range(settings, &model, clock.now())?;
    let request = DetectRequest {
        range: Some(range),
        ..DetectRequest::default()
    };
    let outcome = pipeline::detect(
        settings,
        &model,
        &request,
        sink.as_mut(),
        clock,
        &mut progress,
        stop,
    )
    .with_context(|| format!("detection with model {} failed", settings.model_name))?;
    if outcome.summary.anomalies == 0 {
        println!("no anomalies in {}", fmt_range(&outcome.range));
    } else {
        println!(
            "{} anomalous bucket(s) in {} event(s) written to {}",
            outcome.summary.anomalies,
            outcome.summary.events,
            sink.destination()
        );
    }
    println!("detect summary: {}", outcome.summary);
    Ok(())
}

fn scenario(settings: &Settings, run: &Run, stop: &StopFlag) -> Result<()> {
    let Some(info) = &settings.scenario else {
        anyhow::bail!("no scenario loaded");
    };
    if !info.enabled {
        println!(
            "scenario {:?} is disabled (enabled: false); nothing to do",
            info.name
        );
        return Ok(());
    }
    tracing::info!(name = %info.name, description = %info.description, "scenario");
    let clock = clock(run);
    let mode = settings.detection.mode;
    let model_exists = pipeline::model_exists(settings);
    let must_train =
        info.has_training && (mode == DetectionMode::Batch || !model_exists || !info.has_detection);
    if must_train {
        if !model_exists && mode != DetectionMode::Batch && info.has_detection {
            println!(
                "no model at {} yet: training it first",
                settings.model_path.display()
            );
        }
        train(settings, run, clock.as_ref(), stop)?;
    }
    if info.has_detection {
        detect(settings, run, clock.as_ref(), stop)?;
    } else if !must_train {
        println!(
            "scenario {:?} has neither training nor detection; nothing to do",
            info.name
        );
    }
    Ok(())
}
