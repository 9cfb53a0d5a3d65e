//! The 32-byte Xet hash and its string form.
//!
//! Raw bytes are used inside binary structures and as BLAKE3 input; everywhere else (URLs, JSON,
//! headers, merkle node text) the hash appears in the *Xet string form*: the 32 bytes read as four
//! little-endian u64 words, each printed as 16 lowercase hex digits (protocol §2.6). This is not
//! plain hex of the bytes — the byte-order quirk is the single most common interop bug.

use std::fmt;
use std::str::FromStr;

/// Key for chunk hashes (protocol §2.1).
pub const DATA_KEY: [u8; 32] = [
    102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28, 157, 228, 33, 16,
    155, 235, 43, 88, 180, 208, 176, 75, 147, 173, 242, 41,
];

/// Key for merkle internal nodes (protocol §2.2).
pub const INTERNAL_NODE_KEY: [u8; 32] = [
    1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230, 93, 221, 83, 111, 55,
    199, 109, 210, 248, 99, 82, 230, 74, 83, 113, 63,
];

/// Key for term verification hashes in shards (protocol §2.7).
pub const VERIFICATION_KEY: [u8; 32] = [
    127, 24, 87, 214, 206, 86, 237, 102, 18, 127, 249, 19, 231, 165, 195, 243, 164, 205, 38, 213,
    181, 219, 73, 230, 65, 36, 152, 127, 40, 251, 148, 195,
];

/// A Xet hash: chunk, xorb, file or verification hash. Always 32 raw bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MerkleHash([u8; 32]);

/// Why a string is not a valid Xet hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashParseError {
    #[error("a Xet hash has 64 hex characters, got {0}")]
    Length(usize),
    #[error("a Xet hash is hex, found {0:?}")]
    NotHex(char),
}

impl MerkleHash {
    /// 32 zero bytes: the hash of an empty file and of an empty merkle tree.
    pub const ZERO: MerkleHash = MerkleHash([0; 32]);

    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        MerkleHash(bytes)
    }

    /// Takes exactly 32 bytes; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Some(MerkleHash(bytes.try_into().ok()?))
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 32]
    }

    /// Word `i` (0..4) of the hash as a little-endian u64.
    pub fn word(&self, i: usize) -> u64 {
        u64::from_le_bytes(self.0[i * 8..i * 8 + 8].try_into().unwrap())
    }

    /// `u64_le(hash[24..32])`: drives merkle grouping and global-dedup eligibility.
    pub fn last_u64(&self) -> u64 {
        self.word(3)
    }

    /// `u64_le(hash[0..8])`: the truncated form used by shard lookup tables.
    pub fn first_u64(&self) -> u64 {
        self.word(0)
    }

    /// The Xet string form (64 lowercase hex characters).
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        self.write_hex(&mut s);
        s
    }

    fn write_hex(&self, out: &mut String) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for word in self.0.chunks_exact(8) {
            // Each 8-byte group is printed as a little-endian u64: bytes in reverse order.
            for &b in word.iter().rev() {
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }

    /// Parses the Xet string form (upper- or lowercase, exactly 64 characters).
    pub fn from_hex(s: &str) -> Result<Self, HashParseError> {
        if s.len() != 64 {
            return Err(HashParseError::Length(s.chars().count()));
        }
        let digits = s.as_bytes();
        let mut out = [0u8; 32];
        for (w, word) in out.chunks_exact_mut(8).enumerate() {
            for (j, byte) in word.iter_mut().rev().enumerate() {
                let at = w * 16 + j * 2;
                *byte = (hex_val(digits[at])? << 4) | hex_val(digits[at + 1])?;
            }
        }
        Ok(MerkleHash(out))
    }

    /// Plain hex of the raw bytes (byte 0 first), for test vectors and debugging only.
    pub fn to_raw_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Keyed BLAKE3 of `data`.
    pub fn keyed(key: &[u8; 32], data: &[u8]) -> Self {
        MerkleHash(*blake3::keyed_hash(key, data).as_bytes())
    }
}

fn hex_val(c: u8) -> Result<u8, HashParseError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(HashParseError::NotHex(c as char)),
    }
}

/// Chunk hash: keyed BLAKE3 (DATA_KEY) of the raw, uncompressed chunk bytes.
pub fn chunk_hash(data: &[u8]) -> MerkleHash {
    MerkleHash::keyed(&DATA_KEY, data)
}

/// Term verification hash over the raw chunk hashes of a term's chunks (protocol §2.7).
pub fn verification_hash(chunk_hashes: &[MerkleHash]) -> MerkleHash {
    let mut h = blake3::Hasher::new_keyed(&VERIFICATION_KEY);
    for c in chunk_hashes {
        h.update(c.as_bytes());
    }
    MerkleHash(*h.finalize().as_bytes())
}

impl fmt::Display for MerkleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for MerkleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MerkleHash({})", self.to_hex())
    }
}

impl FromStr for MerkleHash {
    type Err = HashParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MerkleHash::from_hex(s)
    }
}

impl serde::Serialize for MerkleHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for MerkleHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        MerkleHash::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_form_reverses_each_word() {
        let raw: [u8; 32] = std::array::from_fn(|i| i as u8);
        let h = MerkleHash::from_bytes(raw);
        assert_eq!(
            h.to_hex(),
            "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918"
        );
        assert_eq!(MerkleHash::from_hex(&h.to_hex()).unwrap(), h);
        assert_eq!(MerkleHash::from_hex(&h.to_hex().to_uppercase()).unwrap(), h);
    }

    #[test]
    fn bad_strings_are_errors() {
        assert_eq!(MerkleHash::from_hex("abc"), Err(HashParseError::Length(3)));
        let bad = "g".repeat(64);
        assert_eq!(MerkleHash::from_hex(&bad), Err(HashParseError::NotHex('g')));
        // 64 bytes but multi-byte characters must not panic on slicing.
        let wide = "é".repeat(32);
        assert!(MerkleHash::from_hex(&wide).is_err());
    }
}
