//! Value types whose JSON form differs from their postcard form: [`Hex`] bytes (a hex string
//! in JSON, raw bytes on the wire) and [`either!`] enums (the bare variant in JSON, a tagged
//! variant on the wire, since postcard cannot guess which variant it is reading).
//!
//! Both switch on [`serde::Serializer::is_human_readable`]: `serde_json` says yes, postcard
//! says no. The kernel only ever sees the postcard side.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// Bytes that JSON carries as lowercase hex and the wire carries as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Hex(pub Vec<u8>);

impl Hex {
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Hex {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl From<&[u8]> for Hex {
    fn from(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }
}

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&encode_hex(&self.0))
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            decode_hex(&text).map(Hex).map_err(de::Error::custom)
        } else {
            serde_bytes_vec(deserializer).map(Hex)
        }
    }
}

/// Postcard's byte strings, read without a per-byte sequence.
fn serde_bytes_vec<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    struct Bytes;
    impl<'de> de::Visitor<'de> for Bytes {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte string")
        }
        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
    }
    deserializer.deserialize_bytes(Bytes)
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Hex {
    fn schema_name() -> alloc::borrow::Cow<'static, str> {
        "Hex".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "pattern": "^([0-9a-fA-F]{2})*$"})
    }
}

/// Lowercase hex.
pub fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Why hex text was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HexError {
    /// An odd number of digits.
    OddLength,
    /// Not a hex digit at this position.
    BadDigit(usize),
    /// A different number of digits than the bytes asked for.
    WrongLength,
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexError::OddLength => f.write_str("hex needs an even number of digits"),
            HexError::BadDigit(at) => write!(f, "not a hex digit at position {at}"),
            HexError::WrongLength => f.write_str("wrong number of hex digits"),
        }
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex (either case) into a new vector.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, HexError> {
    if !text.len().is_multiple_of(2) {
        return Err(HexError::OddLength);
    }
    let mut out = alloc::vec![0u8; text.len() / 2];
    decode_hex_into(text, &mut out)?;
    Ok(out)
}

/// Decodes hex into exactly `out.len()` bytes.
pub fn decode_hex_into(text: &str, out: &mut [u8]) -> Result<(), HexError> {
    let digits = text.as_bytes();
    if digits.len() != out.len() * 2 {
        return Err(if digits.len().is_multiple_of(2) { HexError::WrongLength } else { HexError::OddLength });
    }
    for (i, byte) in out.iter_mut().enumerate() {
        let hi = nibble(digits[2 * i]).ok_or(HexError::BadDigit(2 * i))?;
        let lo = nibble(digits[2 * i + 1]).ok_or(HexError::BadDigit(2 * i + 1))?;
        *byte = hi << 4 | lo;
    }
    Ok(())
}

/// Declares an enum of two shapes that JSON tells apart by their content (untagged) and the
/// wire by a variant index, with its schema an `anyOf` of the two.
macro_rules! either {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $(#[$ameta:meta])* $a:ident($at:ty), $(#[$bmeta:meta])* $b:ident($bt:ty) $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        $vis enum $name {
            $(#[$ameta])*
            $a($at),
            $(#[$bmeta])*
            $b($bt),
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match (self, serializer.is_human_readable()) {
                    ($name::$a(v), true) => v.serialize(serializer),
                    ($name::$b(v), true) => v.serialize(serializer),
                    ($name::$a(v), false) => serializer.serialize_newtype_variant(stringify!($name), 0, stringify!($a), v),
                    ($name::$b(v), false) => serializer.serialize_newtype_variant(stringify!($name), 1, stringify!($b), v),
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                #[derive(serde::Deserialize)]
                enum Tagged {
                    $a($at),
                    $b($bt),
                }
                #[derive(serde::Deserialize)]
                #[serde(untagged)]
                enum Bare {
                    $a($at),
                    $b($bt),
                }
                if deserializer.is_human_readable() {
                    Ok(match Bare::deserialize(deserializer)? {
                        Bare::$a(v) => $name::$a(v),
                        Bare::$b(v) => $name::$b(v),
                    })
                } else {
                    Ok(match Tagged::deserialize(deserializer)? {
                        Tagged::$a(v) => $name::$a(v),
                        Tagged::$b(v) => $name::$b(v),
                    })
                }
            }
        }

        #[cfg(feature = "schema")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> alloc::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn inline_schema() -> bool {
                true
            }
            fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let a = generator.subschema_for::<$at>();
                let b = generator.subschema_for::<$bt>();
                schemars::json_schema!({"anyOf": [a, b]})
            }
        }
    };
}
pub(crate) use either;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_names_what_is_wrong() {
        assert_eq!(encode_hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(decode_hex("00AB10"), Ok(alloc::vec![0, 0xab, 0x10]));
        assert_eq!(decode_hex("abc"), Err(HexError::OddLength));
        assert_eq!(decode_hex("zz"), Err(HexError::BadDigit(0)));
        let mut four = [0u8; 4];
        assert_eq!(decode_hex_into("0011", &mut four), Err(HexError::WrongLength));
    }

    #[test]
    fn hex_is_raw_bytes_on_the_wire() {
        let bytes = postcard::to_allocvec(&Hex(alloc::vec![1, 2, 3])).unwrap();
        assert_eq!(bytes, [3, 1, 2, 3]);
        assert_eq!(postcard::from_bytes::<Hex>(&bytes).unwrap(), Hex(alloc::vec![1, 2, 3]));
    }
}
