//! MAT v5 reader (human-parts annotations, PASCAL-Context label maps).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = mtlora_pascal::mat::parse_mat(data);
});
