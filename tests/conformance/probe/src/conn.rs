//! One blocking connection that sends any request at any version and reports what came back,
//! including "nothing" (acks=0) and "the broker closed the connection".

use std::fmt::Debug;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// What a broker did with one request.
pub(crate) enum Answer<R> {
    /// A response, decoded.
    Response(R),
    /// The broker closed the connection instead of answering.
    Closed,
    /// No response: the next request on the connection was answered first.
    Nothing,
    /// A response that does not decode as the version asked for (the bytes after the header).
    Undecodable(Bytes),
}

impl<R: Debug> Answer<R> {
    /// How the answer is written down for the comparison.
    pub(crate) fn describe(&self) -> String {
        match self {
            Answer::Response(r) => format!("{r:#?}"),
            Answer::Closed => "connection closed".into(),
            Answer::Nothing => "no response".into(),
            Answer::Undecodable(b) => format!("undecodable response: {b:?}"),
        }
    }

    pub(crate) fn ok(self) -> Option<R> {
        match self {
            Answer::Response(r) => Some(r),
            _ => None,
        }
    }
}

pub(crate) struct Conn {
    addr: String,
    stream: Option<TcpStream>,
    next_id: i32,
}

impl Conn {
    pub(crate) fn new(addr: &str) -> Conn {
        Conn {
            addr: addr.to_owned(),
            stream: None,
            next_id: 1,
        }
    }

    fn stream(&mut self) -> Result<&mut TcpStream> {
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.addr)
                .with_context(|| format!("connecting to {}", self.addr))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
            self.stream = Some(s);
        }
        Ok(self.stream.as_mut().expect("just connected"))
    }

    /// Encodes and sends a request; returns its correlation id.
    pub(crate) fn send_body(&mut self, key: ApiKey, version: i16, body: &[u8]) -> Result<i32> {
        let id = self.next_id;
        self.next_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(id)
            .with_client_id(Some(StrBytes::from_static_str("probe")));
        let mut frame = BytesMut::new();
        frame.put_i32(0);
        header.encode(&mut frame, key.request_header_version(version))?;
        frame.extend_from_slice(body);
        let len = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&len.to_be_bytes());
        self.stream()?.write_all(&frame).context("sending")?;
        Ok(id)
    }

    /// Reads one response frame: its correlation id and the bytes after it, or `None` when the
    /// broker closed the connection.
    fn recv(&mut self) -> Result<Option<(i32, Bytes)>> {
        let stream = self.stream()?;
        let mut len = [0u8; 4];
        if stream.read_exact(&mut len).is_err() {
            self.stream = None;
            return Ok(None);
        }
        let len = i32::from_be_bytes(len);
        if !(4..=1 << 28).contains(&len) {
            bail!("response frame of {len} bytes");
        }
        let mut buf = vec![0u8; len as usize];
        if stream.read_exact(&mut buf).is_err() {
            self.stream = None;
            return Ok(None);
        }
        let mut body = Bytes::from(buf);
        let id = body.get_i32();
        Ok(Some((id, body)))
    }

    /// Sends `body` as `key` at `version` and decodes the answer as `R`.
    pub(crate) fn raw<R: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        body: &[u8],
    ) -> Result<Answer<R>> {
        let id = self.send_body(key, version, body)?;
        self.recv_decoded(id, key, version)
    }

    /// Reads the answer to request `id` and decodes it as `R` at `version` (which may differ from
    /// the version asked for: an unsupported ApiVersions is answered at v0).
    pub(crate) fn recv_decoded<R: Decodable>(
        &mut self,
        id: i32,
        key: ApiKey,
        version: i16,
    ) -> Result<Answer<R>> {
        let Some((got, mut bytes)) = self.recv()? else {
            return Ok(Answer::Closed);
        };
        if got != id {
            bail!("answer to {got} while waiting for {id}");
        }
        if key.response_header_version(version) >= 1 {
            skip_tagged_fields(&mut bytes)?;
        }
        let raw = bytes.clone();
        match R::decode(&mut bytes, version) {
            Ok(r) => Ok(Answer::Response(r)),
            Err(_) => Ok(Answer::Undecodable(raw)),
        }
    }

    /// Sends a request built with kafka-protocol.
    pub(crate) fn call<Q: Encodable, R: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        req: &Q,
    ) -> Result<Answer<R>> {
        let mut body = BytesMut::new();
        req.encode(&mut body, version)
            .with_context(|| format!("encoding {key:?} v{version}"))?;
        self.raw(key, version, &body)
    }

    /// Sends a request that may get no answer (Produce with acks=0), then an ApiVersions: if the
    /// ApiVersions answer comes first, the request got none.
    pub(crate) fn call_maybe_silent<Q: Encodable, R: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        req: &Q,
    ) -> Result<Answer<R>> {
        let mut body = BytesMut::new();
        req.encode(&mut body, version)?;
        let first = self.send_body(key, version, &body)?;
        let mut ping = BytesMut::new();
        ApiVersionsRequest::default().encode(&mut ping, 0)?;
        let second = self.send_body(ApiKey::ApiVersions, 0, &ping)?;
        let mut answer = Answer::Nothing;
        loop {
            let Some((got, mut bytes)) = self.recv()? else {
                return Ok(Answer::Closed);
            };
            if got == second {
                return Ok(answer);
            }
            if got != first {
                bail!("answer to {got} while waiting for {first} or {second}");
            }
            if key.response_header_version(version) >= 1 {
                skip_tagged_fields(&mut bytes)?;
            }
            answer = Answer::Response(R::decode(&mut bytes, version)?);
        }
    }
}

/// Skips the tagged-field section of a flexible response header.
fn skip_tagged_fields(buf: &mut Bytes) -> Result<()> {
    let count = read_uvarint(buf)?;
    for _ in 0..count {
        read_uvarint(buf)?;
        let len = read_uvarint(buf)? as usize;
        if buf.remaining() < len {
            bail!("truncated tagged field");
        }
        buf.advance(len);
    }
    Ok(())
}

fn read_uvarint(buf: &mut Bytes) -> Result<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        if !buf.has_remaining() {
            bail!("truncated varint");
        }
        let b = buf.get_u8();
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    bail!("varint too long")
}
