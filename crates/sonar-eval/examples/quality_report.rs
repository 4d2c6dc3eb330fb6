//! Quality report: evaluates our engine and the baselines (`sonar_eval`) on the development
//! data in `../shared/data` and writes `docs/quality.md` (plus the raw reports as JSON).
//!
//! ```text
//! cargo run --release -p sonar-eval --example quality_report -- [--full] [--epochs N]
//!     [--params JSON] [--longer JSON] [--data DIR] [--out docs/quality.md] [--json FILE]
//!     [--only FAMILY] [--export DIR] [--reference DIR] [--scores DIR] [--improved METHOD]
//!     [--render FILE --seconds S]
//! ```
//!
//! The default run is bounded (a subset of series, few epochs, capped training rows) so it
//! finishes in minutes on a 2-core machine; `--full` takes every development series.
//! Compressed inputs are read through the system's `gzip` and `unzip`.
//!
//! `--export DIR` only writes each series as the CSVs the Python reference trains and scores
//! (`bench/reference/reference_scores.py`); `--reference DIR` then measures the scores it
//! wrote there next to ours. `--scores DIR` writes every method's per-row scores.
//! `--render FILE` re-writes the page from the JSON of an earlier run (`--seconds`: its time).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sonar_eval::{
    self as eval, data, EvalOptions, EvalReport, LabelledSeries, Metrics, ScoreVariant,
};
use sonar_mvad::MvadParams;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Command-line settings.
struct Settings {
    full: bool,
    epochs: usize,
    /// Parameter overrides of every engine run (reference keys, e.g. `{"interval": 1}`).
    params: Option<String>,
    /// Parameter overrides of a second engine run ("trained longer"); none = no second run.
    longer: Option<String>,
    export: Option<PathBuf>,
    reference: Option<PathBuf>,
    scores: Option<PathBuf>,
    /// The improved method the targets are checked for.
    improved: String,
    render: Option<PathBuf>,
    seconds: Option<f64>,
    data: PathBuf,
    out: PathBuf,
    json: PathBuf,
    only: Option<String>,
    args: String,
}

fn settings() -> Res<Settings> {
    // crates/sonar → the workspace root.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest
        .parent()
        .and_then(Path::parent)
        .unwrap_or(manifest)
        .to_path_buf();
    let mut s = Settings {
        full: false,
        epochs: 15,
        params: None,
        longer: None,
        export: None,
        reference: None,
        scores: None,
        improved: IMPROVED.to_string(),
        render: None,
        seconds: None,
        data: root.join("../shared/data"),
        out: root.join("docs/quality.md"),
        json: root.join("target/quality_report.json"),
        only: None,
        args: String::new(),
    };
    // The arguments a user gave the script (it adds --longer and --reference itself).
    let given: Vec<String> = std::env::args().skip(1).collect();
    let mut shown = Vec::new();
    let mut i = 0;
    while i < given.len() {
        if ["--longer", "--reference", "--render", "--seconds"].contains(&given[i].as_str()) {
            i += 2;
        } else {
            shown.push(given[i].clone());
            i += 1;
        }
    }
    s.args = shown.join(" ");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--full" => s.full = true,
            "--epochs" => s.epochs = value()?.parse()?,
            "--params" => s.params = Some(value()?),
            "--longer" => s.longer = Some(value()?),
            "--export" => s.export = Some(value()?.into()),
            "--reference" => s.reference = Some(value()?.into()),
            "--scores" => s.scores = Some(value()?.into()),
            "--improved" => s.improved = value()?,
            "--render" => s.render = Some(value()?.into()),
            "--seconds" => s.seconds = Some(value()?.parse()?),
            "--data" => s.data = value()?.into(),
            "--out" => s.out = value()?.into(),
            "--json" => s.json = value()?.into(),
            "--only" => s.only = Some(value()?),
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    Ok(s)
}

/// One train/test pair of a data-set family.
struct Series {
    family: &'static str,
    name: String,
    train: LabelledSeries,
    test: LabelledSeries,
}

fn gunzip(path: &Path) -> Res<String> {
    let out = Command::new("gzip").arg("-dc").arg(path).output()?;
    if !out.status.success() {
        return Err(format!(
            "gzip -dc {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// `<prefix>_train.csv.gz`, `<prefix>_test.csv.gz`, `<prefix>_test_label.csv.gz`.
fn split_files(family: &'static str, dir: &Path, prefix: &str) -> Res<Series> {
    let file = |suffix: &str| dir.join(format!("{prefix}_{suffix}.csv.gz"));
    let train = LabelledSeries::from_csv(&gunzip(&file("train"))?, &file("train"))?;
    let mut test = LabelledSeries::from_csv(&gunzip(&file("test"))?, &file("test"))?;
    let labels = data::labels_from_csv(&gunzip(&file("test_label"))?, &file("test_label"))?;
    if labels.len() != test.rows() {
        return Err(format!("{prefix}: {} labels for {} rows", labels.len(), test.rows()).into());
    }
    test.labels = Some(labels);
    Ok(Series {
        family,
        name: prefix.to_string(),
        train,
        test,
    })
}

fn skab(dir: &Path, run: &str) -> Res<Series> {
    let train_path = dir.join("anomaly-free/anomaly-free.csv");
    let test_path = dir.join(format!("{run}.csv"));
    let mut train = LabelledSeries::read(&train_path)?;
    train.labels = None;
    Ok(Series {
        family: "SKAB",
        name: run.to_string(),
        train,
        test: LabelledSeries::read(&test_path)?,
    })
}

/// AIT-ADS scenario as alert counts per `bucket_s` bucket, one column per (host, detector)
/// (or per host when `hosts_only`) plus the total; a bucket is anomalous when it holds an
/// alert of an attack phase. The training part is the first 60% of buckets, cut earlier so
/// that it holds no attack.
fn ait(zip: &Path, scenario: &str, bucket_s: f64, hosts_only: bool) -> Res<Series> {
    let member = format!("alerts_csv/{scenario}_alerts.txt");
    let out = Command::new("unzip")
        .arg("-p")
        .arg(zip)
        .arg(&member)
        .output()?;
    if !out.status.success() {
        return Err(format!("unzip -p {} {member} failed", zip.display()).into());
    }
    let text = String::from_utf8(out.stdout)?;
    let mut alerts = Vec::new();
    for line in text.lines().skip(1) {
        // The description may hold commas: read the fixed fields from both ends.
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 7 {
            continue;
        }
        let n = f.len();
        let t: f64 = f[0].parse()?;
        let column = if hosts_only {
            f[n - 4].to_string()
        } else {
            format!("{}/{}", f[n - 4], f[n - 3].chars().next().unwrap_or('?'))
        };
        let attack = !matches!(f[n - 2], "false_positive" | "-" | "");
        alerts.push((t, column, attack));
    }
    let t0 = alerts.iter().map(|a| a.0).fold(f64::INFINITY, f64::min);
    let t1 = alerts.iter().map(|a| a.0).fold(f64::NEG_INFINITY, f64::max);
    let buckets = ((t1 - t0) / bucket_s) as usize + 1;
    let columns: Vec<String> = std::iter::once("all".to_string())
        .chain(alerts.iter().map(|a| a.1.clone()).collect::<BTreeSet<_>>())
        .collect();
    let pos: BTreeMap<&str, usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let k = columns.len();
    let mut values = vec![0.0; buckets * k];
    let mut labels = vec![false; buckets];
    for (t, c, attack) in &alerts {
        let b = ((t - t0) / bucket_s) as usize;
        values[b * k] += 1.0;
        values[b * k + pos[c.as_str()]] += 1.0;
        labels[b] |= *attack;
    }
    let first_attack = labels.iter().position(|&l| l).unwrap_or(buckets);
    let split = (buckets * 6 / 10).min(first_attack);
    let train = LabelledSeries {
        columns: columns.clone(),
        values: values[..split * k].to_vec(),
        labels: None,
    };
    let test = LabelledSeries {
        columns,
        values: values[split * k..].to_vec(),
        labels: Some(labels[split..].to_vec()),
    };
    Ok(Series {
        family: "AIT-ADS",
        name: scenario.to_string(),
        train,
        test,
    })
}

/// The series of the run, in report order: (family, loader).
fn plan(s: &Settings) -> Vec<(&'static str, String)> {
    let pick = |all: &[&str], bounded: usize| -> Vec<String> {
        let n = if s.full {
            all.len()
        } else {
            bounded.min(all.len())
        };
        all[..n].iter().map(|x| x.to_string()).collect()
    };
    let smd = ["machine-1-6", "machine-2-1", "machine-1-7", "machine-2-2"];
    let smap = [
        "SMAP_A-2",
        "SMAP_D-3",
        "SMAP_E-2",
        "SMAP_A-4",
        "SMAP_A-6",
        "SMAP_A-8",
        "SMAP_B-1",
        "SMAP_D-11",
        "SMAP_D-13",
        "SMAP_D-5",
        "SMAP_D-7",
        "SMAP_D-9",
        "SMAP_E-10",
        "SMAP_E-12",
        "SMAP_E-4",
        "SMAP_E-6",
        "SMAP_E-8",
        "SMAP_F-1",
        "SMAP_F-3",
        "SMAP_G-2",
        "SMAP_G-4",
        "SMAP_G-7",
        "SMAP_P-2",
        "SMAP_P-4",
        "SMAP_R-1",
        "SMAP_T-1",
        "SMAP_T-3",
    ];
    let msl = [
        "MSL_C-1", "MSL_F-5", "MSL_M-6", "MSL_D-14", "MSL_D-16", "MSL_F-8", "MSL_M-2", "MSL_M-4",
        "MSL_P-10", "MSL_P-14", "MSL_S-2", "MSL_T-13", "MSL_T-5", "MSL_T-9",
    ];
    let asd = ["omi-1", "omi-2", "omi-3", "omi-4", "omi-5", "omi-6"];
    let skab_runs = [
        "valve1/1",
        "other/1",
        "valve1/5",
        "other/3",
        "valve1/0",
        "valve1/2",
        "valve1/3",
        "valve1/4",
        "valve1/6",
        "valve1/7",
        "valve1/8",
        "valve1/9",
        "valve1/10",
        "valve1/11",
        "valve1/12",
        "valve1/13",
        "valve1/14",
        "valve1/15",
        "other/2",
        "other/4",
        "other/5",
        "other/6",
        "other/7",
    ];
    let ait_scenarios = ["russellmitchell", "shaw", "santos", "fox"];
    let mut out = Vec::new();
    out.extend(pick(&smd, 4).into_iter().map(|x| ("SMD", x)));
    out.extend(pick(&smap, 6).into_iter().map(|x| ("SMAP", x)));
    out.extend(pick(&msl, 4).into_iter().map(|x| ("MSL", x)));
    out.extend(pick(&asd, 3).into_iter().map(|x| ("ASD", x)));
    out.extend(pick(&skab_runs, 6).into_iter().map(|x| ("SKAB", x)));
    out.extend(pick(&ait_scenarios, 2).into_iter().map(|x| ("AIT-ADS", x)));
    out.retain(|(f, _)| s.only.as_deref().is_none_or(|o| o.eq_ignore_ascii_case(f)));
    out
}

fn load(s: &Settings, family: &'static str, name: &str) -> Res<Series> {
    match family {
        "SMD" => split_files(family, &s.data.join("smd"), name),
        "SMAP" | "MSL" => split_files(family, &s.data.join("smap_msl"), name),
        "ASD" => split_files(family, &s.data.join("asd"), name),
        "SKAB" => skab(&s.data.join("skab"), name),
        _ => ait(&s.data.join("ait_ads/alerts_csv.zip"), name, 300.0, false),
    }
}

/// A file-name-safe id of a series: `<family>__<name>` with `/` → `_`.
fn series_id(family: &str, name: &str) -> String {
    format!("{family}__{}", name.replace('/', "_"))
}

/// Writes `series` as `<id>.train.csv` (the rows our engine trains on) and `<id>.test.csv`,
/// each with a `timestamp` column of zero-padded row numbers that continue from training to
/// test, for `bench/reference/reference_scores.py`.
fn export(dir: &Path, id: &str, train: &LabelledSeries, test: &LabelledSeries) -> Res<()> {
    std::fs::create_dir_all(dir)?;
    let mut row = 0usize;
    for (part, series) in [("train", train), ("test", test)] {
        let mut text = format!("timestamp,{}\n", series.columns.join(","));
        for values in series.values.chunks(series.columns.len()) {
            let _ = write!(text, "{row:012}");
            for v in values {
                if v.is_nan() {
                    text.push(',');
                } else {
                    let _ = write!(text, ",{v}");
                }
            }
            text.push('\n');
            row += 1;
        }
        std::fs::write(dir.join(format!("{id}.{part}.csv")), text)?;
    }
    Ok(())
}

/// Appends the methods of `extra` to `report`, renamed `<method> <suffix>`.
fn merge(report: &mut EvalReport, extra: EvalReport, suffix: &str, methods: &[&str]) {
    for mut m in extra.methods {
        if methods.contains(&m.method.as_str()) {
            m.method = format!("{} {suffix}", m.method);
            report.methods.push(m);
        }
    }
}

/// Evaluates one series with every method of the run.
fn evaluate_series(
    s: &Settings,
    family: &'static str,
    name: &str,
    params: &MvadParams,
    options: &EvalOptions,
) -> Res<(EvalReport, Vec<bool>)> {
    let series = load(s, family, name)?;
    let label = format!("{}/{}", series.family, series.name);
    let mut report = eval::evaluate(&label, &series.train, &series.test, params, options)?;
    if let Some(json) = &s.longer {
        let longer = params.clone().apply_json(&serde_json::from_str(json)?)?;
        let extra = eval::evaluate(&label, &series.train, &series.test, &longer, options)?;
        let names: Vec<String> = extra.methods.iter().map(|m| m.method.clone()).collect();
        let engine: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|m| m.starts_with(eval::ENGINE))
            .collect();
        merge(&mut report, extra, LONGER, &engine);
    }
    if family == "AIT-ADS" {
        let hosts = ait(&s.data.join("ait_ads/alerts_csv.zip"), name, 300.0, true)?;
        let extra = eval::evaluate(&label, &hosts.train, &hosts.test, params, options)?;
        merge(&mut report, extra, HOSTS, &[eval::ENGINE, eval::PCA]);
    }
    let labels = series.test.labels.unwrap_or_default();
    Ok((report, labels))
}

/// After every series: adds the reference's scores found in `--reference DIR` (waiting for
/// the `done` file its runner writes there) and writes `--scores` files.
fn finish(s: &Settings, reports: &mut [Evaluated], options: &EvalOptions) -> Res<()> {
    if let Some(dir) = &s.reference {
        let done = dir.join("done");
        if !done.exists() {
            eprintln!("waiting for the reference runner ({})", done.display());
        }
        while !done.exists() {
            std::thread::sleep(std::time::Duration::from_secs(5));
        }
    }
    for e in reports.iter_mut() {
        let path = s
            .reference
            .as_ref()
            .map(|dir| dir.join(format!("{}.reference.csv", e.id)));
        if let Some(path) = path.filter(|p| p.exists()) {
            e.report.methods.push(eval::MethodReport::from_scores_file(
                REFERENCE,
                &path,
                &e.labels,
                options,
                "time-series-anomaly-detector 0.4.0".into(),
            )?);
        }
        if let Some(dir) = &s.scores {
            std::fs::create_dir_all(dir)?;
            let path = dir.join(format!("{}.scores.csv", e.id));
            eval::write_scores(&path, &e.labels, &e.report.methods)?;
        }
    }
    Ok(())
}

/// One evaluated series.
struct Evaluated {
    family: &'static str,
    id: String,
    report: EvalReport,
    labels: Vec<bool>,
}

/// Suffix of the methods of the longer-trained engine.
const LONGER: &str = "(trained longer)";
/// Suffix of the methods on per-host alert counts (AIT-ADS).
const HOSTS: &str = "(host counts)";
/// Method name of the Python reference MVAD.
const REFERENCE: &str = "reference";
/// The improved method the targets are checked for by default: the best switch combination
/// measured.
const IMPROVED: &str = "sonar-mvad +std+recon/2+smooth";
/// The standardised-error score without further switches (quoted in the findings).
const STANDARDISED: &str = "sonar-mvad +std";

/// Engine parameters of the report (the same for every series).
fn params(s: &Settings) -> Res<MvadParams> {
    let params = MvadParams {
        sliding_window: Some(100),
        epochs: s.epochs,
        ..MvadParams::default()
    };
    Ok(match &s.params {
        Some(json) => params.apply_json(&serde_json::from_str(json)?)?,
        None => params,
    })
}

fn options(s: &Settings) -> EvalOptions {
    let variant = |name: &str, recon_gamma: f64, smooth_rows: usize, error| ScoreVariant {
        name: format!("{} {name}", eval::ENGINE),
        recon_gamma,
        smooth_rows,
        error,
        pca_gamma: 0.0,
    };
    let with_pca = |name: &str, pca_gamma: f64| ScoreVariant {
        pca_gamma,
        ..variant(name, 0.5, SMOOTH_ROWS, Standardised)
    };
    use sonar_mvad::ErrorKind::{Faithful, Standardised};
    EvalOptions {
        max_train_rows: if s.full { None } else { Some(8000) },
        variants: vec![
            variant("+recon", 1.0, 1, Faithful),
            variant("+smooth", 0.0, SMOOTH_ROWS, Faithful),
            variant("+recon+smooth", 1.0, SMOOTH_ROWS, Faithful),
            variant("+std", 0.0, 1, Standardised),
            variant("+std+recon", 1.0, 1, Standardised),
            variant("+std+smooth", 0.0, SMOOTH_ROWS, Standardised),
            variant("+std+recon/2+smooth", 0.5, SMOOTH_ROWS, Standardised),
            variant("+std+recon+smooth", 1.0, SMOOTH_ROWS, Standardised),
            with_pca("+std+recon/2+smooth+pca/2", 0.5),
            with_pca("+std+recon/2+smooth+pca", 1.0),
            with_pca("+std+recon/2+smooth+2pca", 2.0),
            with_pca("+std+recon/2+smooth+4pca", 4.0),
        ],
        ..EvalOptions::default()
    }
}

/// Rows of the trailing mean of the smoothed variants.
const SMOOTH_ROWS: usize = 10;

/// Heading of the section scripts/alert_quality.sh writes at the end of docs/quality.md.
const ALERT_SECTION: &str = "## Alert data at the default threshold";

fn main() -> Res<()> {
    let s = settings()?;
    let started = Instant::now();
    let params = params(&s)?;
    let options = options(&s);
    if let Some(path) = &s.render {
        let reports: Vec<EvalReport> = serde_json::from_str(&std::fs::read_to_string(path)?)?;
        let families = ["SMD", "SMAP", "MSL", "ASD", "SKAB", "AIT-ADS"];
        let reports: Vec<(&'static str, EvalReport)> = reports
            .into_iter()
            .map(|r| {
                let f = families
                    .into_iter()
                    .find(|f| r.name.split('/').next() == Some(*f))
                    .unwrap_or("other");
                (f, r)
            })
            .collect();
        let first = reports.first().ok_or("no report in the file")?;
        let (params, options) = (first.1.params.clone(), first.1.options.clone());
        let seconds = s.seconds.unwrap_or(0.0);
        std::fs::write(
            &s.out,
            markdown(&s, &params, &options, &reports, &[], seconds),
        )?;
        eprintln!("wrote {}", s.out.display());
        return Ok(());
    }
    let mut evaluated: Vec<Evaluated> = Vec::new();
    let mut failures = Vec::new();
    if let Some(dir) = &s.export {
        for (family, name) in plan(&s) {
            let series = load(&s, family, &name)?;
            let train = match options.max_train_rows {
                Some(n) => series.train.tail(n),
                None => series.train.clone(),
            };
            export(dir, &series_id(family, &name), &train, &series.test)?;
        }
        std::fs::write(dir.join("params.json"), serde_json::to_string(&params)?)?;
        eprintln!("wrote the series to {}", dir.display());
        return Ok(());
    }
    for (family, name) in plan(&s) {
        let t = Instant::now();
        let result = evaluate_series(&s, family, &name, &params, &options);
        match result {
            Ok((r, labels)) => {
                let vus = |m: &str| {
                    r.method(m)
                        .and_then(|m| m.metrics.vus_pr)
                        .unwrap_or(f64::NAN)
                };
                eprintln!(
                    "{family}/{name}: {} train, {} test rows, VUS-PR ours {:.3} pca {:.3} random {:.3} ({:.0} s)",
                    r.train_rows,
                    r.test_rows,
                    vus(eval::ENGINE),
                    vus(eval::PCA),
                    vus(eval::RANDOM),
                    t.elapsed().as_secs_f64()
                );
                evaluated.push(Evaluated {
                    family,
                    id: series_id(family, &name),
                    report: r,
                    labels,
                });
            }
            Err(e) => {
                eprintln!("{family}/{name}: FAILED: {e}");
                failures.push(format!("{family}/{name}: {e}"));
            }
        }
    }
    finish(&s, &mut evaluated, &options)?;
    let reports: Vec<(&'static str, EvalReport)> = evaluated
        .into_iter()
        .map(|e| (e.family, e.report))
        .collect();
    let all: Vec<&EvalReport> = reports.iter().map(|(_, r)| r).collect();
    if let Some(dir) = s.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&s.json, serde_json::to_string_pretty(&all)?)?;
    let mut md = markdown(
        &s,
        &params,
        &options,
        &reports,
        &failures,
        started.elapsed().as_secs_f64(),
    );
    // The alert-data section is scripts/alert_quality.sh's: keep it.
    if let Ok(old) = std::fs::read_to_string(&s.out) {
        if let Some(at) = old.find(ALERT_SECTION) {
            md = format!("{}\n\n{}", md.trim_end(), &old[at..]);
        }
    }
    std::fs::write(&s.out, md)?;
    eprintln!(
        "wrote {} and {} in {:.0} s",
        s.out.display(),
        s.json.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A report column: its title and the metric it shows.
type Column = (&'static str, fn(&Metrics) -> Option<f64>);

const COLUMNS: [Column; 6] = [
    ("VUS-PR", |m| m.vus_pr),
    ("AUC-PR", |m| m.auc_pr),
    ("AUC-ROC", |m| m.auc_roc),
    ("best F1", |m| m.best_f1),
    ("event F1", |m| m.event_f1),
    ("PA-F1", |m| m.pa_f1),
];

fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = values.flatten().collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.3}"))
}

/// Mean of each metric of `method` over `reports`.
fn method_means(reports: &[&EvalReport], method: &str) -> Vec<Option<f64>> {
    COLUMNS
        .iter()
        .map(|(_, f)| {
            mean(
                reports
                    .iter()
                    .map(|r| r.method(method).and_then(|m| f(&m.metrics))),
            )
        })
        .collect()
}

fn markdown(
    s: &Settings,
    params: &MvadParams,
    options: &EvalOptions,
    reports: &[(&'static str, EvalReport)],
    failures: &[String],
    seconds: f64,
) -> String {
    let improved = s.improved.as_str();
    let mut methods: Vec<&str> = Vec::new();
    for (_, r) in reports {
        for m in &r.methods {
            if !methods.contains(&m.method.as_str()) {
                methods.push(&m.method);
            }
        }
    }
    let mut families: Vec<&str> = Vec::new();
    for (f, _) in reports {
        if !families.contains(f) {
            families.push(f);
        }
    }
    let by_family = |f: &str| -> Vec<&EvalReport> {
        reports
            .iter()
            .filter(|(g, _)| *g == f)
            .map(|(_, r)| r)
            .collect()
    };
    let mut md = String::new();
    let _ = writeln!(md, "# Detection quality\n");
    let _ = writeln!(
        md,
        "Generated by `scripts/quality_report.sh{}` (the `quality_report` example, plus the Python reference \
         run by `bench/reference/reference_scores.py` in parallel) in {:.0} s on the shared 2-core development \
         machine. Run: {} series ({}). Do not edit by hand.\n",
        if s.args.is_empty() { String::new() } else { format!(" {}", s.args) },
        seconds,
        reports.len(),
        if s.full { "all development series, `--full`" } else { "bounded default subset; `--full` for every development series" },
    );
    let _ = writeln!(md, "## Setup\n");
    let _ = writeln!(
        md,
        "- Engine parameters (every series): `{}`",
        serde_json::to_string(params).unwrap_or_default()
    );
    let _ = writeln!(
        md,
        "- Evaluation options: `{}`",
        serde_json::to_string(options).unwrap_or_default()
    );
    let _ = writeln!(
        md,
        "- Every test row is scored (the last W training rows give the first windows their context); \
         the faithful score is the engine's mean weighted forecast error (the variants: see Findings). Metrics are defined in \
         `crates/sonar-eval/src/metrics.rs`: VUS-PR with buffers 0..L = {} (11 steps), AUC-PR = average \
         precision, best F1 / event F1 / PA-F1 are the best over thresholds. PA-F1 is shown only with the \
         random score's PA-F1 in the same table: it flatters any detector.",
        options.vus_max_buffer
    );
    let _ = writeln!(
        md,
        "- Data (../shared/data): SMD and ASD `<series>_train` → `_test` with `_test_label`; SMAP/MSL channels likewise; \
         SKAB trains on `anomaly-free.csv` and tests each run (`anomaly` column); AIT-ADS: alert counts per 5-minute \
         bucket, one column per host × detector (W/S/A) plus the total, a bucket is anomalous when it holds an alert \
         of an attack phase, training = the first 60% of buckets cut before the first attack, test = the rest.\n"
    );
    let _ = writeln!(md, "## Per data set (mean over its series)\n");
    let header = |md: &mut String, first: &str| {
        let _ = write!(md, "| {first} | method |");
        for (c, _) in COLUMNS {
            let _ = write!(md, " {c} |");
        }
        let _ = writeln!(md);
        let _ = writeln!(md, "|---|---|{}", "---:|".repeat(COLUMNS.len()));
    };
    header(&mut md, "data set");
    for f in &families {
        let rs = by_family(f);
        for &m in &methods {
            if rs.iter().all(|r| r.method(m).is_none()) {
                continue;
            }
            let _ = write!(md, "| {f} ({} series) | {m} |", rs.len());
            for v in method_means(&rs, m) {
                let _ = write!(md, " {} |", fmt(v));
            }
            let _ = writeln!(md);
        }
    }
    let _ = writeln!(
        md,
        "\n## Averaged over data sets (mean of the per-data-set means)\n"
    );
    header(&mut md, "");
    // Only the methods measured on every data set.
    for &m in &methods {
        if families
            .iter()
            .any(|f| by_family(f).iter().all(|r| r.method(m).is_none()))
        {
            continue;
        }
        let _ = write!(md, "| all | {m} |");
        for (i, _) in COLUMNS.iter().enumerate() {
            let v = mean(families.iter().map(|f| method_means(&by_family(f), m)[i]));
            let _ = write!(md, " {} |", fmt(v));
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md, "\n## Targets (issue 8)\n");
    let _ = writeln!(
        md,
        "Ours = the faithful score (`{}`) and the improved one (`{improved}`, chosen as the best \
         switch combination on this report). The reference is compared on the series it was run on only.\n",
        eval::ENGINE
    );
    let verdict = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if a >= b => "met",
        (Some(_), Some(_)) => "MISSED",
        _ => "not measured",
    };
    let vus = |rs: &[&EvalReport], m: &str| method_means(rs, m)[0];
    for f in &families {
        let rs = by_family(f);
        let (ours, best, pca) = (
            vus(&rs, eval::ENGINE),
            vus(&rs, improved),
            vus(&rs, eval::PCA),
        );
        let _ = write!(
            md,
            "- {f}: VUS-PR faithful {} / improved {} vs PCA {}: {} / {}",
            fmt(ours),
            fmt(best),
            fmt(pca),
            verdict(ours, pca),
            verdict(best, pca)
        );
        let with_ref: Vec<&EvalReport> = rs
            .iter()
            .copied()
            .filter(|r| r.method(REFERENCE).is_some())
            .collect();
        if with_ref.is_empty() {
            let _ = writeln!(md, "; reference not run on this family.");
        } else {
            let (o, b, r) = (
                vus(&with_ref, eval::ENGINE),
                vus(&with_ref, improved),
                vus(&with_ref, REFERENCE),
            );
            let _ = writeln!(
                md,
                "; on the {} of {} series with the reference: faithful {} / improved {} vs reference {}: {} / {}",
                with_ref.len(),
                rs.len(),
                fmt(o),
                fmt(b),
                fmt(r),
                verdict(o, r),
                verdict(b, r)
            );
        }
    }
    if families.contains(&"SMD") {
        let rs = by_family("SMD");
        let (ours, best) = (vus(&rs, eval::ENGINE), vus(&rs, improved));
        let at_least = |v: Option<f64>| {
            if v.is_some_and(|v| v >= 0.36) {
                "met"
            } else {
                "MISSED"
            }
        };
        let _ = writeln!(
            md,
            "- SMD VUS-PR ≥ 0.36: faithful {} ({}), improved {} ({})",
            fmt(ours),
            at_least(ours),
            fmt(best),
            at_least(best)
        );
    }
    let _ = writeln!(md, "\n## Per series (VUS-PR)\n");
    let shown = [eval::ENGINE, improved, REFERENCE, eval::PCA, eval::RANDOM];
    let _ = writeln!(
        md,
        "| series | train rows | test rows | anomalous | events | features | {} | training (faithful; longer) | PCA | seconds (faithful; longer) |",
        shown.join(" | ")
    );
    let _ = writeln!(
        md,
        "|---|---:|---:|---:|---:|---:|{}---|---|---:|",
        "---:|".repeat(shown.len())
    );
    for (_, r) in reports {
        let detail = |m: &str| r.method(m).map_or("–".to_string(), |x| x.detail.clone());
        let seconds = |m: &str| {
            r.method(m)
                .map_or("–".to_string(), |x| format!("{:.0}", x.seconds))
        };
        let _ = write!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            r.name, r.train_rows, r.test_rows, r.anomalous_rows, r.events, r.features
        );
        for m in shown {
            let _ = write!(md, " {} |", fmt(r.method(m).and_then(|x| x.metrics.vus_pr)));
        }
        let _ = writeln!(
            md,
            " {}; {} | {} | {}; {} |",
            detail(eval::ENGINE),
            detail(improved),
            detail(eval::PCA),
            seconds(eval::ENGINE),
            seconds(improved)
        );
    }
    let _ = writeln!(md, "\n## Findings\n");
    let auc = |f: &str, m: &str| method_means(&by_family(f), m)[2];
    let low: Vec<String> = families
        .iter()
        .filter(|f| auc(f, eval::ENGINE).is_some_and(|a| a < 0.5))
        .map(|f| {
            format!(
                "{f} {} → {} trained longer (reference {})",
                fmt(auc(f, eval::ENGINE)),
                fmt(auc(f, &format!("{} {LONGER}", eval::ENGINE))),
                fmt(auc(f, REFERENCE))
            )
        })
        .collect();
    let std_auc: Vec<String> = families
        .iter()
        .filter(|f| auc(f, eval::ENGINE).is_some_and(|a| a < 0.5))
        .map(|f| format!("{f} {}", fmt(auc(f, STANDARDISED))))
        .collect();
    let _ = writeln!(
        md,
        "- **AUC-ROC below 0.5 comes from the faithful score's saturation, and from under-training; not from \
         misalignment.** Faithful AUC-ROC below 0.5 here: {}. Checked and ruled out: the metric code (AUC-ROC and AP \
         equal scikit-learn's on a case with ties, and mirror when the score is negated: `metrics::tests`), the \
         alignment (a spike at test row 37 gives the first maximal score at row 37 exactly: \
         `sonar_eval::tests::a_test_row_gets_the_score_of_the_window_that_forecasts_it`), labels (the files have one label \
         per test row, checked on load). The Python reference, scored by its own `inference` on the same rows, is \
         below 0.5 on the same series. The faithful error saturates at half a variable's training range, and a \
         variable constant in training (most of SMAP/MSL's binary command columns: 54 of MSL's 55 columns are \
         commands) saturates at its first switch; those columns switch less during the labelled anomalies than \
         outside them (MSL D-14: 0.25 vs 0.86 switches per row), so anomalous rows score lower. Standardised errors \
         (each variable's error over its held-out RMS error, constant columns at unit scale) remove that cause: \
         AUC-ROC of `{STANDARDISED}` on the same families: {} (AIT-ADS's alert counts have no constant columns \
         and stay below 0.5 until smoothed or trained longer). Under-training adds to it: with the reference's parameters \
         (`interval` 10, batch 128) a series of a few thousand rows gives 1–5 optimizer steps per epoch, so 15 \
         epochs are 15–75 steps: {} of the {} faithful runs have their best validation loss at the last epoch. \
         Training longer lifts the faithful AUC-ROC on MSL and AIT-ADS but lowers SMAP's and MSL's standardised \
         VUS-PR, so the improved method keeps 15 epochs. A forecaster is also blind inside a long level \
         shift once its W = 100-row window lies wholly in it; PCA (absolute deviation) is not.",
        if low.is_empty() { "none".to_string() } else { low.join("; ") },
        if std_auc.is_empty() { "–".to_string() } else { std_auc.join("; ") },
        reports
            .iter()
            .filter(|(_, r)| r.training.as_ref().is_some_and(|t| t.best_epoch == t.epochs_run))
            .count(),
        reports.len()
    );
    let _ = writeln!(
        md,
        "- Switches (the engine's `scoring` parameter, docs/mvad.md; all from the same trained model unless \
         \"trained longer\"): `+std` measures each variable's error in its own units over its RMS error on held-out \
         training rows, squared (the faithful error saturates); `+recon` adds the VAE reconstruction error with \
         γ = 1 (`recon/2`: γ = 0.5; MTAD-GAT's blend); `+smooth` is a trailing mean over {SMOOTH_ROWS} rows; \
         \"trained longer\" re-trains with `{}`; \"(host counts)\" (AIT-ADS) uses one column per host instead of \
         per host × detector. Compare them in the per-data-set table. The improved method was chosen on these same \
         series; docs/quality_experiments.md checks it on development series outside this subset.",
        s.longer.as_deref().unwrap_or("(not run)")
    );
    let _ = writeln!(md, "\n## Missing and caveats\n");
    let _ = writeln!(
        md,
        "- The reference runs with the same parameters (its own training rules: no early stopping, the \
         partial last batch dropped, so a series with fewer than 128 training windows is not trained at all), \
         on the series the time budget of `scripts/quality_report.sh` allowed (round-robin over families)."
    );
    let _ = writeln!(
        md,
        "- Threshold calibration is not measured: every figure here is threshold-free or the best over \
         thresholds, so a calibration rule changes none of them; measuring one needs F1 at the deployed threshold."
    );
    if !s.full {
        let _ = writeln!(
            md,
            "- This is the bounded run: {} epochs (faithful), at most {} training rows per series, a subset of series.",
            params.epochs,
            options.max_train_rows.map_or("all".to_string(), |n| n.to_string())
        );
    }
    if !failures.is_empty() {
        let _ = writeln!(md, "\n## Failed series\n");
        for f in failures {
            let _ = writeln!(md, "- {f}");
        }
    }
    md
}
