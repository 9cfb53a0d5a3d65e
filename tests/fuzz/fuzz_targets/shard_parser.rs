//! The shard parser (upload bodies and full shards): never panics, never allocates from a lying
//! count, and what it accepts re-serializes stably.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xetfs::xet::shard::{Shard, ShardFooterInfo};

fuzz_target!(|data: &[u8]| {
    let Ok(shard) = Shard::parse(data) else {
        return;
    };
    let upload = shard.serialize_upload();
    let reparsed = Shard::parse(&upload).expect("own upload form parses");
    assert_eq!(reparsed.serialize_upload(), upload);
    let footer = shard.footer.clone().unwrap_or(ShardFooterInfo::default());
    let unkeyed = ShardFooterInfo {
        chunk_hash_hmac_key: Default::default(),
        ..footer
    };
    let full = shard.serialize_full(&unkeyed);
    let from_full = Shard::parse(&full).expect("own full form parses");
    assert_eq!(from_full.files, reparsed.files);
    assert_eq!(from_full.xorbs, reparsed.xorbs);
    assert_eq!(from_full.footer, Some(unkeyed));
});
