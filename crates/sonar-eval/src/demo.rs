//! The bundled demo data: Wazuh-shaped alerts from a small fleet (Linux and Windows agents)
//! with daily and weekly seasonality, and labelled attacks injected into the detection files.
//! Deterministic for a seed (ChaCha8), so `cargo run -p sonar-eval --example gen_demo_data`
//! reproduces the committed `demo/` byte for byte.
//!
//! Files: `security_training.ndjson` (7 days of normal activity), `security_detection.ndjson`
//! (2 days with brute force, lateral movement, privilege escalation and a password spray),
//! `resource_training.ndjson` (36 h of Linux health checks) and `resource_detection.ndjson`
//! (12 h with a CPU spike and a memory leak).

use chrono::{DateTime, Datelike, TimeDelta, TimeZone, Timelike, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{json, Value};

use sonar::source::Alert;
use sonar::synthetic::wazuh_timestamp;

/// Seed of the committed demo data.
pub const DEMO_SEED: u64 = 20240501;

/// One generated file.
#[derive(Debug, Clone)]
pub struct DemoFile {
    /// File name inside `demo/`.
    pub name: &'static str,
    /// Alerts in time order.
    pub alerts: Vec<Alert>,
}

/// One injected attack, as written to `demo/labels.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackLabel {
    /// Short name (`brute_force`, `lateral_movement`, …).
    pub name: &'static str,
    /// File that contains it.
    pub file: &'static str,
    /// Bundled scenario that is meant to flag it.
    pub scenario: &'static str,
    /// First alert of the attack (Wazuh format).
    pub start: String,
    /// End of the attack (Wazuh format).
    pub end: String,
    /// Agent names involved.
    pub hosts: Vec<&'static str>,
    /// Attacker address, where there is one.
    pub srcip: Option<&'static str>,
    /// Alerts the attack added.
    pub alerts: usize,
    /// What happens.
    pub description: &'static str,
}

/// All demo files and their labels.
#[derive(Debug, Clone)]
pub struct DemoData {
    /// The files.
    pub files: Vec<DemoFile>,
    /// The attacks.
    pub labels: Vec<AttackLabel>,
}

#[derive(Clone, Copy)]
struct Agent {
    id: &'static str,
    name: &'static str,
    ip: &'static str,
    windows: bool,
}

const AGENTS: &[Agent] = &[
    Agent {
        id: "001",
        name: "web-01",
        ip: "10.0.1.10",
        windows: false,
    },
    Agent {
        id: "002",
        name: "db-01",
        ip: "10.0.1.20",
        windows: false,
    },
    Agent {
        id: "003",
        name: "app-01",
        ip: "10.0.1.30",
        windows: false,
    },
    Agent {
        id: "004",
        name: "bastion-01",
        ip: "10.0.1.5",
        windows: false,
    },
    Agent {
        id: "005",
        name: "dc-01",
        ip: "10.0.2.10",
        windows: true,
    },
    Agent {
        id: "006",
        name: "ws-01",
        ip: "10.0.2.21",
        windows: true,
    },
    Agent {
        id: "007",
        name: "ws-02",
        ip: "10.0.2.22",
        windows: true,
    },
    Agent {
        id: "008",
        name: "fs-01",
        ip: "10.0.2.30",
        windows: true,
    },
];

const LINUX_USERS: &[&str] = &["alice", "bob", "carol", "deploy", "backup"];
const WINDOWS_USERS: &[&str] = &["alice", "bob", "carol", "dave", "erin", "svc_backup"];
const ADMIN_IPS: &[&str] = &["10.0.3.15", "10.0.3.16", "10.0.3.17", "10.0.3.40"];

fn agent(name: &str) -> Agent {
    AGENTS
        .iter()
        .copied()
        .find(|a| a.name == name)
        .unwrap_or(AGENTS[0])
}

fn linux_agents() -> impl Iterator<Item = Agent> {
    AGENTS.iter().copied().filter(|a| !a.windows)
}

fn windows_agents() -> impl Iterator<Item = Agent> {
    AGENTS.iter().copied().filter(|a| a.windows)
}

/// A Wazuh rule as it appears in an alert.
struct Rule {
    id: &'static str,
    level: u8,
    description: &'static str,
    groups: &'static [&'static str],
}

const SSHD_SUCCESS: Rule = Rule {
    id: "5715",
    level: 3,
    description: "sshd: authentication success.",
    groups: &["syslog", "sshd", "authentication_success"],
};
const SSHD_FAILED: Rule = Rule {
    id: "5760",
    level: 5,
    description: "sshd: authentication failed.",
    groups: &["syslog", "sshd", "authentication_failed"],
};
const SSHD_INVALID_USER: Rule = Rule {
    id: "5710",
    level: 5,
    description: "sshd: Attempt to login using a non-existent user",
    groups: &["syslog", "sshd", "invalid_login", "authentication_failed"],
};
const SSHD_BRUTE_FORCE: Rule = Rule {
    id: "5763",
    level: 10,
    description: "sshd: brute force trying to get access to the system. Authentication failed.",
    groups: &["syslog", "sshd", "authentication_failures"],
};
const PAM_OPENED: Rule = Rule {
    id: "5501",
    level: 3,
    description: "PAM: Login session opened.",
    groups: &["pam", "syslog", "authentication_success"],
};
const PAM_CLOSED: Rule = Rule {
    id: "5502",
    level: 3,
    description: "PAM: Login session closed.",
    groups: &["pam", "syslog"],
};
const SUDO_ROOT: Rule = Rule {
    id: "5402",
    level: 3,
    description: "Successful sudo to ROOT executed.",
    groups: &["syslog", "sudo"],
};
const SUDO_FIRST_TIME: Rule = Rule {
    id: "5403",
    level: 4,
    description: "First time user executed sudo.",
    groups: &["syslog", "sudo"],
};
const SUDO_FAILED: Rule = Rule {
    id: "5401",
    level: 5,
    description: "User missed the password to change UID to root.",
    groups: &["syslog", "sudo", "authentication_failed"],
};
const SUDO_THREE_FAILED: Rule = Rule {
    id: "5404",
    level: 10,
    description: "Three failed attempts to run sudo",
    groups: &["syslog", "sudo", "privilege_escalation"],
};
const USER_ADDED: Rule = Rule {
    id: "5902",
    level: 8,
    description: "New user added to the system.",
    groups: &["syslog", "adduser", "account_changed"],
};
const USER_TO_ADMIN: Rule = Rule {
    id: "5905",
    level: 12,
    description: "User added to a privileged group (sudo).",
    groups: &[
        "syslog",
        "adduser",
        "account_changed",
        "privilege_escalation",
    ],
};
const SYSCHECK_MODIFIED: Rule = Rule {
    id: "550",
    level: 7,
    description: "Integrity checksum changed.",
    groups: &[
        "ossec",
        "syscheck",
        "syscheck_entry_modified",
        "syscheck_file",
    ],
};
const SYSCHECK_ADDED: Rule = Rule {
    id: "554",
    level: 5,
    description: "File added to the system.",
    groups: &["ossec", "syscheck", "syscheck_entry_added", "syscheck_file"],
};
const WIN_LOGON: Rule = Rule {
    id: "60106",
    level: 3,
    description: "Windows Logon Success",
    groups: &["windows", "windows_security", "authentication_success"],
};
const WIN_LOGOFF: Rule = Rule {
    id: "60137",
    level: 3,
    description: "Windows User Logoff",
    groups: &["windows", "windows_security"],
};
const WIN_LOGON_FAILED: Rule = Rule {
    id: "60122",
    level: 5,
    description: "Logon Failure - Unknown user or bad password",
    groups: &[
        "windows",
        "windows_security",
        "win_authentication_failed",
        "authentication_failed",
    ],
};
const WIN_MULTIPLE_FAILED: Rule = Rule {
    id: "60204",
    level: 10,
    description: "Multiple Windows Logon Failures",
    groups: &["windows", "windows_security", "authentication_failures"],
};
const WIN_SPECIAL_PRIVS: Rule = Rule {
    id: "60110",
    level: 8,
    description: "Special privileges assigned to new logon with an administrative account",
    groups: &["windows", "windows_security", "privilege_escalation"],
};
const HEALTH_CHECK: Rule = Rule {
    id: "100054",
    level: 3,
    description: "General health check: CPU, memory and disk usage",
    groups: &["performance_metric", "general_health_check"],
};
const LOAD_CHECK: Rule = Rule {
    id: "100058",
    level: 3,
    description: "Load average check",
    groups: &["performance_metric", "load_average_check"],
};
const CPU_HIGH: Rule = Rule {
    id: "100055",
    level: 10,
    description: "High CPU usage (above 80%)",
    groups: &["performance_metric", "high_cpu"],
};
const MEMORY_HIGH: Rule = Rule {
    id: "100056",
    level: 10,
    description: "High memory usage (above 80%)",
    groups: &["performance_metric", "high_memory"],
};

/// Collects alerts and numbers them like a Wazuh manager does (`<epoch>.<offset>`).
struct Emitter {
    rng: ChaCha8Rng,
    alerts: Vec<Alert>,
    serial: u64,
}

impl Emitter {
    fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            alerts: Vec::new(),
            serial: 0,
        }
    }

    // One argument per alert field keeps each call readable as the alert it makes.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        at: DateTime<Utc>,
        rule: &Rule,
        agent: Agent,
        decoder: &str,
        location: &str,
        data: Value,
        full_log: String,
    ) {
        self.serial += 1;
        let mut alert = Alert::new();
        alert.insert("timestamp".into(), Value::String(wazuh_timestamp(at)));
        alert.insert("rule".into(), json!({"id": rule.id, "level": rule.level, "description": rule.description, "groups": rule.groups}));
        alert.insert(
            "agent".into(),
            json!({"id": agent.id, "name": agent.name, "ip": agent.ip}),
        );
        alert.insert("manager".into(), json!({"name": "wazuh-manager"}));
        alert.insert(
            "id".into(),
            Value::String(format!(
                "{}.{}",
                at.timestamp(),
                self.serial * 311 % 1_000_000
            )),
        );
        alert.insert("decoder".into(), json!({"name": decoder}));
        alert.insert("location".into(), Value::String(location.into()));
        if !data.as_object().is_some_and(|d| d.is_empty()) {
            alert.insert("data".into(), data);
        }
        alert.insert("full_log".into(), Value::String(full_log));
        self.alerts.push(alert);
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.gen_range(0..items.len())]
    }

    /// A random instant inside the minute starting at `minute`.
    fn within(&mut self, minute: DateTime<Utc>) -> DateTime<Utc> {
        minute + TimeDelta::milliseconds(self.rng.gen_range(0..60_000))
    }

    fn poisson(&mut self, lambda: f64) -> u32 {
        // Knuth's method; lambda is small (< 5) here.
        let limit = (-lambda).exp();
        let mut k = 0;
        let mut p: f64 = self.rng.gen();
        while p > limit {
            k += 1;
            p *= self.rng.gen::<f64>();
        }
        k
    }

    fn finish(mut self) -> Vec<Alert> {
        let key = |a: &Alert| {
            a.get("timestamp")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        self.alerts.sort_by_cached_key(key);
        self.alerts
    }

    // ---- event builders --------------------------------------------------------------

    fn ssh_login(&mut self, at: DateTime<Utc>, host: Agent, user: &str, srcip: &str) {
        let port = self.rng.gen_range(40_000..65_000);
        let log = format!(
            "{} {} sshd[{}]: Accepted publickey for {user} from {srcip} port {port} ssh2",
            syslog_time(at),
            host.name,
            self.rng.gen_range(1000..60_000)
        );
        self.emit(
            at,
            &SSHD_SUCCESS,
            host,
            "sshd",
            "/var/log/auth.log",
            json!({"srcip": srcip, "srcport": port.to_string(), "dstuser": user}),
            log,
        );
        let log = format!(
            "{} {} sshd[{}]: pam_unix(sshd:session): session opened for user {user}",
            syslog_time(at),
            host.name,
            self.rng.gen_range(1000..60_000)
        );
        self.emit(
            at + TimeDelta::milliseconds(40),
            &PAM_OPENED,
            host,
            "pam",
            "/var/log/auth.log",
            json!({"dstuser": user}),
            log,
        );
    }

    fn ssh_failure(
        &mut self,
        at: DateTime<Utc>,
        host: Agent,
        user: &str,
        srcip: &str,
        invalid_user: bool,
    ) {
        let port = self.rng.gen_range(40_000..65_000);
        let (rule, log) = if invalid_user {
            (
                &SSHD_INVALID_USER,
                format!(
                    "{} {} sshd[{}]: Invalid user {user} from {srcip} port {port}",
                    syslog_time(at),
                    host.name,
                    self.rng.gen_range(1000..60_000)
                ),
            )
        } else {
            (
                &SSHD_FAILED,
                format!(
                    "{} {} sshd[{}]: Failed password for {user} from {srcip} port {port} ssh2",
                    syslog_time(at),
                    host.name,
                    self.rng.gen_range(1000..60_000)
                ),
            )
        };
        self.emit(
            at,
            rule,
            host,
            "sshd",
            "/var/log/auth.log",
            json!({"srcip": srcip, "srcport": port.to_string(), "dstuser": user}),
            log,
        );
    }

    fn sudo(&mut self, at: DateTime<Utc>, host: Agent, user: &str, command: &str, rule: &Rule) {
        let log = format!(
            "{} {} sudo: {user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND={command}",
            syslog_time(at),
            host.name
        );
        self.emit(
            at,
            rule,
            host,
            "sudo",
            "/var/log/auth.log",
            json!({"srcuser": user, "dstuser": "root", "command": command}),
            log,
        );
    }

    // One argument per alert field keeps each call readable as the alert it makes.
    #[allow(clippy::too_many_arguments)]
    fn windows(
        &mut self,
        at: DateTime<Utc>,
        host: Agent,
        rule: &Rule,
        event_id: &str,
        user: &str,
        ip: &str,
        logon_type: &str,
    ) {
        let data = json!({"win": {
            "system": {"eventID": event_id, "channel": "Security", "computer": format!("{}.corp.local", host.name), "providerName": "Microsoft-Windows-Security-Auditing"},
            "eventdata": {"targetUserName": user, "targetDomainName": "CORP", "ipAddress": ip, "logonType": logon_type},
        }});
        let log = format!(
            "An account event {event_id} for CORP\\{user} from {ip} (logon type {logon_type})"
        );
        self.emit(
            at,
            rule,
            host,
            "windows_eventchannel",
            "EventChannel",
            data,
            log,
        );
    }

    fn syscheck(&mut self, at: DateTime<Utc>, host: Agent, rule: &Rule, path: &str) {
        let log = format!("File '{path}' checksum changed.");
        self.emit(
            at,
            rule,
            host,
            "syscheck_integrity_changed",
            "syscheck",
            json!({}),
            log,
        );
        if let Some(last) = self.alerts.last_mut() {
            last.insert(
                "syscheck".into(),
                json!({"path": path, "event": if rule.id == "554" { "added" } else { "modified" }}),
            );
        }
    }
}

fn syslog_time(at: DateTime<Utc>) -> String {
    at.format("%b %e %H:%M:%S").to_string()
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Office-hours activity: 1.0 in working hours, 0.5 at the edges, 0.12 at night, weekends × 0.35.
fn activity(t: DateTime<Utc>) -> f64 {
    let hour = t.hour();
    let daily = match hour {
        8..=17 => 1.0,
        7 | 18..=20 => 0.5,
        _ => 0.12,
    };
    let weekend = matches!(t.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
    daily * if weekend { 0.35 } else { 1.0 }
}

/// Normal security activity of the whole fleet, minute by minute, over `[start, end)`.
fn security_baseline(e: &mut Emitter, start: DateTime<Utc>, end: DateTime<Utc>) {
    let linux: Vec<Agent> = linux_agents().collect();
    let windows: Vec<Agent> = windows_agents().collect();
    let mut minute = start;
    while minute < end {
        let a = activity(minute);
        for _ in 0..e.poisson(0.07 * a) {
            let host = linux[e.rng.gen_range(0..linux.len())];
            let (user, ip) = (e.pick(LINUX_USERS), e.pick(ADMIN_IPS));
            let at = e.within(minute);
            e.ssh_login(at, host, user, ip);
        }
        for _ in 0..e.poisson(0.05 * a) {
            let host = linux[e.rng.gen_range(0..linux.len())];
            let user = e.pick(LINUX_USERS);
            let at = e.within(minute);
            let log = format!(
                "{} {} sshd: pam_unix(sshd:session): session closed for user {user}",
                syslog_time(at),
                host.name
            );
            e.emit(
                at,
                &PAM_CLOSED,
                host,
                "pam",
                "/var/log/auth.log",
                json!({"dstuser": user}),
                log,
            );
        }
        for _ in 0..e.poisson(0.004 + 0.01 * a) {
            let host = linux[e.rng.gen_range(0..linux.len())];
            let (user, ip) = (e.pick(LINUX_USERS), e.pick(ADMIN_IPS));
            let at = e.within(minute);
            e.ssh_failure(at, host, user, ip, false);
        }
        for _ in 0..e.poisson(0.04 * a) {
            let host = linux[e.rng.gen_range(0..linux.len())];
            let user = e.pick(&["alice", "bob", "deploy"]);
            let command = e.pick(&[
                "/usr/bin/systemctl restart nginx",
                "/usr/bin/apt-get update",
                "/usr/bin/journalctl -u app",
                "/usr/bin/docker ps",
            ]);
            let at = e.within(minute);
            e.sudo(at, host, user, command, &SUDO_ROOT);
        }
        // Interactive and network logons follow office hours; service logons do not.
        for _ in 0..e.poisson(0.14 * a) {
            let host = windows[e.rng.gen_range(0..windows.len())];
            let (user, ip) = (e.pick(WINDOWS_USERS), e.pick(ADMIN_IPS));
            let kind = e.pick(&["2", "3", "3", "10"]);
            let at = e.within(minute);
            e.windows(at, host, &WIN_LOGON, "4624", user, ip, kind);
        }
        for _ in 0..e.poisson(0.07 * a) {
            let host = windows[e.rng.gen_range(0..windows.len())];
            let (user, ip) = (e.pick(WINDOWS_USERS), e.pick(ADMIN_IPS));
            let at = e.within(minute);
            e.windows(at, host, &WIN_LOGOFF, "4634", user, ip, "3");
        }
        for _ in 0..e.poisson(0.003 + 0.012 * a) {
            let host = windows[e.rng.gen_range(0..windows.len())];
            let (user, ip) = (e.pick(WINDOWS_USERS), e.pick(ADMIN_IPS));
            let at = e.within(minute);
            e.windows(at, host, &WIN_LOGON_FAILED, "4625", user, ip, "3");
        }
        for _ in 0..e.poisson(0.06) {
            let host = windows[e.rng.gen_range(0..windows.len())];
            let at = e.within(minute);
            e.windows(at, host, &WIN_LOGON, "4624", "SYSTEM", "-", "5");
        }
        // The nightly package/cron run at 03:10 touches a few watched files on every Linux host.
        if minute.hour() == 3 && minute.minute() == 10 {
            for host in linux.clone() {
                for _ in 0..e.rng.gen_range(2..5) {
                    let path = e.pick(&[
                        "/etc/ld.so.cache",
                        "/var/lib/dpkg/status",
                        "/etc/apt/trusted.gpg",
                        "/usr/bin/python3.11",
                    ]);
                    let at = minute + TimeDelta::seconds(e.rng.gen_range(0..600));
                    e.syscheck(at, host, &SYSCHECK_MODIFIED, path);
                }
            }
        }
        minute += TimeDelta::minutes(1);
    }
}

fn fmt(t: DateTime<Utc>) -> String {
    wazuh_timestamp(t)
}

/// The attacks of `security_detection.ndjson`. `day0` is the file's first midnight.
fn security_attacks(e: &mut Emitter, day0: DateTime<Utc>) -> Vec<AttackLabel> {
    const FILE: &str = "security_detection.ndjson";
    let mut labels = Vec::new();

    // Lateral movement, late evening of day 0: a stolen deploy key used from web-01 to hop across hosts.
    let before = e.alerts.len();
    let origin = agent("web-01");
    let hops = [
        ("db-01", 10),
        ("app-01", 24),
        ("bastion-01", 38),
        ("fs-01", 52),
        ("dc-01", 66),
    ];
    let start = day0 + TimeDelta::hours(22) + TimeDelta::minutes(10);
    let mut end = start;
    for (name, offset) in hops {
        let host = agent(name);
        let mut at = day0 + TimeDelta::hours(22) + TimeDelta::minutes(offset);
        let failures = e.rng.gen_range(1..=3);
        for _ in 0..failures {
            if host.windows {
                e.windows(
                    at,
                    host,
                    &WIN_LOGON_FAILED,
                    "4625",
                    "deploy",
                    origin.ip,
                    "3",
                );
            } else {
                e.ssh_failure(at, host, "deploy", origin.ip, false);
            }
            at += TimeDelta::seconds(e.rng.gen_range(5..20));
        }
        if host.windows {
            e.windows(at, host, &WIN_LOGON, "4624", "deploy", origin.ip, "3");
            e.windows(
                at + TimeDelta::seconds(1),
                host,
                &WIN_SPECIAL_PRIVS,
                "4672",
                "deploy",
                origin.ip,
                "3",
            );
            for _ in 0..3 {
                at += TimeDelta::seconds(e.rng.gen_range(20..90));
                e.windows(at, host, &WIN_LOGON, "4624", "deploy", origin.ip, "3");
            }
        } else {
            e.ssh_login(at, host, "deploy", origin.ip);
            for cmd in [
                "/usr/bin/id",
                "/bin/cat /etc/shadow",
                "/usr/bin/ssh-keygen -A",
            ] {
                at += TimeDelta::seconds(e.rng.gen_range(20..90));
                e.sudo(at, host, "deploy", cmd, &SUDO_ROOT);
            }
        }
        end = end.max(at);
    }
    labels.push(AttackLabel {
        name: "lateral_movement",
        file: FILE,
        scenario: "lateral_movement_detection",
        start: fmt(start),
        end: fmt(end),
        hosts: hops.iter().map(|(n, _)| *n).collect(),
        srcip: Some("10.0.1.10"),
        alerts: e.alerts.len() - before,
        description: "Late in the evening, the deploy account logs in from web-01 to five other hosts in turn (a few failures, then success and sudo or a privileged Windows logon on each).",
    });

    // Brute force, morning of day 0: ~250 SSH password guesses against web-01 in 30 minutes.
    let before = e.alerts.len();
    let attacker = "203.0.113.45";
    let host = agent("web-01");
    let start = day0 + TimeDelta::hours(10) + TimeDelta::minutes(5);
    let mut at = start;
    let mut count = 0;
    while at < start + TimeDelta::minutes(30) {
        let user = e.pick(&[
            "root", "admin", "test", "oracle", "ubuntu", "deploy", "pi", "git",
        ]);
        let invalid = !matches!(user, "root" | "deploy");
        e.ssh_failure(at, host, user, attacker, invalid);
        count += 1;
        if count % 8 == 0 {
            let log = format!(
                "{} web-01 sshd: repeated authentication failures from {attacker}",
                syslog_time(at)
            );
            e.emit(
                at + TimeDelta::milliseconds(5),
                &SSHD_BRUTE_FORCE,
                host,
                "sshd",
                "/var/log/auth.log",
                json!({"srcip": attacker, "dstuser": user}),
                log,
            );
        }
        at += TimeDelta::milliseconds(e.rng.gen_range(3_000..11_000));
    }
    e.ssh_login(at, host, "deploy", attacker);
    labels.push(AttackLabel {
        name: "brute_force",
        file: FILE,
        scenario: "brute_force_detection",
        start: fmt(start),
        end: fmt(at),
        hosts: vec!["web-01"],
        srcip: Some(attacker),
        alerts: e.alerts.len() - before,
        description: "SSH password guessing against web-01 from one external address for 30 minutes, ending in a successful login as deploy.",
    });

    // Privilege escalation, night of day 1: on app-01 a service account fails sudo, then gets root.
    let before = e.alerts.len();
    let host = agent("app-01");
    let start = day0 + TimeDelta::hours(25) + TimeDelta::minutes(30);
    let mut at = start;
    e.ssh_login(at, host, "www-data", "10.0.1.10");
    let step = |e: &mut Emitter, at: &mut DateTime<Utc>| {
        *at += TimeDelta::seconds(e.rng.gen_range(30..180));
        *at
    };
    for _ in 0..3 {
        let t = step(e, &mut at);
        e.sudo(t, host, "www-data", "/bin/bash", &SUDO_FAILED);
    }
    let t = step(e, &mut at);
    e.sudo(t, host, "www-data", "/bin/bash", &SUDO_THREE_FAILED);
    for path in ["/etc/sudoers", "/usr/local/bin/backup.sh"] {
        let t = step(e, &mut at);
        e.syscheck(t, host, &SYSCHECK_MODIFIED, path);
    }
    let t = step(e, &mut at);
    e.sudo(t, host, "www-data", "/bin/bash", &SUDO_FIRST_TIME);
    let t = step(e, &mut at);
    e.sudo(t, host, "www-data", "/bin/bash", &SUDO_ROOT);
    let t = step(e, &mut at);
    e.emit(
        t,
        &USER_ADDED,
        host,
        "useradd",
        "/var/log/auth.log",
        json!({"dstuser": "sysupdate"}),
        format!(
            "{} app-01 useradd[4242]: new user: name=sysupdate, UID=0, GID=0, home=/root",
            syslog_time(t)
        ),
    );
    let t = step(e, &mut at);
    e.emit(
        t,
        &USER_TO_ADMIN,
        host,
        "usermod",
        "/var/log/auth.log",
        json!({"dstuser": "sysupdate"}),
        format!(
            "{} app-01 usermod[4250]: add 'sysupdate' to group 'sudo'",
            syslog_time(t)
        ),
    );
    for path in ["/etc/passwd", "/etc/shadow", "/etc/group"] {
        let t = step(e, &mut at);
        e.syscheck(t, host, &SYSCHECK_MODIFIED, path);
    }
    let t = step(e, &mut at);
    e.syscheck(t, host, &SYSCHECK_ADDED, "/usr/local/sbin/.sysupdate");
    for _ in 0..4 {
        let t = step(e, &mut at);
        e.sudo(t, host, "sysupdate", "/usr/bin/crontab -e", &SUDO_ROOT);
    }
    labels.push(AttackLabel {
        name: "privilege_escalation",
        file: FILE,
        scenario: "privilege_escalation_detection",
        start: fmt(start),
        end: fmt(at),
        hosts: vec!["app-01"],
        srcip: Some("10.0.1.10"),
        alerts: e.alerts.len() - before,
        description: "On app-01 www-data fails sudo three times, edits sudoers, becomes root, adds a UID-0 user to the sudo group and drops a hidden binary.",
    });

    // Password spray, morning of day 1: one password tried against many accounts, slowly.
    let before = e.alerts.len();
    let sprayer = "198.51.100.23";
    let dc = agent("dc-01");
    let bastion = agent("bastion-01");
    let start = day0 + TimeDelta::hours(33);
    let mut at = start;
    let accounts = [
        "administrator",
        "alice",
        "bob",
        "carol",
        "dave",
        "erin",
        "frank",
        "grace",
        "heidi",
        "ivan",
        "judy",
        "mallory",
        "oscar",
        "peggy",
        "trent",
        "victor",
        "walter",
        "svc_sql",
        "svc_web",
        "svc_backup",
        "helpdesk",
        "scanner",
        "guest",
        "test",
    ];
    let mut failures = 0;
    for round in 0..3 {
        for user in accounts {
            if round == 2 && user == "erin" {
                e.windows(at, dc, &WIN_LOGON, "4624", user, sprayer, "3");
            } else if failures % 4 == 3 {
                e.ssh_failure(at, bastion, user, sprayer, !LINUX_USERS.contains(&user));
            } else {
                e.windows(at, dc, &WIN_LOGON_FAILED, "4625", user, sprayer, "3");
            }
            failures += 1;
            if failures % 10 == 0 {
                e.windows(
                    at + TimeDelta::milliseconds(3),
                    dc,
                    &WIN_MULTIPLE_FAILED,
                    "4625",
                    user,
                    sprayer,
                    "3",
                );
            }
            at += TimeDelta::seconds(e.rng.gen_range(40..70));
        }
    }
    labels.push(AttackLabel {
        name: "password_spray",
        file: FILE,
        scenario: "brute_force_detection",
        start: fmt(start),
        end: fmt(at),
        hosts: vec!["dc-01", "bastion-01"],
        srcip: Some(sprayer),
        alerts: e.alerts.len() - before,
        description: "One address tries a common password against 24 accounts, three rounds, about one attempt a minute on the domain controller and the bastion; one account falls.",
    });
    labels
}

/// (cpu, memory) values that replace the normal ones for an agent at a time, while an attack runs.
type MetricOverride = dyn Fn(&str, DateTime<Utc>) -> (Option<f64>, Option<f64>);

/// Linux health checks every 5 minutes (Wazuh command monitoring), values as strings.
/// `anomaly(agent, t)` returns (cpu, memory) overrides while an attack runs.
fn resource_series(
    e: &mut Emitter,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    anomaly: &MetricOverride,
) {
    let hosts = [
        ("web-01", 18.0, 42.0, 52.0),
        ("db-01", 25.0, 58.0, 71.0),
        ("app-01", 21.0, 47.0, 38.0),
    ];
    let mut t = start;
    while t < end {
        for (i, (name, cpu_base, mem_base, disk_base)) in hosts.iter().enumerate() {
            let host = agent(name);
            let at = t
                + TimeDelta::seconds(20 + 7 * i as i64)
                + TimeDelta::milliseconds(e.rng.gen_range(0..900));
            let hours = (t - start).num_minutes() as f64 / 60.0;
            let day_phase = (f64::from(t.hour()) + f64::from(t.minute()) / 60.0 - 14.0) / 24.0
                * std::f64::consts::TAU;
            let busy = activity(t);
            let (cpu_over, mem_over) = anomaly(name, t);
            let cpu = cpu_over
                .unwrap_or(
                    cpu_base + 22.0 * busy + 3.0 * day_phase.cos() + e.rng.gen_range(-4.0..4.0),
                )
                .clamp(0.5, 99.9);
            let mem = mem_over
                .unwrap_or(mem_base + 4.0 * day_phase.cos() + e.rng.gen_range(-1.5..1.5))
                .clamp(1.0, 99.9);
            let disk = disk_base + hours * 0.01 + e.rng.gen_range(-0.05..0.05);
            let load1 = (cpu / 22.0 + e.rng.gen_range(-0.2..0.3)).max(0.01);
            let load5 = load1 * 0.85 + 0.1;
            let load15 = load1 * 0.7 + 0.15;
            let data = json!({"cpu_usage_%": format!("{cpu:.2}"), "memory_usage_%": format!("{mem:.2}"), "disk_usage_%": format!("{disk:.2}")});
            let log = format!("ossec: output: 'general_health_check': {cpu:.2} {mem:.2} {disk:.2}");
            e.emit(
                at,
                &HEALTH_CHECK,
                host,
                "general_health_check",
                "general_health_check",
                data.clone(),
                log,
            );
            if cpu >= 80.0 {
                e.emit(
                    at + TimeDelta::milliseconds(2),
                    &CPU_HIGH,
                    host,
                    "general_health_check",
                    "general_health_check",
                    data.clone(),
                    format!("ossec: output: 'general_health_check': cpu {cpu:.2}"),
                );
            }
            if mem >= 80.0 {
                e.emit(
                    at + TimeDelta::milliseconds(3),
                    &MEMORY_HIGH,
                    host,
                    "general_health_check",
                    "general_health_check",
                    data,
                    format!("ossec: output: 'general_health_check': memory {mem:.2}"),
                );
            }
            let data = json!({"1min_loadAverage": format!("{load1:.2}"), "5mins_loadAverage": format!("{load5:.2}"), "15mins_loadAverage": format!("{load15:.2}")});
            let log =
                format!("ossec: output: 'load_average_check': {load1:.2} {load5:.2} {load15:.2}");
            e.emit(
                at + TimeDelta::seconds(1),
                &LOAD_CHECK,
                host,
                "load_average_check",
                "load_average_check",
                data,
                log,
            );
        }
        t += TimeDelta::minutes(5);
    }
}

/// Generates every demo file and the labels. Same seed, same bytes.
pub fn generate(seed: u64) -> DemoData {
    let train_start = utc(2024, 5, 1, 0, 0);
    let day0 = utc(2024, 5, 8, 0, 0);
    let mut files = Vec::new();

    let mut e = Emitter::new(seed);
    security_baseline(&mut e, train_start, day0);
    files.push(DemoFile {
        name: "security_training.ndjson",
        alerts: e.finish(),
    });

    let mut e = Emitter::new(seed ^ 0x5EC0_DE7E);
    security_baseline(&mut e, day0, day0 + TimeDelta::days(2));
    let mut labels = security_attacks(&mut e, day0);
    files.push(DemoFile {
        name: "security_detection.ndjson",
        alerts: e.finish(),
    });

    let mut e = Emitter::new(seed ^ 0x0005_0CE0);
    resource_series(&mut e, day0 - TimeDelta::hours(36), day0, &|_, _| {
        (None, None)
    });
    files.push(DemoFile {
        name: "resource_training.ndjson",
        alerts: e.finish(),
    });

    let spike = (
        day0 + TimeDelta::hours(5),
        day0 + TimeDelta::hours(5) + TimeDelta::minutes(45),
    );
    let leak = (
        day0 + TimeDelta::hours(8),
        day0 + TimeDelta::hours(11) + TimeDelta::minutes(30),
    );
    let mut e = Emitter::new(seed ^ 0x00DE_7EC7);
    let anomaly = move |name: &str, t: DateTime<Utc>| {
        let cpu = (t >= spike.0 && t < spike.1 && name != "db-01").then(|| {
            let k = (t - spike.0).num_minutes() as f64;
            88.0 + (k * 0.37).sin().abs() * 10.0
        });
        let mem = (t >= leak.0 && t < leak.1 && name == "db-01").then(|| {
            let k = (t - leak.0).num_minutes() as f64 / (leak.1 - leak.0).num_minutes() as f64;
            58.0 + 39.0 * k
        });
        (cpu, mem)
    };
    resource_series(&mut e, day0, day0 + TimeDelta::hours(12), &anomaly);
    files.push(DemoFile {
        name: "resource_detection.ndjson",
        alerts: e.finish(),
    });
    labels.push(AttackLabel {
        name: "cpu_spike",
        file: "resource_detection.ndjson",
        scenario: "linux_resource_monitoring",
        start: fmt(spike.0),
        end: fmt(spike.1),
        hosts: vec!["web-01", "app-01"],
        srcip: None,
        alerts: 0,
        description:
            "A cryptominer-like CPU load (88–98 %, load average 4+) on two hosts for 45 minutes.",
    });
    labels.push(AttackLabel {
        name: "memory_leak",
        file: "resource_detection.ndjson",
        scenario: "linux_resource_monitoring",
        start: fmt(leak.0),
        end: fmt(leak.1),
        hosts: vec!["db-01"],
        srcip: None,
        alerts: 0,
        description: "Memory use on db-01 climbs steadily from 58 % to 97 % over three and a half hours, then the service is restarted.",
    });
    labels.sort_by(|a, b| a.file.cmp(b.file).then(a.start.cmp(&b.start)));
    DemoData { files, labels }
}
