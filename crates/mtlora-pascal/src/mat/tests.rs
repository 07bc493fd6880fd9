//! Round trips of the reader against the writer.

use super::*;

fn sample() -> MatValue {
    let part = MatValue::Struct {
        dims: vec![1, 2],
        fields: vec!["part_name".into(), "mask".into()],
        elems: vec![
            vec![string("hair"), matrix(2, 3, &[1., 0., 0., 0., 0., 0.], 9)],
            vec![string("lfoot"), matrix(2, 3, &[0., 0., 0., 0., 0., 1.], 9)],
        ],
    };
    let objects = MatValue::Struct {
        dims: vec![1, 2],
        fields: vec![
            "class".into(),
            "class_ind".into(),
            "mask".into(),
            "parts".into(),
        ],
        elems: vec![
            vec![
                string("person"),
                matrix(1, 1, &[15.0], 6),
                matrix(2, 3, &[1.; 6], 9),
                part,
            ],
            vec![
                string("dog"),
                matrix(1, 1, &[12.0], 6),
                matrix(2, 3, &[0., 1., 0., 0., 0., 0.], 9),
                MatValue::Numeric {
                    dims: vec![0, 0],
                    data: vec![],
                    class: 6,
                },
            ],
        ],
    };
    MatValue::Struct {
        dims: vec![1, 1],
        fields: vec!["imname".into(), "objects".into()],
        elems: vec![vec![string("2008_000001.jpg"), objects]],
    }
}

#[test]
fn round_trip_plain_and_compressed() {
    let v = sample();
    let lm = matrix(2, 2, &[158., 2., 284., 440.], 11);
    for compress in [false, true] {
        let bytes = write_mat(&[("anno", &v), ("LabelMap", &lm)], compress);
        let parsed = parse_mat(&bytes).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].0, "anno");
        assert_eq!(parsed[0].1, v);
        assert_eq!(
            parsed[1].1.as_matrix().unwrap(),
            (2, 2, vec![158., 2., 284., 440.])
        );
    }
}

#[test]
fn header_without_comma_is_accepted_and_garbage_rejected() {
    let mut bytes = write_mat(&[("x", &matrix(1, 1, &[3.0], 6))], false);
    bytes[..30].copy_from_slice(b"MATLAB 5.0 MAT-file Platform: ");
    assert_eq!(parse_mat(&bytes).unwrap()[0].1.scalar(), Some(3.0));
    assert!(parse_mat(b"hello").unwrap_err().0.contains("too short"));
    let mut bad = bytes.clone();
    bad[126] = b'X';
    assert!(parse_mat(&bad).is_err());
    let truncated = &bytes[..bytes.len() - 6];
    assert!(parse_mat(truncated).unwrap_err().0.contains("truncated"));
}

/// A MAT v5 file (little-endian) holding `elements` after the 128-byte header.
fn raw_file(elements: &[Vec<u8>]) -> Vec<u8> {
    let mut b = vec![b' '; 116];
    b[..10].copy_from_slice(b"MATLAB 5.0");
    b.extend([0u8; 8]);
    b.extend(0x0100u16.to_le_bytes());
    b.extend(b"IM");
    for e in elements {
        b.extend(e);
    }
    b
}

/// One element: tag, data, padding to 8 bytes.
fn el(ty: u32, data: &[u8]) -> Vec<u8> {
    let mut b = ty.to_le_bytes().to_vec();
    b.extend((data.len() as u32).to_le_bytes());
    b.extend(data);
    b.resize(b.len() + (8 - data.len() % 8) % 8, 0);
    b
}

/// A miMATRIX element of `class` with `dims` (as written, unchecked) and `rest` after the name.
fn array(class: u8, dims: &[i32], rest: &[u8]) -> Vec<u8> {
    let mut body = el(MI_UINT32, &[class, 0, 0, 0, 0, 0, 0, 0]);
    let d: Vec<u8> = dims.iter().flat_map(|v| v.to_le_bytes()).collect();
    body.extend(el(MI_INT32, &d));
    body.extend(el(MI_INT8, b"x"));
    body.extend(rest);
    el(MI_MATRIX, &body)
}

fn error_of(bytes: &[u8]) -> String {
    parse_mat(bytes).expect_err("must be refused").0
}

#[test]
fn declared_counts_beyond_the_bytes_are_refused_before_allocating() {
    // a 10⁵ × 10⁵ cell array in a file of a few hundred bytes
    let e = error_of(&raw_file(&[array(MX_CELL, &[100_000, 100_000], &[])]));
    assert!(e.contains("cell array declares 10000000000 entries"), "{e}");
    // 10⁹ elements of a struct without field names
    let mut rest = el(MI_INT32, &1i32.to_le_bytes());
    rest.extend(el(MI_INT8, &[]));
    let e = error_of(&raw_file(&[array(MX_STRUCT, &[1000, 1_000_000], &rest)]));
    assert!(e.contains("struct declares 1000000000 entries"), "{e}");
}

#[test]
fn dimensions_that_overflow_or_are_negative_are_refused() {
    let big = i32::MAX;
    let e = error_of(&raw_file(&[array(6, &[big, big, big], &[])]));
    assert!(e.contains("overflow"), "{e}");
    let e = error_of(&raw_file(&[array(6, &[2, -1], &[])]));
    assert!(e.contains("array dimension -1"), "{e}");
}

#[test]
fn nesting_deeper_than_the_limit_is_refused() {
    let mut v = array(6, &[0, 0], &[]);
    for _ in 0..40 {
        v = array(MX_CELL, &[1, 1], &v);
    }
    let e = error_of(&raw_file(&[v.clone()]));
    assert!(e.contains("nested deeper than 32 levels"), "{e}");
    // within the limit the same shape parses
    let limits = MatLimits {
        max_depth: 64,
        ..Default::default()
    };
    assert_eq!(
        parse_mat_with_limits(&raw_file(&[v]), &limits)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_compressed_element_inflating_past_the_limit_is_refused() {
    let inner = array(6, &[0, 0], &vec![0u8; 1 << 20]);
    let mut z = flate2::write::ZlibEncoder::new(vec![], flate2::Compression::best());
    std::io::Write::write_all(&mut z, &inner).unwrap();
    let file = raw_file(&[el(MI_COMPRESSED, &z.finish().unwrap())]);
    assert!(file.len() < 4096, "a small file: {} bytes", file.len());
    let limits = MatLimits {
        max_inflated: 64 << 10,
        ..Default::default()
    };
    let e = parse_mat_with_limits(&file, &limits).unwrap_err().0;
    assert!(e.contains("inflates to more than 65536 bytes"), "{e}");
}
