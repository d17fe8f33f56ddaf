//! Loopback sockets for tests that must not race other tests for ports: an address that
//! refuses connections for as long as the test holds it, and who (which socket, which process)
//! is listening on an address, read from Linux's `/proc`.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};

use socket2::{Domain, Socket, Type};

/// A loopback address where every connection is refused, reserved until the returned socket
/// is dropped: the socket is bound but never listens, so the kernel answers a connect with a
/// reset and no other test can bind (let alone listen on) that port meanwhile. Binding port 0
/// and releasing it would leave the port free for anyone, "closed" only by luck.
pub fn refusing_addr() -> (Socket, SocketAddr) {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a TCP socket");
    socket
        .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .expect("bind a loopback port");
    let addr = socket
        .local_addr()
        .expect("bound address")
        .as_socket()
        .expect("an IP address");
    (socket, addr)
}

/// The inodes of the sockets listening on `addr` (IPv4), from `/proc/net/tcp`.
pub fn listening_inodes(addr: SocketAddr) -> Vec<u64> {
    sockets_on(addr)
        .into_iter()
        .filter(|(state, _)| state == "0A") // LISTEN
        .map(|(_, inode)| inode)
        .collect()
}

/// The inodes of all open sockets (listening or connected) whose local address is `addr`.
/// Sockets no process holds any more (e.g. in TIME_WAIT) have no inode and are left out.
pub fn inodes_on_port(addr: SocketAddr) -> Vec<u64> {
    sockets_on(addr)
        .into_iter()
        .map(|(_, inode)| inode)
        .filter(|inode| *inode != 0)
        .collect()
}

/// (state, inode) of each `/proc/net/tcp` entry whose local address is `addr` (IPv4).
fn sockets_on(addr: SocketAddr) -> Vec<(String, u64)> {
    let SocketAddr::V4(v4) = addr else {
        panic!("{addr}: only IPv4 addresses are looked up");
    };
    // The kernel writes the address as the in-memory u32 in hex, i.e. byte-swapped on
    // little-endian machines, and the port in plain hex.
    let wanted = format!(
        "{:08X}:{:04X}",
        u32::from_ne_bytes(v4.ip().octets()),
        v4.port()
    );
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            // sl, local_address, rem_address, st, tx:rx queues, tr:when, retrnsmt, uid,
            // timeout, inode, ...
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(1) != Some(&wanted.as_str()) {
                return None;
            }
            Some((fields.get(3)?.to_string(), fields.get(9)?.parse().ok()?))
        })
        .collect()
}

/// Whether process `pid` holds the socket with inode `inode` among its open files.
pub fn process_holds_socket(pid: u32, inode: u64) -> bool {
    let wanted = format!("socket:[{inode}]");
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .any(|target| target.as_os_str() == wanted.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusing_address_refuses_and_a_listener_is_found_by_its_inode() {
        let (_held, addr) = refusing_addr();
        let refused = std::net::TcpStream::connect(addr).expect_err("nothing listens");
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(listening_inodes(addr).is_empty());

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let inodes = listening_inodes(addr);
        assert_eq!(inodes.len(), 1, "{inodes:?}");
        assert!(process_holds_socket(std::process::id(), inodes[0]));
        drop(listener);
        // Another test may bind the freed port at once; only this socket must be gone. A child
        // process another test is spawning holds a copy of every descriptor until its exec
        // closes them, so the socket can outlive the drop by a moment: wait for it, bounded.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while listening_inodes(addr).contains(&inodes[0]) {
            assert!(
                std::time::Instant::now() < deadline,
                "the dropped listener is still listening"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
