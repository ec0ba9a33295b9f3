//! A minimal protobuf reader for the tests (written apart from the encoder's helpers), and
//! `MetricsData` read back with it.

/// A protobuf field as read back by this minimal reader (written for the tests, independently
/// of the encoder's helpers).
#[derive(Debug, Clone)]
pub(crate) enum F {
    Varint(u64),
    Fixed64(u64),
    Bytes(Vec<u8>),
}

pub(crate) fn read(mut b: &[u8]) -> Vec<(u32, F)> {
    fn uv(b: &mut &[u8]) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = b[0];
            *b = &b[1..];
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return v;
            }
            shift += 7;
        }
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = uv(&mut b);
        let field = (key >> 3) as u32;
        let f = match key & 7 {
            0 => F::Varint(uv(&mut b)),
            1 => {
                let v = u64::from_le_bytes(b[..8].try_into().unwrap());
                b = &b[8..];
                F::Fixed64(v)
            }
            2 => {
                let n = uv(&mut b) as usize;
                let v = b[..n].to_vec();
                b = &b[n..];
                F::Bytes(v)
            }
            t => panic!("wire type {t}"),
        };
        out.push((field, f));
    }
    out
}

pub(crate) fn bytes(fields: &[(u32, F)], n: u32) -> Vec<Vec<u8>> {
    fields
        .iter()
        .filter(|(f, _)| *f == n)
        .filter_map(|(_, v)| match v {
            F::Bytes(b) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

pub(crate) fn one(fields: &[(u32, F)], n: u32) -> F {
    fields
        .iter()
        .find(|(f, _)| *f == n)
        .expect("field")
        .1
        .clone()
}

pub(crate) fn string(fields: &[(u32, F)], n: u32) -> String {
    String::from_utf8(bytes(fields, n).remove(0)).unwrap()
}

/// (name, kind, temporality, attributes, start, time, value) of each metric.
pub(crate) type Decoded = (
    String,
    &'static str,
    u64,
    Vec<(String, String)>,
    u64,
    u64,
    f64,
);

pub(crate) fn decode(data: &[u8]) -> (Vec<(String, String)>, Vec<Decoded>) {
    let md = read(data);
    let rms = bytes(&md, 1);
    assert_eq!(rms.len(), 1);
    let rm = read(&rms[0]);
    let kv = |b: &[u8]| {
        let f = read(b);
        let any = read(&bytes(&f, 2)[0]);
        (string(&f, 1), string(&any, 1))
    };
    let resource: Vec<_> = bytes(&read(&bytes(&rm, 1)[0]), 1)
        .iter()
        .map(|b| kv(b))
        .collect();
    let sm = read(&bytes(&rm, 2)[0]);
    let mut metrics = Vec::new();
    for m in bytes(&sm, 2) {
        let m = read(&m);
        let name = string(&m, 1);
        let (kind, body) = match (bytes(&m, 5).pop(), bytes(&m, 7).pop()) {
            (Some(g), None) => ("gauge", read(&g)),
            (None, Some(s)) => ("sum", read(&s)),
            other => panic!("{other:?}"),
        };
        let temporality = match kind {
            "sum" => {
                let F::Varint(mono) = one(&body, 3) else {
                    panic!()
                };
                assert_eq!(mono, 1, "monotonic");
                let F::Varint(t) = one(&body, 2) else {
                    panic!()
                };
                t
            }
            _ => 0,
        };
        let points = bytes(&body, 1);
        assert_eq!(points.len(), 1);
        let p = read(&points[0]);
        let attrs = bytes(&p, 7).iter().map(|b| kv(b)).collect();
        let start = match p.iter().find(|(f, _)| *f == 2) {
            Some((_, F::Fixed64(v))) => *v,
            _ => 0,
        };
        let F::Fixed64(time) = one(&p, 3) else {
            panic!()
        };
        let F::Fixed64(v) = one(&p, 4) else { panic!() };
        metrics.push((
            name,
            kind,
            temporality,
            attrs,
            start,
            time,
            f64::from_bits(v),
        ));
    }
    (resource, metrics)
}
