//! Reconstruction responses (v2 and v1) from an untrusted CAS: serde + `validate` never panic,
//! and a validated response gives every term a source descriptor.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xetfs::xet::reconstruction::{ReconstructionV1, ReconstructionV2};

fn check(r: ReconstructionV2) {
    if r.validate().is_ok() {
        for t in &r.terms {
            let src = r.source_for(t).expect("validated term has a source");
            assert!(src.descriptor.chunks.contains_range(&t.range));
            assert!(!src.descriptor.bytes.is_empty());
        }
        let _ = r.unpacked_total();
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(v2) = serde_json::from_slice::<ReconstructionV2>(data) {
        check(v2);
    }
    if let Ok(v1) = serde_json::from_slice::<ReconstructionV1>(data) {
        check(v1.into());
    }
});
