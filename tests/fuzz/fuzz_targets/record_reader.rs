//! The record reader a client runs on served xorb bytes: `RecordSplitter` fed in arbitrary
//! pieces, `decode_range`, and whole-object parsing. Input: 1 byte chunk count, 1 byte piece-size
//! seed, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xetfs::xet::reconstruction::ChunkRange;
use xetfs::xet::xorb::{decode_range, parse_xorb_object, RecordSplitter};

fuzz_target!(|data: &[u8]| {
    let [count, piece, body @ ..] = data else {
        return;
    };
    let range = ChunkRange::new(3, 3 + u32::from(*count % 64));

    // Streaming split in pieces of 1..=256 bytes.
    let mut splitter = RecordSplitter::new(range, body.len() as u64);
    let mut records = Vec::new();
    let mut split_ok = true;
    for p in body.chunks(usize::from(*piece) + 1) {
        match splitter.push(p) {
            Ok(r) => records.extend(r),
            Err(_) => {
                split_ok = false;
                break;
            }
        }
    }
    let split_ok = split_ok && splitter.finish().is_ok();

    match decode_range(body, range) {
        Ok(chunks) => {
            // Whatever decodes whole was split identically, record by record.
            assert!(split_ok, "decode_range accepted what the splitter rejected");
            assert_eq!(chunks.len(), records.len());
            assert_eq!(chunks.len() as u32, range.len());
            for (c, r) in chunks.iter().zip(&records) {
                assert_eq!(c.index, r.index);
                assert_eq!(c.data.len(), r.header.uncompressed_len as usize);
                assert_eq!(c.data, r.decode().expect("record decoded once already"));
            }
        }
        Err(_) => {
            // Structure may be fine while a payload is bad; then some record must fail to decode.
            if split_ok {
                assert!(records.iter().any(|r| r.decode().is_err()));
            }
        }
    }

    // Whole-object parsing: a parsed xorb re-serializes to an object that parses the same.
    if let Ok(x) = parse_xorb_object(body) {
        let again = parse_xorb_object(&x.to_stored_bytes()).expect("own stored form parses");
        assert_eq!(again, x);
        assert_eq!(parse_xorb_object(&x.records).expect("own records parse"), x);
    }
});
