//! Label PNG decoding (semseg, saliency, normals: raw 8-bit samples).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = mtlora_pascal::codec::decode_png_raw(data);
});
