//! Network addresses as written in the config.

use std::net::{SocketAddr, ToSocketAddrs};

/// Parses a listen address: `ip:port`, `[v6]:port` or `localhost:port`.
pub fn parse_listen_addr(endpoint: &str) -> Result<SocketAddr, String> {
    let text = endpoint.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Some(port) = text.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{text:?}: invalid port"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if text
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
    {
        // A host name: resolve it now so a typo fails at validate time.
        return text
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| format!("{text:?}: cannot resolve the host"));
    }
    Err(format!(
        "{text:?} is not host:port (e.g. 127.0.0.1:4317 or 0.0.0.0:4318)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_accept_ips_localhost_and_reject_garbage() {
        assert_eq!(
            parse_listen_addr("0.0.0.0:4317"),
            Ok(SocketAddr::from(([0, 0, 0, 0], 4317)))
        );
        assert_eq!(
            parse_listen_addr("localhost:4318"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 4318)))
        );
        assert!(parse_listen_addr("[::1]:4317").is_ok());
        assert!(parse_listen_addr("4317").is_err());
        assert!(parse_listen_addr("127.0.0.1:99999").is_err());
        assert!(parse_listen_addr("not an address").is_err());
    }
}
