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
