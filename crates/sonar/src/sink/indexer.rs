//! The indexer client ([`IndexerClient`], which owns authentication, TLS, timeouts and
//! connection retries) as the OpenSearch sinks' [`Transport`].
//!
//! The sinks inspect every write themselves ([`super::WriteInspector`]), so the client given
//! to a sink needs no write observer; if it has one that withholds a request, the sink counts
//! the documents as not sent (dry run), never as written.

use base64::Engine;

use super::bulk::{HttpReply, Transport};
use super::inspect::{Body, Method};
use crate::source::indexer::{IndexerClient, RequestBody};
use crate::Error;

impl Transport for IndexerClient {
    fn endpoint(&self) -> String {
        self.connection().base_url.clone()
    }

    fn inspection_headers(&self) -> Vec<(String, String)> {
        let connection = self.connection();
        if connection.username.is_empty() {
            return Vec::new();
        }
        // The real header value: the inspector redacts it, and tests prove it does.
        let credentials = format!("{}:{}", connection.username, connection.password.expose());
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        vec![("Authorization".to_string(), format!("Basic {encoded}"))]
    }

    fn retries_requests(&self) -> bool {
        self.connection().retry.max_retries > 0
    }

    fn send(
        &mut self,
        method: Method,
        path: &str,
        body: &Body,
    ) -> Result<Option<HttpReply>, Error> {
        let method = match method {
            Method::Put => reqwest::Method::PUT,
            Method::Post => reqwest::Method::POST,
        };
        let body = match body {
            Body::Json(value) => RequestBody::Json(value.clone()),
            Body::Ndjson(lines) => RequestBody::ndjson(lines),
        };
        match self.write(method, path, Some(&body)) {
            Ok(Some(response)) => Ok(Some(HttpReply {
                status: response.status,
                body: String::from_utf8_lossy(&response.body).into_owned(),
            })),
            Ok(None) => Ok(None),
            // The client turns non-2xx answers into errors; the sinks decide per status
            // (409 on an ISM policy means "already installed").
            Err(Error::IndexerHttp { status, reason, .. }) => Ok(Some(HttpReply {
                status,
                body: reason,
            })),
            Err(other) => Err(other),
        }
    }
}
