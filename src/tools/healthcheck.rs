//! `codex-otel-gateway healthcheck`: the client side of the admin listener's `/healthz`, for
//! container HEALTHCHECKs in images that have no curl — one plain HTTP/1.1 GET over a
//! `TcpStream`, the whole exchange within a deadline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Why a health check failed; each renders as one line.
#[derive(Debug, thiserror::Error)]
pub enum HealthcheckError {
    /// Not an `http://` URL.
    #[error("only plain http:// URLs are supported")]
    NotHttp,
    /// `http://` with nothing after it.
    #[error("no host in the URL")]
    NoHost,
    /// Name resolution failed.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// `host:port` looked up.
        host: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// The name resolved to nothing.
    #[error("{host} resolved to no address")]
    NoAddress {
        /// `host:port` looked up.
        host: String,
    },
    /// No address accepted the connection.
    #[error("connect to {addr}: {source}")]
    Connect {
        /// The last address tried.
        addr: SocketAddr,
        /// Its error.
        source: std::io::Error,
    },
    /// The deadline passed.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Sending or reading failed.
    #[error("{what}: {source}")]
    Io {
        /// The step.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The connection closed before the status line.
    #[error("connection closed before a status line")]
    NoStatusLine,
    /// Not an HTTP/1.x status line.
    #[error("malformed status line {0:?}")]
    BadStatusLine(String),
    /// An answer other than 200.
    #[error("HTTP status {0}")]
    Status(u16),
}

/// Largest status line read before giving up.
const MAX_STATUS_LINE: usize = 8 * 1024;

/// GETs `url` (plain HTTP/1.1, `Connection: close`) and succeeds when the status is 200. The
/// whole exchange, name resolution aside, must finish within `timeout`.
/// GETs `url` (plain HTTP/1.1, `Connection: close`) and succeeds when the status is 200. The
/// whole exchange, name resolution aside, must finish within `timeout`.
pub fn check(url: &str, timeout: Duration) -> Result<(), HealthcheckError> {
    let (authority, path, target) = split_url(url)?;
    let addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .map_err(|source| HealthcheckError::Resolve {
            host: target.clone(),
            source,
        })?
        .collect();
    let deadline = Deadline {
        end: Instant::now() + timeout,
        timeout,
    };
    let mut stream = connect(&addrs, &target, &deadline)?;
    stream
        .set_write_timeout(Some(deadline.remaining()?))
        .map_err(deadline.io("set write timeout"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: codex-otel-gateway-healthcheck\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(deadline.io("send request"))?;
    match read_status(&mut stream, &deadline)? {
        200 => Ok(()),
        status => Err(HealthcheckError::Status(status)),
    }
}

/// `(authority, path, host:port to resolve)` of a plain `http://` URL.
fn split_url(url: &str) -> Result<(&str, &str, String), HealthcheckError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or(HealthcheckError::NotHttp)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(HealthcheckError::NoHost);
    }
    // `host:port`, `[v6]:port`, or no port (80).
    let has_port = match authority.rfind(']') {
        Some(close) => authority[close..].contains(':'),
        None => authority.contains(':'),
    };
    let target = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path, target))
}

/// The end of the whole exchange.
struct Deadline {
    end: Instant,
    timeout: Duration,
}

impl Deadline {
    /// Time left, or `Timeout` when none is.
    fn remaining(&self) -> Result<Duration, HealthcheckError> {
        self.end
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(HealthcheckError::Timeout(self.timeout))
    }

    /// Maps an I/O error of step `what`: a timeout is `Timeout`.
    fn io(&self, what: &'static str) -> impl Fn(std::io::Error) -> HealthcheckError {
        let timeout = self.timeout;
        move |source: std::io::Error| match source.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                HealthcheckError::Timeout(timeout)
            }
            _ => HealthcheckError::Io { what, source },
        }
    }
}

/// Connects to the first address that answers.
fn connect(
    addrs: &[SocketAddr],
    target: &str,
    deadline: &Deadline,
) -> Result<TcpStream, HealthcheckError> {
    let mut last_error = None;
    for addr in addrs {
        match TcpStream::connect_timeout(addr, deadline.remaining()?) {
            Ok(s) => return Ok(s),
            Err(source) if source.kind() == std::io::ErrorKind::TimedOut => {
                return Err(HealthcheckError::Timeout(deadline.timeout))
            }
            Err(source) => {
                last_error = Some(HealthcheckError::Connect {
                    addr: *addr,
                    source,
                })
            }
        }
    }
    Err(last_error.unwrap_or_else(|| HealthcheckError::NoAddress {
        host: target.to_string(),
    }))
}

/// Reads the status line and returns its code.
fn read_status(stream: &mut TcpStream, deadline: &Deadline) -> Result<u16, HealthcheckError> {
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 1024];
    let line_end = loop {
        if let Some(i) = head.windows(2).position(|w| w == b"\r\n") {
            break i;
        }
        if head.len() > MAX_STATUS_LINE {
            return Err(HealthcheckError::BadStatusLine(
                String::from_utf8_lossy(&head[..64]).into_owned(),
            ));
        }
        stream
            .set_read_timeout(Some(deadline.remaining()?))
            .map_err(deadline.io("set read timeout"))?;
        let n = stream
            .read(&mut buf)
            .map_err(deadline.io("read response"))?;
        if n == 0 {
            return Err(HealthcheckError::NoStatusLine);
        }
        head.extend_from_slice(&buf[..n]);
    };
    let line = String::from_utf8_lossy(&head[..line_end]).into_owned();
    let mut parts = line.splitn(3, ' ');
    match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/1.") => code.parse::<u16>().ok(),
        _ => None,
    }
    .ok_or(HealthcheckError::BadStatusLine(line))
}
