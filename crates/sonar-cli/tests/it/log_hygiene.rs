//! What the binary prints when nobody is watching a terminal: no colour or progress control
//! codes in a redirected stderr (unless `--color always`), one warning per insecure
//! connection, config errors that name the file once, and help that offers only the flags a
//! command uses.

use super::{repo, sonar, text, write_config};

const ESC: u8 = 0x1b;

#[test]
fn a_redirected_stderr_gets_no_control_codes_unless_colour_is_forced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "mvad:\n  extra_params: {epochs: 1}\n");
    let scenario = repo().join("scenarios/example_scenario.yaml");
    let out = sonar(
        dir.path(),
        &[
            "train",
            "--debug",
            "--config",
            &config,
            "--scenario",
            scenario.to_str().expect("utf-8"),
            "--log-level",
            "debug",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("DEBUG"),
        "{}",
        text(&out)
    );
    assert!(!out.stderr.contains(&ESC), "{}", text(&out));

    // `check --debug` reads the demo files at their default place, relative to the repository.
    let out = sonar(
        &repo(),
        &["check", "--debug", "--config", &config, "--color", "always"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stderr.contains(&ESC), "{}", text(&out));
}

#[test]
fn plain_http_with_verification_off_is_one_warning_about_encryption() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(
        dir.path(),
        "wazuh:\n  base_url: \"http://127.0.0.1:9\"\n  verify_ssl: false\n  password: pw\n  \
         max_retries: 0\n  connect_timeout_seconds: 1\n",
    );
    let out = sonar(dir.path(), &["check", "--config", &config]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{}", text(&out));
    assert!(
        warnings[0].contains("connection to http://127.0.0.1:9/ is not encrypted (http)")
            && !warnings[0].contains("certificate"),
        "{}",
        text(&out)
    );
}

#[test]
fn validate_names_the_file_once_and_the_full_key_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("s1.yaml"),
        "name: x\ntraining:\n  bucket_minutes: 0\n",
    )
    .expect("write");
    let out = sonar(dir.path(), &["validate", "s1.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("invalid: s1.yaml: `training.bucket_minutes`: "),
        "{}",
        text(&out)
    );
    assert_eq!(stdout.matches("s1.yaml").count(), 1, "{}", text(&out));
}

#[test]
fn eval_help_offers_no_write_flags() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = sonar(dir.path(), &["eval", "--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--dry-run", "--print-payloads", "--payload-dir"] {
        assert!(!help.contains(flag), "eval --help offers {flag}:\n{help}");
    }
    let out = sonar(dir.path(), &["scenario", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--dry-run", "--print-payloads", "--payload-dir"] {
        assert!(help.contains(flag), "scenario --help lacks {flag}:\n{help}");
    }
}
