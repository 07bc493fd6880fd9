//! Image decoding (JPEG or PNG to RGB8: training images and predict inputs).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = mtlora_pascal::codec::decode_rgb(data);
});
