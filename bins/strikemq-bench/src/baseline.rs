//! The floor: a trivial TCP server the tool starts itself. It reads length-prefixed frames and answers
//! each with a frame of the size the request asks for, touching no storage and parsing nothing else.
//! Driven with the same request sizes, response sizes, connections and pipelining depth as a broker
//! run, it measures what this machine's loopback stack and a blocking server cost on their own.
//!
//! A baseline request frame, byte by byte:
//!
//! ```text
//! 0..4    length of the rest (i32, big-endian), as in Kafka
//! 4..8    api key and version (ignored; -1 and 0)
//! 8..12   correlation id, echoed back first in the reply
//! 12..16  reply length (u32): bytes of reply payload; 0 means "no reply" (like acks=0)
//! 16..    padding up to the size of the broker request it stands in for
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};

const REPLY_LEN_AT: usize = 12;

/// CPUs (a `taskset -c` list) the baseline server runs on; unset: wherever the scheduler puts it.
static PIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

pub(crate) fn pin_to(cpus: String) {
    let _ = PIN.set(cpus);
}
const MIN_FRAME: usize = 16;

/// The baseline server: a child process (this same executable, `serve-baseline`), so that its
/// threads are scheduled like a broker's and not next to the client's; stopped on drop.
pub(crate) struct Baseline {
    addr: SocketAddr,
    child: Child,
}

impl Baseline {
    pub(crate) fn start() -> Result<Baseline> {
        let exe = std::env::current_exe().context("finding this executable")?;
        // Where the baseline runs decides what it measures: on the client's core a round trip
        // skips the cross-core wake-up that a broker on another core pays. Pin it like the broker.
        let mut cmd = match PIN.get() {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg(exe);
                c
            }
            _ => Command::new(exe),
        };
        let mut child = cmd
            .arg("serve-baseline")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the baseline server")?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut line)?;
        }
        let addr = match line.trim().parse() {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the baseline server did not report its address");
            }
        };
        Ok(Baseline { addr, child })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `serve-baseline` subcommand: prints the bound address, serves until stdin closes (the
/// parent exited or dropped its [`Baseline`]).
pub(crate) fn serve_forever() -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    for stream in listener.incoming().flatten() {
        std::thread::Builder::new()
            .name("baseline-conn".into())
            .spawn(move || serve(stream))?;
    }
    Ok(())
}

fn serve(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut request = vec![0u8; 64 * 1024];
    let mut reply = vec![0u8; 64 * 1024];
    loop {
        let mut len = [0u8; 4];
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let len = i32::from_be_bytes(len).max(0) as usize;
        if len + 4 < MIN_FRAME || len > 1 << 30 {
            return;
        }
        if request.len() < len {
            request.resize(len, 0);
        }
        if stream.read_exact(&mut request[..len]).is_err() {
            return;
        }
        // Offsets in the layout count the 4-byte length prefix, which `request` does not hold.
        let at = REPLY_LEN_AT - 4;
        let reply_len = u32::from_be_bytes([
            request[at],
            request[at + 1],
            request[at + 2],
            request[at + 3],
        ]) as usize;
        if reply_len == 0 {
            continue;
        }
        let reply_len = reply_len.max(4);
        if reply.len() < reply_len + 4 {
            reply.resize(reply_len + 4, 0);
        }
        reply[..4].copy_from_slice(&(reply_len as i32).to_be_bytes());
        reply[4..8].copy_from_slice(&request[4..8]);
        if stream.write_all(&reply[..reply_len + 4]).is_err() {
            return;
        }
    }
}

/// A baseline request frame of `frame_len` bytes in all (at least 16) asking for a reply whose
/// payload is `reply_len` bytes (correlation id included), or none when 0.
pub(crate) fn request(frame_len: usize, reply_len: usize) -> Vec<u8> {
    let frame_len = frame_len.max(MIN_FRAME);
    let mut f = vec![0u8; frame_len];
    f[..4].copy_from_slice(&((frame_len - 4) as i32).to_be_bytes());
    f[4..6].copy_from_slice(&(-1i16).to_be_bytes());
    f[REPLY_LEN_AT..REPLY_LEN_AT + 4].copy_from_slice(&(reply_len as u32).to_be_bytes());
    f
}
