//! File codecs: PNG read as raw 8-bit samples (palette indices never expanded), JPEG to RGB,
//! MAT via [`crate::mat`], and the writers the synthetic generator needs.

use std::path::Path;

use crate::error::{PascalError, Result};
use crate::mat::{parse_mat, MatValue};
use crate::plane::Plane;

/// PNG colour type of a decoded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PngKind {
    /// Grayscale ('L').
    Gray,
    /// Palette ('P'): values are palette indices.
    Palette,
    /// RGB.
    Rgb,
    /// Anything else (with alpha, ...).
    Other,
}

/// Largest image side accepted by the decoders (PASCAL images are ≤ 500 px).
pub const MAX_IMAGE_SIDE: u32 = 16384;
/// Largest decoded image, in bytes: what a decoder may allocate for one file.
pub const MAX_IMAGE_BYTES: usize = 1 << 30;

/// The bytes of a regular file; a FIFO, a device or a link to one is refused by name (reading
/// it could hang or never end).
pub fn read_regular(path: &Path) -> Result<Vec<u8>> {
    let md = std::fs::metadata(path).map_err(|e| PascalError::io(path, e))?;
    if !md.is_file() {
        return Err(PascalError::corrupt(
            path,
            "not a regular file (a FIFO, device or folder)",
        ));
    }
    std::fs::read(path).map_err(|e| PascalError::io(path, e))
}

/// Decode a PNG's raw samples: `H×W×C` 8-bit values, palette indices for 'P' files.
pub fn read_png_raw(path: &Path) -> Result<(Plane<u8>, PngKind)> {
    let bytes = read_regular(path)?;
    decode_png_raw(&bytes).map_err(|p| PascalError::corrupt(path, p))
}

/// Decode PNG bytes (see [`read_png_raw`]).
pub fn decode_png_raw(bytes: &[u8]) -> std::result::Result<(Plane<u8>, PngKind), String> {
    let mut dec = png::Decoder::new_with_limits(
        std::io::Cursor::new(bytes),
        png::Limits {
            bytes: MAX_IMAGE_BYTES,
        },
    );
    dec.set_transformations(png::Transformations::IDENTITY);
    let mut reader = dec
        .read_info()
        .map_err(|e| format!("not a readable PNG ({e})"))?;
    let info = reader.info();
    let (w, h) = (info.width as usize, info.height as usize);
    let (ct, depth) = (info.color_type, info.bit_depth);
    if depth != png::BitDepth::Eight {
        return Err(format!("PNG bit depth {depth:?} (expected 8-bit samples)"));
    }
    let (kind, c) = match ct {
        png::ColorType::Grayscale => (PngKind::Gray, 1),
        png::ColorType::Indexed => (PngKind::Palette, 1),
        png::ColorType::Rgb => (PngKind::Rgb, 3),
        png::ColorType::GrayscaleAlpha => (PngKind::Other, 2),
        png::ColorType::Rgba => (PngKind::Other, 4),
    };
    if w > MAX_IMAGE_SIDE as usize || h > MAX_IMAGE_SIDE as usize {
        return Err(format!(
            "PNG of {w}x{h} pixels (larger than {MAX_IMAGE_SIDE} per side)"
        ));
    }
    // deflate expands at most ~1032:1: a header may not claim more pixels than its file holds
    let size = reader.output_buffer_size();
    let bound = MAX_IMAGE_BYTES.min(bytes.len().saturating_mul(1100).saturating_add(1 << 20));
    if size > bound {
        return Err(format!(
            "PNG of {w}x{h} pixels ({size} bytes) cannot come from a {}-byte file (limit {bound})",
            bytes.len()
        ));
    }
    let mut buf = vec![0u8; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("corrupt PNG data ({e})"))?;
    buf.truncate(frame.buffer_size());
    let stride = frame.line_size;
    let mut data = Vec::with_capacity(h * w * c);
    for y in 0..h {
        data.extend_from_slice(&buf[y * stride..y * stride + w * c]);
    }
    Ok((Plane::from_vec(h, w, c, data), kind))
}

/// Decode a JPEG or PNG (by content, not extension) to RGB8: the one image reader of the
/// training data and of predict.
pub fn read_rgb(path: &Path) -> Result<Plane<u8>> {
    let bytes = read_regular(path)?;
    decode_rgb(&bytes).map_err(|p| PascalError::corrupt(path, p))
}

/// Decode JPEG or PNG bytes to RGB8 (see [`read_rgb`]) within [`MAX_IMAGE_SIDE`] and
/// [`MAX_IMAGE_BYTES`]; a JPEG without its end-of-image marker (a truncated file) is an error.
pub fn decode_rgb(bytes: &[u8]) -> std::result::Result<Plane<u8>, String> {
    let bad = |e: image::ImageError| format!("not a readable JPEG or PNG image ({e})");
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("not a readable JPEG or PNG image ({e})"))?;
    if reader.format() == Some(image::ImageFormat::Jpeg) {
        let tail = &bytes[bytes.len().saturating_sub(1024)..];
        if !tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
            return Err("truncated JPEG (no end-of-image marker)".into());
        }
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    // what a decoder may allocate: bounded by the file (JPEG and PNG compress far less than
    // 4096:1) and by MAX_IMAGE_BYTES
    let bound = MAX_IMAGE_BYTES.min(bytes.len().saturating_mul(4096).saturating_add(16 << 20));
    limits.max_alloc = Some(bound as u64);
    reader.limits(limits);
    let img = reader.decode().map_err(bad)?.into_rgb8();
    let (w, h) = img.dimensions();
    Ok(Plane::from_vec(h as usize, w as usize, 3, img.into_raw()))
}

/// Read and parse a MAT v5 file.
pub fn read_mat(path: &Path) -> Result<Vec<(String, MatValue)>> {
    let bytes = read_regular(path)?;
    parse_mat(&bytes).map_err(|e| PascalError::corrupt(path, format!("MAT v5: {}", e.0)))
}

/// Encode an 8-bit PNG: 1 channel as gray or palette (with `palette` RGB triples), or 3 as RGB.
pub fn encode_png(p: &Plane<u8>, palette: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, p.w as u32, p.h as u32);
        enc.set_depth(png::BitDepth::Eight);
        match (p.c, palette) {
            (1, Some(pal)) => {
                enc.set_color(png::ColorType::Indexed);
                enc.set_palette(pal.to_vec());
            }
            (1, None) => enc.set_color(png::ColorType::Grayscale),
            (3, _) => enc.set_color(png::ColorType::Rgb),
            (c, _) => panic!("encode_png: {c} channels"),
        }
        let mut w = enc.write_header().expect("in-memory PNG header");
        w.write_image_data(&p.data).expect("in-memory PNG data");
    }
    out
}

/// Encode an RGB8 JPEG with the given quality (4:2:0 chroma subsampling).
pub fn encode_jpeg(p: &Plane<u8>, quality: u8) -> Vec<u8> {
    assert_eq!(p.c, 3, "encode_jpeg: RGB only");
    let mut out = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    enc.encode(
        &p.data,
        p.w as u32,
        p.h as u32,
        image::ExtendedColorType::Rgb8,
    )
    .expect("in-memory JPEG encode");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(b: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        let mut body = kind.to_vec();
        body.extend(data);
        let mut crc = flate2::Crc::new();
        crc.update(&body);
        b.extend((data.len() as u32).to_be_bytes());
        b.extend(&body);
        b.extend(crc.sum().to_be_bytes());
    }

    /// A PNG declaring `w×h` 8-bit grayscale pixels, with a 2-byte IDAT (no real pixel data).
    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend(h.to_be_bytes());
        ihdr.extend([8, 0, 0, 0, 0]);
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut b, b"IHDR", &ihdr);
        chunk(&mut b, b"IDAT", &[0x78, 0x9c]);
        chunk(&mut b, b"IEND", &[]);
        b
    }

    #[test]
    fn a_png_header_is_not_trusted_with_an_allocation() {
        // 59 bytes declaring 100000×100000 pixels (10 GB)
        let e = decode_png_raw(&png_header(100_000, 100_000)).unwrap_err();
        assert!(e.contains("larger than 16384"), "{e}");
        // within the side limit, but more than 59 bytes can decompress to
        let e = decode_png_raw(&png_header(16_000, 16_000)).unwrap_err();
        assert!(e.contains("cannot come from a 59-byte file"), "{e}");
    }

    #[test]
    fn a_truncated_jpeg_is_an_error() {
        let img = Plane::from_vec(16, 16, 3, (0..768).map(|v| v as u8).collect());
        let jpeg = encode_jpeg(&img, 90);
        assert_eq!(decode_rgb(&jpeg).unwrap().data.len(), 768);
        let e = decode_rgb(&jpeg[..jpeg.len() * 2 / 3]).unwrap_err();
        assert!(e.contains("truncated JPEG"), "{e}");
    }

    #[test]
    fn devices_links_to_them_and_folders_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("zero.jpg");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        for p in [link.as_path(), dir.path()] {
            let e = read_rgb(p).unwrap_err().to_string();
            assert!(
                e.contains("not a regular file") && e.contains(&*p.to_string_lossy()),
                "{e}"
            );
        }
        let e = read_mat(&link).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }
}
