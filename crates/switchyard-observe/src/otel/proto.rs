//! OTLP's protobuf messages (`opentelemetry/proto/trace/v1`, `common/v1`, `resource/v1`), written
//! straight from the spans' own data in protobuf's wire format.
//!
//! Building the generated message structs first would allocate a `String` for every attribute key and
//! value of every span; writing the wire format directly allocates nothing. The wire format needs
//! three things: varints, field keys (`field << 3 | wire type`) and length-prefixed bodies, whose
//! lengths are computed before the body is written. The tests decode what is written here with
//! `opentelemetry-proto`'s generated types.

/// Protobuf's wire types.
#[derive(Debug, Clone, Copy)]
#[repr(u8)]
enum WireType {
    Varint = 0,
    SixtyFourBit = 1,
    LengthDelimited = 2,
    ThirtyTwoBit = 5,
}

/// Appends `value` as a varint: seven bits a byte, low bits first, the high bit set on all but the last.
#[inline]
fn encode_varint(value: u64, buf: &mut Vec<u8>) {
    if value < 0x80 {
        // Keys and most lengths: one byte.
        #[expect(clippy::cast_possible_truncation, reason = "below 0x80")]
        buf.push(value as u8);
    } else if value < 0x4000 {
        // Ports and span lengths: two bytes.
        #[expect(clippy::cast_possible_truncation, reason = "below 0x4000")]
        buf.extend_from_slice(&[value as u8 | 0x80, (value >> 7) as u8]);
    } else {
        encode_long_varint(value, buf);
    }
}

#[cold]
fn encode_long_varint(mut value: u64, buf: &mut Vec<u8>) {
    while value >= 0x80 {
        #[expect(clippy::cast_possible_truncation, reason = "the low seven bits, and the flag")]
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    #[expect(clippy::cast_possible_truncation, reason = "below 0x80")]
    buf.push(value as u8);
}

/// The bytes `value` takes as a varint.
const fn encoded_len_varint(value: u64) -> usize {
    // One byte per started group of seven bits (`| 1` makes zero take one byte).
    ((value | 1).ilog2() + 1).div_ceil(7) as usize
}

#[inline]
fn encode_key(field: u32, wire: WireType, buf: &mut Vec<u8>) {
    encode_varint(u64::from(field << 3 | wire as u32), buf);
}

/// The bytes a field key takes.
const fn key_len(field: u32) -> usize {
    encoded_len_varint((field << 3) as u64)
}

/// `Span` fields.
pub(super) mod span {
    pub(in super::super) const TRACE_ID: u32 = 1;
    pub(in super::super) const SPAN_ID: u32 = 2;
    pub(in super::super) const TRACE_STATE: u32 = 3;
    pub(in super::super) const PARENT_SPAN_ID: u32 = 4;
    pub(in super::super) const NAME: u32 = 5;
    pub(in super::super) const KIND: u32 = 6;
    pub(in super::super) const START: u32 = 7;
    pub(in super::super) const END: u32 = 8;
    pub(in super::super) const ATTRIBUTES: u32 = 9;
    pub(in super::super) const STATUS: u32 = 15;
    pub(in super::super) const FLAGS: u32 = 16;
}

/// `Span.SpanKind` values.
pub(super) const KIND_SERVER: u64 = 2;
pub(super) const KIND_CLIENT: u64 = 3;

/// `Span.flags`: the W3C trace flags in the low byte, and whether the parent is remote (bit 8 says
/// the flag is known, bit 9 that it is set).
pub(super) const FLAG_SAMPLED: u32 = 0x01;
pub(super) const FLAG_HAS_IS_REMOTE: u32 = 0x100;
pub(super) const FLAG_IS_REMOTE: u32 = 0x200;

/// `Status.StatusCode` values.
pub(super) const STATUS_ERROR: u64 = 2;

/// A `LEN` field's key, length and `body`.
#[inline]
pub(super) fn bytes(buf: &mut Vec<u8>, field: u32, body: &[u8]) {
    encode_key(field, WireType::LengthDelimited, buf);
    encode_varint(body.len() as u64, buf);
    buf.extend_from_slice(body);
}

/// A `LEN` field's key and length, for a body the caller writes next.
#[inline]
pub(super) fn open(buf: &mut Vec<u8>, field: u32, len: usize) {
    encode_key(field, WireType::LengthDelimited, buf);
    encode_varint(len as u64, buf);
}

/// A `VARINT` field (`uint64`, `int64` as two's complement, enums).
#[inline]
pub(super) fn varint(buf: &mut Vec<u8>, field: u32, value: u64) {
    encode_key(field, WireType::Varint, buf);
    encode_varint(value, buf);
}

/// A `fixed64` field.
pub(super) fn fixed64(buf: &mut Vec<u8>, field: u32, value: u64) {
    encode_key(field, WireType::SixtyFourBit, buf);
    buf.extend_from_slice(&value.to_le_bytes());
}

/// A `fixed32` field.
pub(super) fn fixed32(buf: &mut Vec<u8>, field: u32, value: u32) {
    encode_key(field, WireType::ThirtyTwoBit, buf);
    buf.extend_from_slice(&value.to_le_bytes());
}

/// The encoded size of a `LEN` field with a body of `len` bytes.
#[inline]
pub(super) fn len_field(field: u32, len: usize) -> usize {
    key_len(field) + encoded_len_varint(len as u64) + len
}

/// A `double` field.
#[cfg_attr(not(feature = "metrics"), expect(dead_code, reason = "metrics.otlp's"))]
pub(super) fn double(buf: &mut Vec<u8>, field: u32, value: f64) {
    fixed64(buf, field, value.to_bits());
}

/// A packed `repeated fixed64` (or, with `f64::to_bits`, `repeated double`) field.
#[cfg_attr(not(feature = "metrics"), expect(dead_code, reason = "metrics.otlp's"))]
pub(super) fn packed_fixed64(buf: &mut Vec<u8>, field: u32, values: impl ExactSizeIterator<Item = u64>) {
    open(buf, field, values.len() * 8);
    for value in values {
        buf.extend_from_slice(&value.to_le_bytes());
    }
}

/// A `KeyValue` (in field `field`) whose value is a string.
///
/// Inlined, so that the copy of a constant key compiles to a few moves.
#[inline(always)]
pub(super) fn attr_str(buf: &mut Vec<u8>, field: u32, key: &str, value: &str) {
    attr_str_parts(buf, field, key, &[value]);
}

/// A `KeyValue` (in field `field`) whose value is the string `parts` make end to end.
#[inline(always)]
pub(super) fn attr_str_parts(buf: &mut Vec<u8>, field: u32, key: &str, parts: &[&str]) {
    let value_len: usize = parts.iter().map(|p| p.len()).sum();
    // The usual attribute: the pair's length (the key, the value and six bytes of framing) fits in
    // one byte, so every length does: four bytes of framing, the key, four more, the value.
    if let (Ok(tag), true) = (u8::try_from(field << 3 | 2), key.len() + value_len < 0x80 - 6) {
        #[expect(clippy::cast_possible_truncation, reason = "below 0x80")]
        let (key_len, value_len) = (key.len() as u8, value_len as u8);
        let any_len = value_len + 2;
        let pair = key_len + any_len + 4;
        buf.reserve(usize::from(pair) + 2);
        buf.extend_from_slice(&[tag, pair, 0x0a, key_len]);
        buf.extend_from_slice(key.as_bytes());
        buf.extend_from_slice(&[0x12, any_len, 0x0a, value_len]);
        for part in parts {
            buf.extend_from_slice(part.as_bytes());
        }
        return;
    }
    long_attr_str(buf, field, key, parts, value_len);
}

/// [`attr_str_parts`] with a length that takes more than a byte.
#[cold]
fn long_attr_str(buf: &mut Vec<u8>, field: u32, key: &str, parts: &[&str], value_len: usize) {
    let any = len_field(1, value_len);
    let pair = len_field(1, key.len()) + len_field(2, any);
    buf.reserve(len_field(field, pair));
    open(buf, field, pair);
    bytes(buf, 1, key.as_bytes());
    open(buf, 2, any);
    open(buf, 1, value_len);
    for part in parts {
        buf.extend_from_slice(part.as_bytes());
    }
}

/// A `KeyValue` (in field `field`) whose value is an integer.
#[inline(always)]
pub(super) fn attr_int(buf: &mut Vec<u8>, field: u32, key: &str, value: i64) {
    #[expect(clippy::cast_sign_loss, reason = "protobuf writes an int64 as its two's complement")]
    let value = value as u64;
    let any = key_len(3) + encoded_len_varint(value);
    let pair = len_field(1, key.len()) + len_field(2, any);
    if let (Ok(tag), Ok(short)) = (u8::try_from(field << 3 | 2), u8::try_from(pair)) {
        if short < 0x80 {
            // The usual attribute: four bytes of framing, the key, three more, the varint.
            #[expect(clippy::cast_possible_truncation, reason = "smaller than `pair`")]
            let (key_len, any_len) = (key.len() as u8, any as u8);
            buf.reserve(usize::from(short) + 2);
            buf.extend_from_slice(&[tag, short, 0x0a, key_len]);
            buf.extend_from_slice(key.as_bytes());
            buf.extend_from_slice(&[0x12, any_len, 3 << 3]);
            encode_varint(value, buf);
            return;
        }
    }
    open(buf, field, pair);
    bytes(buf, 1, key.as_bytes());
    open(buf, 2, any);
    varint(buf, 3, value);
}

/// A `KeyValue` (in field `field`) whose value is an array of strings; its key is `prefix` then
/// `name`.
pub(super) fn attr_str_array(buf: &mut Vec<u8>, field: u32, key: (&str, &str), values: &[&str]) {
    let array: usize = values.iter().map(|v| len_field(1, len_field(1, v.len()))).sum();
    let any = len_field(5, array);
    let key_len = key.0.len() + key.1.len();
    open(buf, field, len_field(1, key_len) + len_field(2, any));
    open(buf, 1, key_len);
    buf.extend_from_slice(key.0.as_bytes());
    buf.extend_from_slice(key.1.as_bytes());
    open(buf, 2, any);
    open(buf, 5, array);
    for value in values {
        open(buf, 1, len_field(1, value.len()));
        bytes(buf, 1, value.as_bytes());
    }
}

/// A `Status` (field 15 of a span) with an error code and its message.
pub(super) fn error_status(buf: &mut Vec<u8>, message: &str) {
    let len = len_field(2, message.len()) + key_len(3) + encoded_len_varint(STATUS_ERROR);
    open(buf, span::STATUS, len);
    bytes(buf, 2, message.as_bytes());
    varint(buf, 3, STATUS_ERROR);
}

/// The room [`export_request`] needs before the scope's fields for the framing of a request of
/// `resource` and `scope`: two keys and two lengths (of at most ten bytes each) around them.
pub(super) fn export_room(resource: &[u8], scope: &[u8]) -> usize {
    2 * (1 + 10) + len_field(1, resource.len()) + len_field(1, scope.len())
}

/// An `ExportTraceServiceRequest` of one resource and one scope: `resource` is the encoded `Resource`,
/// `scope` the encoded `InstrumentationScope`, and `buf` holds `room` bytes (at least
/// [`export_room`]) then the scope's `spans` fields, each with its key and length. The framing is
/// written at the end of the room, so that the fields are not copied; the request is `buf` from the
/// offset returned. With `metrics` fields in the place of `spans`, it is an
/// `ExportMetricsServiceRequest` (the two nest alike, with the same field numbers).
pub(super) fn frame_export_request(resource: &[u8], scope: &[u8], buf: &mut [u8], room: usize) -> usize {
    let fields = buf.len().saturating_sub(room);
    let scope_spans = len_field(1, scope.len()) + fields;
    let resource_spans = len_field(1, resource.len()) + len_field(2, scope_spans);
    let mut framing = Vec::with_capacity(room);
    open(&mut framing, 1, resource_spans);
    bytes(&mut framing, 1, resource);
    open(&mut framing, 2, scope_spans);
    bytes(&mut framing, 1, scope);
    let start = room.saturating_sub(framing.len());
    buf[start..room].copy_from_slice(&framing);
    start
}

/// [`frame_export_request`]'s request, as the bytes to send.
#[cfg_attr(not(feature = "metrics"), expect(dead_code, reason = "metrics.otlp's"))]
pub(super) fn export_request(resource: &[u8], scope: &[u8], mut buf: Vec<u8>, room: usize) -> bytes::Bytes {
    let start = frame_export_request(resource, scope, &mut buf, room);
    bytes::Bytes::from(buf).slice(start..)
}

/// A `Resource` with string attributes.
pub(super) fn resource(attributes: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in attributes {
        attr_str(&mut out, 1, key, value);
    }
    out
}

/// An `InstrumentationScope` with a name and a version.
pub(super) fn scope(name: &str, version: &str) -> Vec<u8> {
    let mut out = Vec::new();
    bytes(&mut out, 1, name.as_bytes());
    bytes(&mut out, 2, version.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_string_attributes_frame_alike() {
        use prost::Message as _;
        for (key, value) in [
            ("k", "v".to_owned()),
            ("url.full", "x".repeat(200)),
            (&*"k".repeat(130), String::new()),
            // The last pair that fits a one-byte length, and the first that does not.
            ("k", "x".repeat(120)),
            ("k", "x".repeat(121)),
        ] {
            let mut buf = Vec::new();
            attr_str(&mut buf, 1, key, &value);
            let mut parts = Vec::new();
            let (head, tail) = value.split_at(value.len() / 2);
            attr_str_parts(&mut parts, 1, key, &[head, "", tail]);
            assert_eq!(parts, buf, "{key}: one string or its parts encode alike");
            let resource = opentelemetry_proto::tonic::resource::v1::Resource::decode(buf.as_slice()).expect("valid");
            let attribute = &resource.attributes[0];
            assert_eq!(attribute.key, key);
            let decoded = attribute.value.as_ref().and_then(|v| v.value.clone());
            assert_eq!(
                decoded,
                Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                    value
                ))
            );
        }
    }

    #[test]
    fn integer_attributes_decode_whatever_their_size() {
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        use prost::Message as _;
        let long_key = "k".repeat(130);
        for (key, value) in [
            ("k", 0),
            ("http.response.status_code", 503),
            ("client.port", 65_535),
            ("negative", -1),
            (&*long_key, 7),
        ] {
            let mut buf = Vec::new();
            attr_int(&mut buf, 1, key, value);
            let resource = opentelemetry_proto::tonic::resource::v1::Resource::decode(buf.as_slice()).expect("valid");
            let attribute = &resource.attributes[0];
            assert_eq!(attribute.key, key);
            let decoded = attribute.value.as_ref().and_then(|v| v.value.clone());
            assert_eq!(decoded, Some(Value::IntValue(value)), "{key}");
        }
    }

    #[test]
    fn varints_and_their_lengths_agree_with_prost() {
        for value in [0, 1, 127, 128, 300, 16_383, 16_384, u64::from(u32::MAX), u64::MAX] {
            let mut ours = Vec::new();
            encode_varint(value, &mut ours);
            let mut theirs = Vec::new();
            prost::encoding::encode_varint(value, &mut theirs);
            assert_eq!(ours, theirs, "{value}");
            assert_eq!(encoded_len_varint(value), ours.len(), "{value}");
        }
        assert_eq!(key_len(15), 1);
        assert_eq!(key_len(16), 2);
    }
}
