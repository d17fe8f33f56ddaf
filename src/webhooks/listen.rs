//! `payglot webhooks listen`: a tiny merchant-side receiver for trying the relay out. It takes
//! each `POST`, checks its signature as a merchant of the chosen dialect would (with that
//! merchant's credentials), prints what arrived, and answers 200 (401 when the signature does
//! not verify, so a sender's retry shows).

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::dialect::{Dialect, WebhookAuth};
use crate::secret::Credentials;

/// Longest request head and body taken.
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 1024 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One webhook as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub verified: bool,
}

impl Received {
    /// The lines `listen` prints for it.
    pub fn report(&self, dialect: Dialect) -> String {
        let verdict = if self.verified {
            format!("signature OK ({dialect})")
        } else {
            format!("signature INVALID ({dialect})")
        };
        let mut out = format!("POST {} — {verdict}\n", self.path);
        for (name, value) in &self.headers {
            out.push_str(&format!(
                "  {name}: {}\n",
                value.to_str().unwrap_or("<binary>")
            ));
        }
        out.push_str(&format!("  {}\n", String::from_utf8_lossy(&self.body)));
        out
    }
}

/// Serves until `count` webhooks were received (forever with `None`), calling `seen` for each.
pub async fn serve(
    listener: TcpListener,
    dialect: Dialect,
    credentials: Credentials,
    count: Option<usize>,
    mut seen: impl FnMut(&Received),
) -> std::io::Result<()> {
    let mut received = 0;
    while count.is_none_or(|c| received < c) {
        let (stream, _) = listener.accept().await?;
        match tokio::time::timeout(READ_TIMEOUT, receive(stream, dialect, &credentials)).await {
            Ok(Ok(Some(one))) => {
                seen(&one);
                received += 1;
            }
            Ok(Ok(None)) | Err(_) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "unreadable request"),
        }
    }
    Ok(())
}

async fn receive(
    stream: TcpStream,
    dialect: Dialect,
    credentials: &Credentials,
) -> std::io::Result<Option<Received>> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or("/").to_owned();
    let mut headers = HeaderMap::new();
    let mut head = line.len();
    loop {
        line.clear();
        let read = reader.read_line(&mut line).await?;
        head += read;
        if read == 0 || head > MAX_HEAD {
            return Ok(None);
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.trim().as_bytes()),
                HeaderValue::from_str(value.trim()),
            )
        {
            headers.append(name, value);
        }
    }
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    if length > MAX_BODY {
        return Ok(None);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    let verified = method == "POST"
        && dialect
            .webhooks()
            .verify_webhook(&headers, &body, credentials)
            == WebhookAuth::Verified;
    let status = if verified {
        "200 OK"
    } else {
        "401 Unauthorized"
    };
    let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    reader.get_mut().write_all(answer.as_bytes()).await?;
    Ok(Some(Received {
        path,
        headers,
        body,
        verified,
    }))
}
