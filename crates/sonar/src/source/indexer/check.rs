//! `sonar check`: reach the indexer one step at a time (DNS, TCP, TLS, HTTP, authentication,
//! cluster health) so that a failure names the step and what to do, instead of the
//! original's bare "connection failed".

use std::fmt;
use std::net::{SocketAddr, TcpStream};

use super::client::{error_chain, error_reason, IndexerClient};
use crate::Error;

/// One step of the connection check, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStep {
    /// Resolving the host name.
    Dns,
    /// Opening a TCP connection to the resolved address.
    TcpConnect,
    /// The TLS handshake (https only).
    Tls,
    /// Exchanging an HTTP request and response.
    Http,
    /// The server refused the credentials (401) or the permission (403).
    Authentication,
    /// `GET /_cluster/health` failed or reported `red`.
    ClusterHealth,
}

impl fmt::Display for CheckStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dns => "DNS",
            Self::TcpConnect => "TCP connect",
            Self::Tls => "TLS",
            Self::Http => "HTTP",
            Self::Authentication => "authentication",
            Self::ClusterHealth => "cluster health",
        })
    }
}

/// What a successful check learned about the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterCheck {
    /// The address the TCP step connected to.
    pub address: SocketAddr,
    /// `cluster_name` from `GET /`.
    pub cluster_name: String,
    /// `version.number` from `GET /`.
    pub version: String,
    /// `status` from `GET /_cluster/health`: `green` or `yellow` (`red` fails the check).
    pub health: String,
}

impl IndexerClient {
    /// Checks the connection step by step, without retries. Each failure is an
    /// [`Error::IndexerCheck`] naming the step, what happened and what to do.
    pub fn check(&self) -> Result<ClusterCheck, Error> {
        let url = url::Url::parse(&self.base).map_err(|e| Error::IndexerSetting {
            setting: "base_url",
            problem: format!("not a valid URL: {e}"),
        })?;
        let https = url.scheme() == "https";
        let fail = |step: CheckStep, detail: String, hint: &str| Error::IndexerCheck {
            step,
            url: self.base.clone(),
            detail,
            hint: hint.to_owned(),
        };

        let addresses = url.socket_addrs(|| None).map_err(|e| {
            fail(
                CheckStep::Dns,
                format!("cannot resolve `{}`: {e}", url.host_str().unwrap_or("")),
                "check the host name in wazuh.base_url and this machine's DNS settings",
            )
        })?;
        if addresses.is_empty() {
            return Err(fail(
                CheckStep::Dns,
                format!("`{}` resolves to no address", url.host_str().unwrap_or("")),
                "check the host name in wazuh.base_url and this machine's DNS settings",
            ));
        }

        let mut last_error = None;
        let mut connected = None;
        for address in &addresses {
            match TcpStream::connect_timeout(address, self.connection.connect_timeout) {
                Ok(_) => {
                    connected = Some(*address);
                    break;
                }
                Err(e) => last_error = Some(format!("{address}: {e}")),
            }
        }
        let address = connected.ok_or_else(|| {
            fail(
                CheckStep::TcpConnect,
                last_error.unwrap_or_default(),
                "is the indexer running and listening on that port? check the port in \
                 wazuh.base_url and any firewall in between",
            )
        })?;

        let root = self.probe("/").map_err(|e| {
            let detail = error_chain(&e);
            if https {
                fail(CheckStep::Tls, detail.clone(), tls_hint(&detail))
            } else {
                fail(
                    CheckStep::Http,
                    detail,
                    "the server did not answer HTTP; if it expects TLS use https:// in wazuh.base_url",
                )
            }
        })?;
        let (status, body) = root;
        self.refuse_auth(status, &body, &fail)?;
        if !(200..300).contains(&status) {
            let reason = error_reason(&body);
            let hint = if reason.contains("HTTPS port") || reason.contains("https") {
                "the server expects TLS: use https:// in wazuh.base_url"
            } else {
                "is wazuh.base_url the indexer (OpenSearch) and not the dashboard or the API?"
            };
            return Err(fail(
                CheckStep::Http,
                format!("GET / answered HTTP {status}: {reason}"),
                hint,
            ));
        }
        let info: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            fail(
                CheckStep::Http,
                format!("GET / did not answer JSON: {e}"),
                "is wazuh.base_url the indexer (OpenSearch) and not the dashboard or the API?",
            )
        })?;
        let text = |pointer: &str| {
            info.pointer(pointer)
                .and_then(|v| v.as_str())
                .unwrap_or("unknown")
                .to_owned()
        };

        let health_hint = "look at the indexer's own logs and `GET /_cluster/health?pretty`";
        let (status, body) = self
            .probe("/_cluster/health")
            .map_err(|e| fail(CheckStep::ClusterHealth, error_chain(&e), health_hint))?;
        self.refuse_auth(status, &body, &fail)?;
        if !(200..300).contains(&status) {
            return Err(fail(
                CheckStep::ClusterHealth,
                format!("HTTP {status}: {}", error_reason(&body)),
                health_hint,
            ));
        }
        let health: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            fail(
                CheckStep::ClusterHealth,
                format!("not JSON: {e}"),
                health_hint,
            )
        })?;
        let health = health
            .get("status")
            .and_then(|s| s.as_str())
            .unwrap_or("unknown")
            .to_owned();
        match health.as_str() {
            "green" => {}
            "yellow" => tracing::warn!(
                base_url = %self.base,
                "indexer cluster health is yellow: some replicas are unassigned"
            ),
            _ => {
                return Err(fail(
                    CheckStep::ClusterHealth,
                    format!("cluster status is `{health}`"),
                    health_hint,
                ))
            }
        }
        let check = ClusterCheck {
            address,
            cluster_name: text("/cluster_name"),
            version: text("/version/number"),
            health,
        };
        tracing::info!(
            base_url = %self.base, address = %check.address, cluster = %check.cluster_name,
            version = %check.version, health = %check.health, "indexer check passed"
        );
        Ok(check)
    }

    /// One GET without retries: the status and body, or the transport error.
    fn probe(&self, path: &str) -> Result<(u16, Vec<u8>), reqwest::Error> {
        let response = self.authorised(self.http.get(self.url(path))).send()?;
        let status = response.status().as_u16();
        let body = response.bytes()?.to_vec();
        Ok((status, body))
    }

    fn refuse_auth(
        &self,
        status: u16,
        body: &[u8],
        fail: &dyn Fn(CheckStep, String, &str) -> Error,
    ) -> Result<(), Error> {
        let hint = match status {
            401 => {
                "check wazuh.username and the password (SONAR_WAZUH_PASSWORD or \
                 wazuh.password_file)"
            }
            403 => {
                "the user is known but lacks permission: it needs cluster monitor and read \
                 on the alert indices"
            }
            _ => return Ok(()),
        };
        Err(fail(
            CheckStep::Authentication,
            format!(
                "HTTP {status} for user `{}`: {}",
                self.connection.username,
                error_reason(body)
            ),
            hint,
        ))
    }
}

/// What to do about a TLS failure, from the words rustls uses.
fn tls_hint(detail: &str) -> &'static str {
    let lower = detail.to_ascii_lowercase();
    if lower.contains("expired") || lower.contains("notvalidyet") {
        "the server's certificate is expired or not yet valid: renew it (or fix this \
         machine's clock)"
    } else if lower.contains("unknownissuer") || lower.contains("issuer") {
        "the certificate is not signed by a trusted CA: set wazuh.ca_cert to the CA that \
         signed the indexer's certificate"
    } else if lower.contains("notvalidforname") || lower.contains("name") {
        "the certificate does not name this host: use the host name it was issued for"
    } else if lower.contains("content") || lower.contains("corrupt") || lower.contains("version") {
        "the server does not speak TLS here: if it is plain HTTP use http:// in wazuh.base_url"
    } else {
        "check the indexer's certificate and wazuh.ca_cert / wazuh.verify_ssl"
    }
}
