//! Reading a TLS ClientHello without consuming it: the server name (SNI) and the ALPN protocols a
//! connection asks for, so that a TCP router can pick it before any byte is forwarded or a handshake
//! starts. The bytes stay in the socket for whoever serves the connection (a passthrough backend, a
//! TLS handshake, HTTP).

use std::time::Duration;

use smallvec::SmallVec;
use tokio::net::TcpStream;

/// The content type of a TLS record carrying a handshake message.
pub(crate) const HANDSHAKE_RECORD: u8 = 0x16;
/// The handshake message type of a ClientHello.
const CLIENT_HELLO: u8 = 1;
/// The largest plaintext record TLS allows. A ClientHello split over several records does not parse
/// here and is left to the HTTPS side, whose handshake reads it whole.
const MAX_RECORD: usize = 16 * 1024;
/// The record header: type, version, length.
const RECORD_HEADER: usize = 5;
/// The `server_name` extension.
const EXT_SERVER_NAME: u16 = 0;
/// The `application_layer_protocol_negotiation` extension.
const EXT_ALPN: u16 = 16;

/// What a ClientHello asks for, borrowed from the peeked bytes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Hello<'a> {
    /// The host name of the `server_name` extension.
    pub(crate) server_name: Option<&'a str>,
    /// The protocols of the ALPN extension, in the client's order.
    pub(crate) alpn: SmallVec<[&'a [u8]; 4]>,
}

/// What the first bytes of a connection are.
#[derive(Debug)]
pub(crate) enum Opening {
    /// A TLS ClientHello record, whole, as peeked (parse it with [`parse`]).
    Tls(Vec<u8>),
    /// Something other than TLS.
    Plain,
    /// Nothing arrived within the wait: the client waits for the server to speak first.
    Silent,
    /// The client closed, failed, or sent a TLS record too slowly or too large to read.
    Gone,
}

/// Looks at the first bytes of `stream` without consuming them: waits up to `first_byte` for the first
/// one, then up to `hello` for the whole first record when it starts a TLS handshake.
pub(crate) async fn peek(stream: &TcpStream, first_byte: Duration, hello: Duration) -> Opening {
    let mut first = [0u8; 1];
    match tokio::time::timeout(first_byte, stream.peek(&mut first)).await {
        Err(_) => return Opening::Silent,
        Ok(Ok(1)) if first[0] == HANDSHAKE_RECORD => {}
        Ok(Ok(1)) => return Opening::Plain,
        Ok(_) => return Opening::Gone,
    }
    match tokio::time::timeout(hello, peek_record(stream)).await {
        Ok(Some(record)) => Opening::Tls(record),
        _ => Opening::Gone,
    }
}

/// Peeks until the first record is whole; `None` when the client closes first or announces a record
/// larger than TLS allows.
async fn peek_record(stream: &TcpStream) -> Option<Vec<u8>> {
    let mut header = [0u8; RECORD_HEADER];
    peek_exactly(stream, &mut header).await?;
    let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
    if length > MAX_RECORD {
        return None;
    }
    let mut record = vec![0u8; RECORD_HEADER + length];
    peek_exactly(stream, &mut record).await?;
    Some(record)
}

/// Fills `buf` by peeking, waiting while fewer bytes have arrived.
async fn peek_exactly(stream: &TcpStream, buf: &mut [u8]) -> Option<()> {
    loop {
        let n = stream.peek(buf).await.ok()?;
        if n == 0 {
            return None;
        }
        if n == buf.len() {
            return Some(());
        }
        // Peeking again at once would see the same bytes: give the rest time to arrive.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Reads the server name and ALPN protocols of a ClientHello record; `None` when the record is not a
/// well-formed ClientHello.
pub(crate) fn parse(record: &[u8]) -> Option<Hello<'_>> {
    let mut record = Reader(record);
    let (kind, _version) = (record.u8()?, record.u16()?);
    if kind != HANDSHAKE_RECORD {
        return None;
    }
    let mut fragment = Reader(record.vec16()?);
    if fragment.u8()? != CLIENT_HELLO {
        return None;
    }
    let mut body = Reader(fragment.vec24()?);
    body.skip(2 + 32)?; // legacy version, random
    body.vec8()?; // session id
    body.vec16()?; // cipher suites
    body.vec8()?; // compression methods
    let mut hello = Hello::default();
    if body.0.is_empty() {
        return Some(hello);
    }
    let mut extensions = Reader(body.vec16()?);
    while !extensions.0.is_empty() {
        let kind = extensions.u16()?;
        let data = extensions.vec16()?;
        match kind {
            EXT_SERVER_NAME => hello.server_name = server_name(data),
            EXT_ALPN => hello.alpn = alpn(data)?,
            _ => {}
        }
    }
    Some(hello)
}

/// The host name of a `server_name` extension (the first entry of type `host_name`).
fn server_name(data: &[u8]) -> Option<&str> {
    let mut list = Reader(Reader(data).vec16()?);
    while !list.0.is_empty() {
        let kind = list.u8()?;
        let name = list.vec16()?;
        if kind == 0 {
            return std::str::from_utf8(name).ok();
        }
    }
    None
}

/// The protocols of an ALPN extension.
fn alpn(data: &[u8]) -> Option<SmallVec<[&[u8]; 4]>> {
    let mut list = Reader(Reader(data).vec16()?);
    let mut protocols = SmallVec::new();
    while !list.0.is_empty() {
        protocols.push(list.vec8()?);
    }
    Some(protocols)
}

/// A cursor over bytes that refuses to read past their end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    fn vec24(&mut self) -> Option<&'a [u8]> {
        let b = self.take(3)?;
        self.take(usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello record with `extensions` (type, data).
    fn hello(extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut ext = Vec::new();
        for (kind, data) in extensions {
            ext.extend(kind.to_be_bytes());
            ext.extend(u16::try_from(data.len()).unwrap().to_be_bytes());
            ext.extend(data);
        }
        let mut body = vec![3, 3];
        body.extend([7u8; 32]);
        body.extend([0, 0, 2, 0x13, 0x01, 1, 0]);
        body.extend(u16::try_from(ext.len()).unwrap().to_be_bytes());
        body.extend(ext);
        let mut handshake = vec![CLIENT_HELLO, 0];
        handshake.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
        handshake.extend(body);
        let mut record = vec![HANDSHAKE_RECORD, 3, 1];
        record.extend(u16::try_from(handshake.len()).unwrap().to_be_bytes());
        record.extend(handshake);
        record
    }

    fn sni(name: &str) -> (u16, Vec<u8>) {
        let mut entry = vec![0];
        entry.extend(u16::try_from(name.len()).unwrap().to_be_bytes());
        entry.extend(name.as_bytes());
        let mut data = u16::try_from(entry.len()).unwrap().to_be_bytes().to_vec();
        data.extend(entry);
        (EXT_SERVER_NAME, data)
    }

    fn alpn_ext(protocols: &[&str]) -> (u16, Vec<u8>) {
        let mut list = Vec::new();
        for p in protocols {
            list.push(u8::try_from(p.len()).unwrap());
            list.extend(p.as_bytes());
        }
        let mut data = u16::try_from(list.len()).unwrap().to_be_bytes().to_vec();
        data.extend(list);
        (EXT_ALPN, data)
    }

    #[test]
    fn reads_server_name_and_alpn() {
        let record = hello(&[(23, vec![]), sni("db.example.com"), alpn_ext(&["h2", "postgresql"])]);
        let parsed = parse(&record).unwrap();
        assert_eq!(parsed.server_name, Some("db.example.com"));
        assert_eq!(parsed.alpn.as_slice(), [&b"h2"[..], b"postgresql"]);
        assert_eq!(parse(&hello(&[])).unwrap(), Hello::default());
    }

    #[test]
    fn refuses_truncated_and_hostile_records_without_panicking() {
        let record = hello(&[sni("a.example"), alpn_ext(&["h2"])]);
        for cut in 0..record.len() {
            let _ = parse(&record[..cut]);
        }
        let mut lying = record.clone();
        lying[RECORD_HEADER + 1] = 0xff; // a handshake length past the end
        assert_eq!(parse(&lying), None);
        let mut not_hello = record;
        not_hello[RECORD_HEADER] = 2;
        assert_eq!(parse(&not_hello), None);
        for seed in 0..2000u32 {
            let noise: Vec<u8> = (0..64)
                .map(|i| (seed.wrapping_mul(2_654_435_761).rotate_left(i) & 0xff) as u8)
                .collect();
            let _ = parse(&noise);
        }
    }

    #[tokio::test]
    async fn peeks_without_consuming() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let record = hello(&[sni("a.example")]);
        let sent = record.clone();
        let client = tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            // Split in two writes: the peek must wait for the rest of the record.
            stream.write_all(&sent[..10]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            stream.write_all(&sent[10..]).await.unwrap();
            stream
        });
        let (mut server, _) = listener.accept().await.unwrap();
        let Opening::Tls(peeked) = peek(&server, Duration::from_secs(5), Duration::from_secs(5)).await else {
            panic!("a ClientHello was sent")
        };
        assert_eq!(parse(&peeked).unwrap().server_name, Some("a.example"));
        let mut read = vec![0; record.len()];
        server.read_exact(&mut read).await.unwrap();
        assert_eq!(read, record);
        drop(client.await.unwrap());

        let silent = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        assert!(matches!(
            peek(&server, Duration::from_millis(50), Duration::from_secs(1)).await,
            Opening::Silent
        ));
        drop(silent);
    }
}
