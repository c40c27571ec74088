//! A tiny HTTP/1.0 client for the server's monitoring endpoints (on loopback, or on a container's
//! address on the project's own container network).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// `GET http://127.0.0.1:{port}{path}` and parse the body as JSON.
///
/// Returns a description of what went wrong instead of panicking, so pollers can retry.
pub(crate) fn get_json(port: u16, path: &str) -> Result<Value, String> {
    get_json_at(IpAddr::V4(Ipv4Addr::LOCALHOST), port, path)
}

/// `GET http://{ip}:{port}{path}` and parse the body as JSON.
pub(crate) fn get_json_at(ip: IpAddr, port: u16, path: &str) -> Result<Value, String> {
    let addr = SocketAddr::new(ip, port);
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| format!("cannot connect to monitoring port {port}: {e}"))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| format!("cannot set timeouts: {e}"))?;
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send GET {path}: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| format!("cannot read the response to GET {path}: {e}"))?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("malformed HTTP response to GET {path}: {text:.200}"))?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200") {
        return Err(format!("GET {path} answered {status:?}: {body:.300}"));
    }
    serde_json::from_str(body)
        .map_err(|e| format!("GET {path} returned invalid JSON ({e}): {body:.300}"))
}
