//! Byte grouping for the BG4 scheme (§3.3) and the reference's `Auto` predictor for it.

/// Sizes of the four groups of an `n`-byte chunk: the first `n % 4` groups get one extra byte.
fn group_sizes(n: usize) -> [usize; 4] {
    let (q, r) = (n / 4, n % 4);
    std::array::from_fn(|j| q + usize::from(j < r))
}

/// Byte grouping: byte `k` goes to group `k % 4` (§3.3). Appends `data.len()` bytes to `out`.
pub fn bg4_split(data: &[u8], out: &mut Vec<u8>) {
    let n = data.len();
    let sizes = group_sizes(n);
    let base = out.len();
    out.resize(base + n, 0);
    let (g0, rest) = out[base..].split_at_mut(sizes[0]);
    let (g1, rest) = rest.split_at_mut(sizes[1]);
    let (g2, g3) = rest.split_at_mut(sizes[2]);
    let q = n / 4;
    // Whole 4-byte words: one u32 load split by shifts per word. LLVM vectorizes this form
    // (measured ~2x faster than byte moves).
    for ((((word, a), b), c), d) in data
        .chunks_exact(4)
        .zip(&mut g0[..q])
        .zip(&mut g1[..q])
        .zip(&mut g2[..q])
        .zip(&mut g3[..q])
    {
        let v = u32::from_le_bytes(word.try_into().unwrap());
        *a = v as u8;
        *b = (v >> 8) as u8;
        *c = (v >> 16) as u8;
        *d = (v >> 24) as u8;
    }
    // The last n % 4 bytes go one each to the first groups.
    let groups: [&mut [u8]; 3] = [g0, g1, g2];
    for (&byte, group) in data[4 * q..].iter().zip(groups) {
        group[q] = byte;
    }
}

/// Inverse of [`bg4_split`]. Appends `grouped.len()` bytes to `out`.
pub fn bg4_join(grouped: &[u8], out: &mut Vec<u8>) {
    let n = grouped.len();
    let base = out.len();
    out.resize(base + n, 0);
    bg4_join_into(grouped, &mut out[base..]);
}

/// [`bg4_join`] into a slice of exactly `grouped.len()` bytes.
pub(crate) fn bg4_join_into(grouped: &[u8], out: &mut [u8]) {
    debug_assert_eq!(grouped.len(), out.len());
    let n = grouped.len();
    let sizes = group_sizes(n);
    let (g0, rest) = grouped.split_at(sizes[0]);
    let (g1, rest) = rest.split_at(sizes[1]);
    let (g2, g3) = rest.split_at(sizes[2]);
    let q = n / 4;
    let (body, tail) = out.split_at_mut(4 * q);
    // One u32 built from four bytes and stored per word: LLVM vectorizes this form (measured
    // ~2x faster than byte moves, ~5x faster than 64-bit transposes).
    for ((((dst, &a), &b), &c), &d) in body
        .chunks_exact_mut(4)
        .zip(&g0[..q])
        .zip(&g1[..q])
        .zip(&g2[..q])
        .zip(&g3[..q])
    {
        let v = u32::from(a) | (u32::from(b) << 8) | (u32::from(c) << 16) | (u32::from(d) << 24);
        dst.copy_from_slice(&v.to_le_bytes());
    }
    let groups = [g0, g1, g2];
    for (dst, group) in tail.iter_mut().zip(groups) {
        *dst = group[q];
    }
}

/// The reference's `Auto` choice (xet-core `bg4_prediction.rs`): histograms of per-byte popcounts
/// for the four byte positions mod 4; BG4 when the largest KL divergence of one position's
/// histogram from the pooled one exceeds 0.02.
pub fn predict_bg4(sample: &[u8]) -> bool {
    let mut hist = [[0u32; 9]; 4];
    let mut words = sample.chunks_exact(4);
    for w in &mut words {
        for (h, &b) in hist.iter_mut().zip(w) {
            h[b.count_ones() as usize] += 1;
        }
    }
    for (h, &b) in hist.iter_mut().zip(words.remainder()) {
        h[b.count_ones() as usize] += 1;
    }

    // Same arithmetic, in the same order, as the reference: its NaN cases (an empty or partly
    // empty histogram gives 0 * ln 0) are dropped by `f64::max` exactly as there.
    let mut pooled = [1u32; 9];
    let mut totals = [0u32; 4];
    for (i, h) in hist.iter().enumerate() {
        for (j, &c) in h.iter().enumerate() {
            pooled[j] += c;
            totals[i] += c;
        }
    }
    let pooled_total: u32 = totals.iter().sum();
    let mut max_kl = 0f64;
    for (h, &total) in hist.iter().zip(&totals) {
        let mut kl = 0f64;
        for (&c, &base) in h.iter().zip(&pooled) {
            let p = c as f64 / total as f64;
            let q = base as f64 / pooled_total as f64;
            kl += p * (p / q).ln();
        }
        max_kl = max_kl.max(kl);
    }
    max_kl > 0.02
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_split(data: &[u8]) -> Vec<u8> {
        (0..4)
            .flat_map(|j| data.iter().skip(j).step_by(4).copied())
            .collect()
    }

    #[test]
    fn split_and_join_match_the_definition_for_all_small_sizes() {
        for n in 0..300usize {
            let data: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
            let mut grouped = vec![9u8]; // appends after existing content
            bg4_split(&data, &mut grouped);
            assert_eq!(&grouped[1..], naive_split(&data), "n={n}");
            let mut joined = vec![9u8];
            bg4_join(&grouped[1..], &mut joined);
            assert_eq!(&joined[1..], &data[..], "n={n}");
        }
    }

    #[test]
    fn predictor_prefers_bg4_for_structured_floats_not_text() {
        let floats: Vec<u8> = (0..16384u32)
            .flat_map(|i| ((i as f32 / 16384.0) - 0.5).to_le_bytes())
            .collect();
        assert!(predict_bg4(&floats));
        let text = "the quick brown fox jumps over the lazy dog\n".repeat(500);
        assert!(!predict_bg4(text.as_bytes()));
        assert!(!predict_bg4(&[]));
    }
}
