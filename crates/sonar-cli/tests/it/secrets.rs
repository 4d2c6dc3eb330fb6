//! The indexer password leaves the process only in the `Authorization` header: the real
//! `sonar` binary is run with a distinctive password (from the environment, from
//! `wazuh.password_file`, wrong, or aimed at a closed port) and every output is searched for
//! it and for its base64 form: stdout, stderr (at trace level), and every file the run wrote
//! (models, metadata, JSONL anomalies, payload dumps).
//!
//! The server here is a protocol fake (a loopback `TcpListener` answering `GET /` and
//! `GET /_cluster/health` like OpenSearch, 401 unless the basic-auth header matches), because
//! this crate's tests have no nginx; the same checks through a real nginx + osmem-server are
//! in `crates/sonar/tests/it/tls.rs`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use crate::{repo, text};

const USER: &str = "sonar-cli-test";
const PASSWORD: &str = "cli-Secret-pw-5b1e07";
/// base64("sonar-cli-test:cli-Secret-pw-5b1e07"), the basic-auth credentials on the wire.
const BASIC: &str = "c29uYXItY2xpLXRlc3Q6Y2xpLVNlY3JldC1wdy01YjFlMDc=";
const WRONG_PASSWORD: &str = "cli-Wrong-pw-d41c";

/// Answers the connection check's two GETs; records each `Authorization` header it saw.
struct CheckFake {
    url: String,
    authorizations: Arc<Mutex<Vec<String>>>,
}

impl CheckFake {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let authorizations = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&authorizations);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                answer(stream, &seen);
            }
        });
        Self {
            url,
            authorizations,
        }
    }

    fn authorizations(&self) -> Vec<String> {
        self.authorizations.lock().expect("lock").clone()
    }
}

/// Reads one bodiless request and answers it, then closes the connection.
fn answer(stream: TcpStream, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    // The check's TCP step connects and closes without a request: nothing to record.
    if reader.read_line(&mut request_line).is_err() || request_line.is_empty() {
        return;
    }
    let mut authorization = String::new();
    for line in reader.lines() {
        let Ok(line) = line else { return };
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                authorization = value.trim().to_owned();
            }
        }
    }
    seen.lock().expect("lock").push(authorization.clone());
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = if authorization != format!("Basic {BASIC}") {
        (
            "401 Unauthorized",
            r#"{"error":{"type":"security_exception","reason":"Unauthorized"},"status":401}"#,
        )
    } else if path == "/_cluster/health" {
        ("200 OK", r#"{"cluster_name":"fake","status":"green"}"#)
    } else {
        (
            "200 OK",
            r#"{"cluster_name":"fake","version":{"number":"2.19.0"}}"#,
        )
    };
    let _ = write!(
        &stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Runs `sonar` in `dir` with only the given `SONAR_WAZUH_PASSWORD` (if any).
fn sonar(dir: &Path, args: &[&str], env_password: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sonar"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("SONAR_WAZUH_PASSWORD")
        .env_remove("SONAR_WAZUH_URL")
        .env_remove("SONAR_WAZUH_USERNAME");
    if let Some(password) = env_password {
        command.env("SONAR_WAZUH_PASSWORD", password);
    }
    command.output().expect("sonar runs")
}

/// Panics if any secret appears in `haystack` (described by `what`).
fn assert_no_secret(what: &str, haystack: &str) {
    for secret in [PASSWORD, BASIC, WRONG_PASSWORD] {
        assert!(
            !haystack.contains(secret),
            "secret `{secret}` leaked into {what}:\n{haystack}"
        );
    }
}

/// Every regular file under `dir` except `skip` (the password file itself), recursively.
fn files_under(dir: &Path, skip: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path, skip));
        } else if path != skip {
            files.push(path);
        }
    }
    files
}

/// A config aimed at `url` as [`USER`], the password read from `pw.txt` next to it.
fn write_config(dir: &Path, url: &str) -> (String, PathBuf) {
    let password_file = dir.join("pw.txt");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("write password file");
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "wazuh:\n  base_url: \"{url}\"\n  username: \"{USER}\"\n  password_file: \"pw.txt\"\n  \
             max_retries: 1\n  connect_timeout_seconds: 2\nmodel_path: \"{}\"\n",
            dir.join("models/mvad_model").display()
        ),
    )
    .expect("write config");
    (config.display().to_string(), password_file)
}

#[test]
fn check_sends_the_password_only_in_the_authorization_header() {
    let fake = CheckFake::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let (config, _) = write_config(dir.path(), &fake.url);
    let check = ["check", "--config", &config, "--log-level", "trace"];

    // From the password file, then from the environment (which wins over the file).
    for env in [None, Some(PASSWORD)] {
        let out = sonar(dir.path(), &check, env);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(text(&out).contains("✓ connected"), "{}", text(&out));
        assert_no_secret("`sonar check` output", &text(&out));
    }
    assert!(
        fake.authorizations()
            .iter()
            .all(|a| a == &format!("Basic {BASIC}")),
        "the password was not the one sent: {:?}",
        fake.authorizations()
    );

    let out = sonar(dir.path(), &check, Some(WRONG_PASSWORD));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("authentication step") && stderr.contains(USER),
        "{}",
        text(&out)
    );
    assert_no_secret("a failed check's output", &text(&out));
}

#[test]
fn an_unreachable_indexer_error_holds_no_password() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let dir = tempfile::tempdir().expect("temp dir");
    let (config, _) = write_config(dir.path(), &format!("http://127.0.0.1:{port}"));
    let out = sonar(
        dir.path(),
        &["check", "--config", &config, "--log-level", "trace"],
        Some(PASSWORD),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("TCP connect"), "{}", text(&out));
    assert_no_secret("an unreachable check's output", &text(&out));
}

#[test]
fn a_whole_debug_run_writes_the_password_nowhere() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (config, password_file) = write_config(dir.path(), "https://127.0.0.1:9");
    let scenario = repo().join("scenarios/brute_force_detection.yaml");
    let payloads = dir.path().join("payloads");
    let scenario = scenario.to_str().expect("utf-8");
    let mut args = vec!["scenario", "--use-case", scenario, "--debug"];
    args.extend(["--mode", "batch", "--config", &config, "--print-payloads"]);
    args.extend(["--payload-dir", payloads.to_str().expect("utf-8")]);
    args.extend(["--log-level", "debug"]);
    let out = sonar(dir.path(), &args, Some(PASSWORD));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_no_secret("a debug run's stdout/stderr", &text(&out));
    let files = files_under(dir.path(), &password_file);
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    assert!(
        names.iter().any(|n| n.ends_with(".safetensors"))
            && names.iter().any(|n| n.ends_with(".jsonl")),
        "expected model and anomaly files: {names:?}"
    );
    for file in &files {
        let bytes = std::fs::read(file).expect("read output file");
        assert_no_secret(
            &file.display().to_string(),
            &String::from_utf8_lossy(&bytes),
        );
    }

    let out = sonar(dir.path(), &["validate", &config], Some(PASSWORD));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_no_secret("`sonar validate` output", &text(&out));
}
