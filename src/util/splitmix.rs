//! SplitMix64: the deterministic generator of the reference test vectors
//! (tests/vectors/README.md), of the demo's sample repos, and of test and benchmark data.

/// A SplitMix64 stream.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Appends `len` bytes (each output as 8 little-endian bytes, the last truncated).
    pub fn fill(&mut self, out: &mut Vec<u8>, len: usize) {
        let start = out.len();
        out.reserve(len);
        while out.len() - start < len {
            let take = (len - (out.len() - start)).min(8);
            out.extend_from_slice(&self.next_u64().to_le_bytes()[..take]);
        }
    }
}

/// `len` bytes of SplitMix64 output for `seed`.
pub fn splitmix_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut v = Vec::new();
    SplitMix64::new(seed).fill(&mut v, len);
    v
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    /// The known answers of the reference vectors: the first 8 bytes for seed 1 (vectors
    /// README) and the SHA-256 of `chunking/splitmix_8191.json`'s input (seed 1, 8191 bytes).
    #[test]
    fn matches_the_reference_vectors() {
        let data = splitmix_bytes(1, 8191);
        assert_eq!(hex::encode(&data[..8]), "c15c0289ec2d0a91");
        assert_eq!(
            hex::encode(Sha256::digest(&data)),
            "8137760e669238bc2a1a94ff5c92cd8bb9cc2855ad539b78af7eb65300410af8"
        );
        assert_eq!(splitmix_bytes(1, 13)[..], data[..13]);
    }
}
