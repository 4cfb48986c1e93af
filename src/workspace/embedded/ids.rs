//! Fresh ids for created resources, shaped like Segment's: 22 base62 characters (sources,
//! warehouses, subscriptions, models, users), 24 hex digits (destinations, after a prefix for
//! functions), or a 27-character KSUID (filters, transformations, user groups, tracking plans
//! after `tp_`), as the ids in real Git Sync output are. Unique, not secret.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    h.finish()
}

fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut x = random_u64();
        for _ in 0..8 {
            if out.len() == len {
                break;
            }
            out.push(alphabet[(x % alphabet.len() as u64) as usize] as char);
            x /= alphabet.len() as u64;
        }
    }
    out
}

pub fn random_base62(len: usize) -> String {
    random_from(BASE62, len)
}

pub fn random_hex(len: usize) -> String {
    random_from(b"0123456789abcdef", len)
}

/// A KSUID (github.com/segmentio/ksuid, Segment's own format): 4 bytes of seconds since
/// 2014-05-13T16:53:20Z and 16 random bytes, as 27 base62 characters; they sort by time.
pub fn ksuid() -> String {
    const EPOCH: u64 = 1_400_000_000;
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(EPOCH);
    let mut bytes = [0u8; 20];
    bytes[..4].copy_from_slice(&u32::try_from(seconds).unwrap_or(u32::MAX).to_be_bytes());
    bytes[4..12].copy_from_slice(&random_u64().to_be_bytes());
    bytes[12..].copy_from_slice(&random_u64().to_be_bytes());
    // Base62 of the 160-bit big-endian number, by long division, left-padded with '0'.
    let mut digits = Vec::with_capacity(27);
    let mut number = bytes.to_vec();
    while number.iter().any(|b| *b != 0) {
        let mut remainder = 0u32;
        for b in number.iter_mut() {
            let acc = (remainder << 8) | u32::from(*b);
            *b = (acc / 62) as u8;
            remainder = acc % 62;
        }
        digits.push(BASE62[remainder as usize]);
    }
    while digits.len() < 27 {
        digits.push(b'0');
    }
    digits.iter().rev().map(|&d| d as char).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ksuids_have_segments_shape_and_sort_by_time() {
        let a = super::ksuid();
        assert_eq!(a.len(), 27, "{a}");
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()), "{a}");
        // Ids made since 2021 start with 2 (as 2l2FQE4EPsN16TX1Fy0SVPaixST does) until 2029.
        assert!(a.starts_with('2') || a.starts_with('3'), "{a}");
        assert_ne!(a, super::ksuid());
    }
}
