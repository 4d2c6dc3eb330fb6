//! nginx (the Debian package) in front of an osmem-server: it terminates TLS with certificates from
//! a test CA and checks HTTP basic auth, like the reverse proxy a Wazuh indexer often sits behind
//! (docs/reliability.md "TLS and authentication"). Everything lives in a temporary directory: the
//! CA and certificates (made with the `openssl` command line), the `htpasswd` file, nginx's config,
//! pid and temp paths. nginx runs unprivileged (no root needed) on free loopback ports, one port
//! per certificate, and is killed when the handle is dropped.
//!
//! When nginx or openssl is missing the tests that need them print why and return early, but
//! only outside CI: with `CI` set a missing tool fails the test, so CI cannot pass without
//! running them (scripts/test.sh installs nginx with apt-get).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The basic-auth user nginx accepts.
pub const USER: &str = "sonar-reader";

/// A program the TLS tests need, or `None` (after saying why) when it is absent outside CI.
fn tool(name: &str, env_var: &str, fallbacks: &[&str]) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os(env_var).filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(path));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join(name)));
    }
    candidates.extend(fallbacks.iter().map(PathBuf::from));
    if let Some(found) = candidates.into_iter().find(|p| p.is_file()) {
        return Some(found);
    }
    let why = format!(
        "`{name}` not found (looked at ${env_var}, PATH and {fallbacks:?}); scripts/test.sh \
         installs it with apt-get (Debian package `{name}`)"
    );
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{why}; CI is set, so the TLS tests may not be skipped");
    }
    eprintln!("SKIPPED (TLS/auth test through nginx): {why}");
    None
}

/// Runs a command to completion, panicking with its output when it fails.
fn run(program: &Path, args: &[&str], dir: &Path) {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} {args:?}: {e}", program.display()));
    assert!(
        output.status.success(),
        "{} {args:?} failed ({:?}):\n{}",
        program.display(),
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A test PKI in a temporary directory: one CA, a certificate for `localhost`/`127.0.0.1`
/// signed by it that is valid now, one that expired in 2020, and an unrelated second CA.
pub struct Pki {
    dir: tempfile::TempDir,
    openssl: PathBuf,
}

impl Pki {
    /// Generates the CAs and certificates, or `None` when openssl is absent outside CI.
    pub fn generate() -> Option<Self> {
        let openssl = tool("openssl", "SONAR_OPENSSL_BIN", &["/usr/bin/openssl"])?;
        let dir = tempfile::tempdir().expect("temp dir for the PKI");
        let pki = Self { dir, openssl };
        for (name, cn) in [("ca", "sonar-test-ca"), ("other-ca", "sonar-unrelated-ca")] {
            pki.openssl(&[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={cn}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
            ]);
        }
        pki.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        // `openssl ca` is the one openssl 3.0 command that can back-date a certificate.
        std::fs::write(
            pki.path("ca.cnf"),
            "[ca]\ndefault_ca = test_ca\n[test_ca]\ndatabase = index.txt\nnew_certs_dir = .\n\
             serial = serial\ndefault_md = sha256\npolicy = any\ncopy_extensions = copy\n\
             unique_subject = no\n[any]\ncommonName = supplied\n",
        )
        .expect("write ca.cnf");
        std::fs::write(pki.path("index.txt"), "").expect("write index.txt");
        std::fs::write(pki.path("serial"), "01\n").expect("write serial");
        let sign = |out: &str, validity: &[&str]| {
            let mut args = vec![
                "ca",
                "-batch",
                "-notext",
                "-config",
                "ca.cnf",
                "-cert",
                "ca.pem",
                "-keyfile",
                "ca.key",
                "-in",
                "server.csr",
                "-out",
                out,
            ];
            args.extend_from_slice(validity);
            pki.openssl(&args);
        };
        sign("server.pem", &["-days", "2"]);
        sign(
            "expired.pem",
            &[
                "-startdate",
                "20200101000000Z",
                "-enddate",
                "20200102000000Z",
            ],
        );
        Some(pki)
    }

    fn openssl(&self, args: &[&str]) {
        run(&self.openssl, args, self.dir.path());
    }

    /// A file of this PKI: `ca.pem`, `other-ca.pem`, `server.pem`, `expired.pem`, ...
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// An `htpasswd` line for `user` (apr1 hash, as `htpasswd -m` would write).
    fn htpasswd_line(&self, user: &str, password: &str) -> String {
        let output = Command::new(&self.openssl)
            .args(["passwd", "-apr1", "-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .expect("stdin is piped")
                    .write_all(password.as_bytes())?;
                child.wait_with_output()
            })
            .expect("openssl passwd");
        assert!(output.status.success(), "openssl passwd failed");
        format!("{user}:{}", String::from_utf8_lossy(&output.stdout).trim())
    }
}

/// One running nginx: TLS with the valid certificate on [`NginxProxy::url`], with the expired
/// one on [`NginxProxy::expired_url`], both proxying to the same upstream behind basic auth.
pub struct NginxProxy {
    child: Child,
    dir: tempfile::TempDir,
    /// `https://127.0.0.1:PORT` with the certificate signed by the test CA.
    pub url: String,
    /// `https://127.0.0.1:PORT` with the expired certificate.
    pub expired_url: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl NginxProxy {
    /// Starts nginx in front of `upstream` (`http://127.0.0.1:PORT`), accepting [`USER`] with
    /// `password`. `None` when nginx is absent outside CI.
    pub fn start(pki: &Pki, upstream: &str, password: &str) -> Option<Self> {
        let nginx = tool("nginx", "SONAR_NGINX_BIN", &["/usr/sbin/nginx"])?;
        // Two tries: a free port found here may be taken by another test before nginx binds it.
        let mut last = String::new();
        for _ in 0..2 {
            match Self::try_start(&nginx, pki, upstream, password) {
                Ok(proxy) => return Some(proxy),
                Err(e) => last = e,
            }
        }
        panic!("nginx did not start: {last}");
    }

    fn try_start(nginx: &Path, pki: &Pki, upstream: &str, password: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().expect("temp dir for nginx");
        let root = dir.path();
        std::fs::write(
            root.join("htpasswd"),
            pki.htpasswd_line(USER, password) + "\n",
        )
        .expect("write htpasswd");
        let (port, expired_port) = (free_port(), free_port());
        let server = |port: u16, cert: &str| {
            format!(
                "  server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_certificate {cert};\n    \
                 ssl_certificate_key {key};\n    auth_basic \"sonar test\";\n    \
                 auth_basic_user_file {htpasswd};\n    client_max_body_size 100m;\n    \
                 location / {{ proxy_pass {upstream}; proxy_http_version 1.1; \
                 proxy_set_header Connection \"\"; }}\n  }}\n",
                cert = pki.path(cert).display(),
                key = pki.path("server.key").display(),
                htpasswd = root.join("htpasswd").display(),
            )
        };
        let temp = |name: &str| format!("  {name}_temp_path {};\n", root.join(name).display());
        let config = format!(
            // One process, no master: killing the child leaves no orphaned worker behind.
            "master_process off;\ndaemon off;\npid {pid};\nerror_log stderr warn;\n\
             events {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n{temps}{valid}{expired}}}\n",
            pid = root.join("nginx.pid").display(),
            temps = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
                .map(temp)
                .concat(),
            valid = server(port, "server.pem"),
            expired = server(expired_port, "expired.pem"),
        );
        let config_path = root.join("nginx.conf");
        std::fs::write(&config_path, config).expect("write nginx.conf");
        let log = std::fs::File::create(root.join("stderr.log")).expect("nginx log file");
        let mut child = Command::new(nginx)
            .arg("-p")
            .arg(root)
            .arg("-c")
            .arg(&config_path)
            // Before reading its config nginx opens the compiled-in error log
            // (/var/log/nginx/error.log, root only); -e points that at stderr too.
            .args(["-e", "stderr"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {} ({e})", nginx.display()))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let up = [port, expired_port]
                .iter()
                .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok());
            if up {
                break;
            }
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = std::fs::read_to_string(root.join("stderr.log")).unwrap_or_default();
                return Err(format!("exit {exited:?}, stderr:\n{stderr}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self {
            child,
            dir,
            url: format!("https://127.0.0.1:{port}"),
            expired_url: format!("https://127.0.0.1:{expired_port}"),
        })
    }

    /// What nginx wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for NginxProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
