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

/// Decode a PNG's raw samples: `H×W×C` 8-bit values, palette indices for 'P' files.
pub fn read_png_raw(path: &Path) -> Result<(Plane<u8>, PngKind)> {
    let bytes = std::fs::read(path).map_err(|e| PascalError::io(path, e))?;
    decode_png_raw(&bytes).map_err(|p| PascalError::corrupt(path, p))
}

/// Decode PNG bytes (see [`read_png_raw`]).
pub fn decode_png_raw(bytes: &[u8]) -> std::result::Result<(Plane<u8>, PngKind), String> {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
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
    let mut buf = vec![0u8; reader.output_buffer_size()];
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
    let bytes = std::fs::read(path).map_err(|e| PascalError::io(path, e))?;
    let img = image::load_from_memory(&bytes)
        .map_err(|e| PascalError::corrupt(path, format!("not a readable JPEG or PNG image ({e})")))?
        .into_rgb8();
    let (w, h) = img.dimensions();
    Ok(Plane::from_vec(h as usize, w as usize, 3, img.into_raw()))
}

/// Read and parse a MAT v5 file.
pub fn read_mat(path: &Path) -> Result<Vec<(String, MatValue)>> {
    let bytes = std::fs::read(path).map_err(|e| PascalError::io(path, e))?;
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
