//! Streamline containers and file formats: TrackVis `.trk` (v2) and MRtrix `.tck`.
//!
//! Points are always world millimetres (RAS+) in memory.
//!
//! - **TCK** (MRtrix, <https://mrtrix.readthedocs.io/en/latest/getting_started/image_data.html#tracks-file-format-tck>):
//!   a text header (`mrtrix tracks`, `key: value` lines, `file: . OFFSET`, `END`), then float32
//!   triplets in world mm; a NaN triplet ends each streamline and an Inf triplet ends the file.
//!   [`write_tck`] writes little-endian float32 and the header keys `count`, `datatype`, `file`
//!   plus any extra lines (the tracking parameters as JSON); [`read_tck`] reads Float32/64 LE/BE.
//! - **TRK** (TrackVis v2, <http://trackvis.org/docs/?subsect=fileformat>): a 1000-byte header
//!   then, per streamline, an int32 point count and float32 points, each followed by its
//!   `n_scalars` per-point scalars (named in the header's `scalar_name` slots, 10 × 20 bytes;
//!   nibabel writes a name with k > 1 values as `name\0k`), then `n_properties` per-streamline
//!   values (read and skipped). [`write_trk_with_scalars`] writes per-point scalars (e.g. FA
//!   and MD), [`read_trk`] returns them. Points are in TrackVis "voxmm" space, the voxel-*corner*
//!   convention nibabel uses (`nibabel.streamlines.trk.get_affine_trackvis_to_rasmm`):
//!   `ras = vox_to_ras · (voxmm / voxel_size − ½)`, after re-ordering axes when the header's
//!   `voxel_order` differs from the orientation of `vox_to_ras`. An empty voxel order means
//!   `LPS` and an unset `vox_to_ras` (`[3][3] = 0`) means the identity, as in nibabel.
//!
//! TRX is in [`crate::trx`].

// Small fixed-size (3, 4, 6) index loops over several arrays read best with indices.
#![allow(clippy::needless_range_loop)]

use std::io::Write;

use crate::error::{DtiError, Result};
use crate::track::affine_inverse;

/// A list of streamlines stored flat: points and per-streamline offsets (TRX-like).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Streamlines {
    points: Vec<[f32; 3]>,
    /// `offsets[i]..offsets[i+1]` are the points of streamline `i`; starts with 0.
    offsets: Vec<usize>,
}

impl Streamlines {
    /// Number of streamlines.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }
    /// True without streamlines.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Total number of points.
    pub fn n_points(&self) -> usize {
        self.points.len()
    }
    /// Points of streamline `i` (empty slice when out of range).
    pub fn get(&self, i: usize) -> &[[f32; 3]] {
        if i + 1 >= self.offsets.len() {
            return &[];
        }
        &self.points[self.offsets[i]..self.offsets[i + 1]]
    }
    /// Iterator over streamlines.
    pub fn iter(&self) -> impl Iterator<Item = &[[f32; 3]]> {
        (0..self.len()).map(move |i| self.get(i))
    }
    /// All points, flat.
    pub fn points(&self) -> &[[f32; 3]] {
        &self.points
    }
    /// Appends one streamline.
    pub fn push(&mut self, line: &[[f32; 3]]) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.points.extend_from_slice(line);
        self.offsets.push(self.points.len());
    }
    pub(crate) fn push_f64(&mut self, line: &[[f64; 3]]) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.points
            .extend(line.iter().map(|p| [p[0] as f32, p[1] as f32, p[2] as f32]));
        self.offsets.push(self.points.len());
    }
    /// Appends all streamlines of `other`.
    pub fn extend(&mut self, other: &Streamlines) {
        for l in other.iter() {
            self.push(l);
        }
    }
    /// Length in mm of streamline `i` (sum of segment lengths).
    pub fn length_mm(&self, i: usize) -> f64 {
        self.get(i)
            .windows(2)
            .map(|w| {
                let d: f64 = (0..3).map(|k| f64::from(w[1][k] - w[0][k]).powi(2)).sum();
                d.sqrt()
            })
            .sum()
    }
}

fn io_err(what: &str, e: std::io::Error) -> DtiError {
    DtiError::Invalid {
        what: what.into(),
        message: e.to_string(),
    }
}

fn bad(what: &str, message: String) -> DtiError {
    DtiError::Invalid {
        what: what.into(),
        message,
    }
}

/// Writes a TCK file: header with `extra` key/value lines, then float32 LE points.
pub fn write_tck<W: Write>(w: &mut W, s: &Streamlines, extra: &[(String, String)]) -> Result<()> {
    let mut head = String::from("mrtrix tracks\n");
    for (k, v) in extra {
        if k.contains(['\n', ':']) || v.contains('\n') {
            return Err(bad(
                "TCK header",
                format!("key/value '{k}' is not one line"),
            ));
        }
        head.push_str(&format!("{k}: {v}\n"));
    }
    head.push_str(&format!("count: {:010}\ndatatype: Float32LE\n", s.len()));
    // The offset line's own length depends on the offset: iterate to the fixed point.
    let mut offset = head.len() + 20;
    loop {
        let line = format!("file: . {offset}\nEND\n");
        let total = head.len() + line.len();
        if total <= offset {
            head.push_str(&line);
            break;
        }
        offset = total;
    }
    let mut bytes = head.into_bytes();
    bytes.resize(offset, 0);
    bytes.reserve((s.n_points() + s.len() + 1) * 12);
    let put = |p: [f32; 3], b: &mut Vec<u8>| {
        for v in p {
            b.extend_from_slice(&v.to_le_bytes());
        }
    };
    for line in s.iter() {
        for &p in line {
            put(p, &mut bytes);
        }
        put([f32::NAN; 3], &mut bytes);
    }
    put([f32::INFINITY; 3], &mut bytes);
    w.write_all(&bytes).map_err(|e| io_err("TCK", e))
}

/// A TCK file's content: streamlines (world mm) and header key/value lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Tck {
    /// Streamlines.
    pub streamlines: Streamlines,
    /// Header lines other than the magic and `END`, in file order.
    pub header: Vec<(String, String)>,
}

/// Reads a TCK file from bytes.
pub fn read_tck(bytes: &[u8]) -> Result<Tck> {
    const W: &str = "TCK";
    if !bytes.starts_with(b"mrtrix tracks\n") {
        return Err(bad(W, "missing 'mrtrix tracks' magic line".into()));
    }
    let mut header = Vec::new();
    let mut pos = 14;
    let mut ended = false;
    while pos < bytes.len() {
        let end = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|e| pos + e)
            .ok_or_else(|| bad(W, "header has no END line".into()))?;
        let line = std::str::from_utf8(&bytes[pos..end])
            .map_err(|_| bad(W, "header is not UTF-8".into()))?;
        pos = end + 1;
        let line = line.trim_end_matches('\r');
        if line == "END" {
            ended = true;
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            header.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    if !ended {
        return Err(bad(W, "header has no END line".into()));
    }
    let get = |k: &str| header.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str());
    let file = get("file").ok_or_else(|| bad(W, "no 'file' key".into()))?;
    let offset: usize = file
        .strip_prefix('.')
        .map(str::trim)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(W, format!("'file: {file}' is not '. OFFSET'")))?;
    let dt = get("datatype").ok_or_else(|| bad(W, "no 'datatype' key".into()))?;
    let (size, le) = match dt {
        "Float32LE" => (4, true),
        "Float32BE" => (4, false),
        "Float64LE" => (8, true),
        "Float64BE" => (8, false),
        other => return Err(bad(W, format!("unsupported datatype '{other}'"))),
    };
    if offset > bytes.len() {
        return Err(bad(W, format!("data offset {offset} beyond the file end")));
    }
    let data = &bytes[offset..];
    let rd = |i: usize| -> f64 {
        let b = &data[i * size..(i + 1) * size];
        match (size, le) {
            (4, true) => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            (4, false) => f64::from(f32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            (_, true) => f64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
            (_, false) => f64::from_be_bytes(b.try_into().unwrap_or([0; 8])),
        }
    };
    let n_trip = data.len() / (3 * size);
    let mut s = Streamlines::default();
    let mut cur: Vec<[f32; 3]> = Vec::new();
    let mut finished = false;
    for t in 0..n_trip {
        let p = [rd(3 * t), rd(3 * t + 1), rd(3 * t + 2)];
        if p.iter().any(|v| v.is_infinite()) {
            finished = true;
            break;
        }
        if p.iter().any(|v| v.is_nan()) {
            s.push(&cur);
            cur.clear();
        } else {
            cur.push([p[0] as f32, p[1] as f32, p[2] as f32]);
        }
    }
    if !cur.is_empty() {
        // A file without the Inf terminator (truncated) keeps its last complete streamline only.
        if finished {
            s.push(&cur);
        }
    }
    if let Some(c) = get("count").and_then(|c| c.parse::<usize>().ok())
        && c != s.len()
    {
        return Err(bad(
            W,
            format!("header count {c} but {} streamlines read", s.len()),
        ));
    }
    Ok(Tck {
        streamlines: s,
        header,
    })
}

/// The TRK header fields this crate reads and writes.
#[derive(Debug, Clone, PartialEq)]
pub struct TrkHeader {
    /// Image dimensions.
    pub dims: [i16; 3],
    /// Voxel sizes, mm.
    pub voxel_size: [f32; 3],
    /// Voxel-to-RAS affine (4×4, last row 0 0 0 1).
    pub vox_to_ras: [[f32; 4]; 4],
    /// Voxel order, e.g. `LAS`.
    pub voxel_order: String,
    /// Scalars per point.
    pub n_scalars: i16,
    /// Properties per streamline.
    pub n_properties: i16,
    /// Streamline count (0 = unknown).
    pub n_count: i32,
}

impl TrkHeader {
    /// Header for a grid with voxel→world affine `affine` (as a NIfTI image's).
    pub fn from_grid(dims: [usize; 3], affine: &[[f64; 4]; 3]) -> Result<Self> {
        let mut d = [0i16; 3];
        for k in 0..3 {
            d[k] = i16::try_from(dims[k])
                .map_err(|_| bad("TRK header", format!("dimension {} exceeds 32767", dims[k])))?;
        }
        let mut vs = [0f32; 3];
        for (j, v) in vs.iter_mut().enumerate() {
            *v = (0..3).map(|i| affine[i][j].powi(2)).sum::<f64>().sqrt() as f32;
        }
        let mut m = [[0f32; 4]; 4];
        for i in 0..3 {
            for j in 0..4 {
                m[i][j] = affine[i][j] as f32;
            }
        }
        m[3][3] = 1.0;
        Ok(Self {
            dims: d,
            voxel_size: vs,
            vox_to_ras: m,
            voxel_order: axcodes(affine).iter().collect(),
            n_scalars: 0,
            n_properties: 0,
            n_count: 0,
        })
    }
}

/// Orientation letters of a voxel→world affine (nibabel `aff2axcodes` for non-degenerate
/// affines: the world axis with the largest component of each voxel axis).
fn axcodes(a: &[[f64; 4]; 3]) -> [char; 3] {
    let mut out = ['?'; 3];
    for (j, o) in out.iter_mut().enumerate() {
        let col = [a[0][j], a[1][j], a[2][j]];
        let mut k = 0;
        for i in 1..3 {
            if col[i].abs() > col[k].abs() {
                k = i;
            }
        }
        let pos = col[k] >= 0.0;
        *o = match (k, pos) {
            (0, true) => 'R',
            (0, false) => 'L',
            (1, true) => 'A',
            (1, false) => 'P',
            (_, true) => 'S',
            (_, false) => 'I',
        };
    }
    out
}

fn axis_of(c: char) -> Option<(usize, bool)> {
    match c.to_ascii_uppercase() {
        'R' => Some((0, true)),
        'L' => Some((0, false)),
        'A' => Some((1, true)),
        'P' => Some((1, false)),
        'S' => Some((2, true)),
        'I' => Some((2, false)),
        _ => None,
    }
}

/// Affine (3×4) from TrackVis voxmm to RAS mm, nibabel's `get_affine_trackvis_to_rasmm`.
fn trackvis_to_rasmm(h: &TrkHeader) -> Result<[[f64; 4]; 3]> {
    const W: &str = "TRK header";
    let vs = h.voxel_size.map(f64::from);
    if vs.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(bad(W, format!("voxel sizes {vs:?} must be positive")));
    }
    let v2r: [[f64; 4]; 3] = if h.vox_to_ras[3][3] == 0.0 {
        [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ]
    } else {
        let m = h.vox_to_ras;
        [0, 1, 2].map(|i| [0, 1, 2, 3].map(|j| f64::from(m[i][j])))
    };
    let aff_codes = axcodes(&v2r);
    let order: Vec<char> = if h.voxel_order.trim().is_empty() {
        vec!['L', 'P', 'S']
    } else {
        h.voxel_order.trim().chars().take(3).collect()
    };
    let hdr: Vec<(usize, bool)> = order.iter().filter_map(|&c| axis_of(c)).collect();
    let aff: Vec<(usize, bool)> = aff_codes.iter().filter_map(|&c| axis_of(c)).collect();
    if hdr.len() != 3 || aff.len() != 3 {
        return Err(bad(
            W,
            format!("voxel order '{}' is not three of RLAPSI", h.voxel_order),
        ));
    }
    // M: header voxel index → affine voxel index (permute and flip), then voxmm → voxel.
    let mut m = [[0.0f64; 4]; 3];
    for (i, &(world_axis, pos)) in hdr.iter().enumerate() {
        let j = aff
            .iter()
            .position(|&(wa, _)| wa == world_axis)
            .ok_or_else(|| {
                bad(
                    W,
                    format!("voxel order '{}' is not a valid orientation", h.voxel_order),
                )
            })?;
        let scale = 1.0 / vs[i];
        if aff[j].1 == pos {
            m[j][i] = scale;
            m[j][3] = -0.5;
        } else {
            let dim = f64::from(h.dims[i]);
            m[j][i] = -scale;
            m[j][3] = 0.5 + dim - 1.0;
        }
    }
    // ras = v2r · M · [voxmm, 1].
    let mut out = [[0.0f64; 4]; 3];
    for r in 0..3 {
        for c in 0..4 {
            let mut s = 0.0;
            for k in 0..3 {
                s += v2r[r][k] * m[k][c];
            }
            if c == 3 {
                s += v2r[r][3];
            }
            out[r][c] = s;
        }
    }
    Ok(out)
}

fn put_i16(b: &mut [u8], at: usize, v: i16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_i32(b: &mut [u8], at: usize, v: i32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_f32(b: &mut [u8], at: usize, v: f32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Writes a little-endian TRK v2 file with `header`'s grid, without scalars or properties
/// (`n_count` is set to the streamline count).
pub fn write_trk<W: Write>(w: &mut W, s: &Streamlines, header: &TrkHeader) -> Result<()> {
    write_trk_with_scalars(w, s, header, &[])
}

/// Writes a little-endian TRK v2 file with per-point scalars: `scalars` are (name, one value
/// per point of `s`, in point order), at most 10, names of 1 to 19 bytes without NUL (each
/// fills one `scalar_name` slot, as nibabel writes one-valued data per point). Properties are
/// written as 0; `n_count` is set to the streamline count.
pub fn write_trk_with_scalars<W: Write>(
    w: &mut W,
    s: &Streamlines,
    header: &TrkHeader,
    scalars: &[(&str, &[f32])],
) -> Result<()> {
    if scalars.len() > 10 {
        return Err(bad(
            "TRK",
            format!(
                "{} scalars per point (the header names at most 10)",
                scalars.len()
            ),
        ));
    }
    for (name, v) in scalars {
        if name.is_empty() || name.len() > 19 || name.contains('\0') {
            return Err(bad(
                "TRK",
                format!("scalar name '{name}' must be 1 to 19 bytes without NUL"),
            ));
        }
        if v.len() != s.n_points() {
            return Err(bad(
                "TRK",
                format!(
                    "scalar '{name}' has {} values for {} points",
                    v.len(),
                    s.n_points()
                ),
            ));
        }
    }
    let mut h = header.clone();
    h.n_scalars = scalars.len() as i16;
    h.n_properties = 0;
    h.n_count = i32::try_from(s.len()).map_err(|_| bad("TRK", "too many streamlines".into()))?;
    let to_tv = affine_inverse(&trackvis_to_rasmm(&h)?)
        .ok_or_else(|| bad("TRK header", "vox_to_ras is singular".into()))?;
    let mut b = vec![0u8; 1000];
    b[0..6].copy_from_slice(b"TRACK\0");
    for k in 0..3 {
        put_i16(&mut b, 6 + 2 * k, h.dims[k]);
        put_f32(&mut b, 12 + 4 * k, h.voxel_size[k]);
    }
    for i in 0..4 {
        for j in 0..4 {
            put_f32(&mut b, 440 + 4 * (4 * i + j), h.vox_to_ras[i][j]);
        }
    }
    let vo = h.voxel_order.as_bytes();
    let n = vo.len().min(3);
    b[948..948 + n].copy_from_slice(&vo[..n]);
    put_i16(&mut b, 36, h.n_scalars);
    for (k, (name, _)) in scalars.iter().enumerate() {
        let at = 38 + 20 * k;
        b[at..at + name.len()].copy_from_slice(name.as_bytes());
    }
    put_i32(&mut b, 988, h.n_count);
    put_i32(&mut b, 992, 2);
    put_i32(&mut b, 996, 1000);
    b.reserve(s.len() * 4 + s.n_points() * (12 + 4 * scalars.len()));
    let mut k = 0;
    for line in s.iter() {
        let np = i32::try_from(line.len()).map_err(|_| bad("TRK", "streamline too long".into()))?;
        b.extend_from_slice(&np.to_le_bytes());
        for p in line {
            let q = [f64::from(p[0]), f64::from(p[1]), f64::from(p[2])];
            for r in &to_tv {
                let v = r[0] * q[0] + r[1] * q[1] + r[2] * q[2] + r[3];
                b.extend_from_slice(&(v as f32).to_le_bytes());
            }
            for (_, v) in scalars {
                b.extend_from_slice(&v[k].to_le_bytes());
            }
            k += 1;
        }
    }
    w.write_all(&b).map_err(|e| io_err("TRK", e))
}

/// A TRK file's content: streamlines in RAS mm, per-point scalars and the header.
#[derive(Debug, Clone, PartialEq)]
pub struct Trk {
    /// Streamlines (world mm, RAS+).
    pub streamlines: Streamlines,
    /// Per-point scalars in header order: (name, one value per point, in point order). A
    /// name with k > 1 values (nibabel's `name\0k`) gives `name_0` … `name_{k-1}`; scalars
    /// beyond the named ones are `scalar_<index>`.
    pub scalars: Vec<(String, Vec<f32>)>,
    /// Header.
    pub header: TrkHeader,
}

/// Names of the `n` per-point scalars from the header's `scalar_name` slots (nibabel's
/// encoding: `name` for one value, `name\0k` for k values).
fn scalar_names(bytes: &[u8], n: usize) -> Vec<String> {
    let mut names = Vec::with_capacity(n);
    for slot in 0..10 {
        let raw = &bytes[38 + 20 * slot..58 + 20 * slot];
        let mut parts = raw.split(|&c| c == 0);
        let name = String::from_utf8_lossy(parts.next().unwrap_or(&[])).into_owned();
        if name.is_empty() {
            break;
        }
        let count = parts
            .next()
            .and_then(|p| std::str::from_utf8(p).ok())
            .and_then(|p| p.trim().parse::<usize>().ok())
            .filter(|&c| c > 1);
        match count {
            Some(c) => names.extend((0..c).map(|i| format!("{name}_{i}"))),
            None => names.push(name),
        }
    }
    names.truncate(n);
    for i in names.len()..n {
        names.push(format!("scalar_{i}"));
    }
    names
}

/// Reads a TRK v1/v2 file (either endianness) from bytes with its per-point scalars;
/// properties are skipped.
pub fn read_trk(bytes: &[u8]) -> Result<Trk> {
    const W: &str = "TRK";
    if bytes.len() < 1000 || &bytes[0..5] != b"TRACK" {
        return Err(bad(
            W,
            "not a TrackVis file (no 'TRACK' magic or shorter than 1000 bytes)".into(),
        ));
    }
    let le = i32::from_le_bytes([bytes[996], bytes[997], bytes[998], bytes[999]]) == 1000;
    if !le && i32::from_be_bytes([bytes[996], bytes[997], bytes[998], bytes[999]]) != 1000 {
        return Err(bad(W, "hdr_size is not 1000 in either byte order".into()));
    }
    let i16_at = |at: usize| {
        let a = [bytes[at], bytes[at + 1]];
        if le {
            i16::from_le_bytes(a)
        } else {
            i16::from_be_bytes(a)
        }
    };
    let u32_at = |at: usize, b: &[u8]| {
        let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let f32_at = |at: usize, b: &[u8]| f32::from_bits(u32_at(at, b));
    let mut h = TrkHeader {
        dims: [i16_at(6), i16_at(8), i16_at(10)],
        voxel_size: [f32_at(12, bytes), f32_at(16, bytes), f32_at(20, bytes)],
        vox_to_ras: [[0.0; 4]; 4],
        voxel_order: String::new(),
        n_scalars: i16_at(36),
        n_properties: i16_at(238),
        n_count: u32_at(988, bytes) as i32,
    };
    for i in 0..4 {
        for j in 0..4 {
            h.vox_to_ras[i][j] = f32_at(440 + 4 * (4 * i + j), bytes);
        }
    }
    h.voxel_order = bytes[948..952]
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as char)
        .collect::<String>()
        .trim()
        .to_string();
    if h.n_scalars < 0 || h.n_properties < 0 {
        return Err(bad(W, "negative scalar or property count".into()));
    }
    let aff = trackvis_to_rasmm(&h)?;
    let ns = h.n_scalars as usize;
    let np = h.n_properties as usize;
    let mut scalars: Vec<(String, Vec<f32>)> = scalar_names(bytes, ns)
        .into_iter()
        .map(|n| (n, Vec::new()))
        .collect();
    let mut s = Streamlines::default();
    let mut pos = 1000;
    let mut line = Vec::new();
    while pos + 4 <= bytes.len() {
        let n = u32_at(pos, bytes) as i32;
        pos += 4;
        if n < 0 {
            return Err(bad(W, format!("negative point count at byte {}", pos - 4)));
        }
        let n = n as usize;
        let need = n
            .checked_mul((3 + ns) * 4)
            .and_then(|v| v.checked_add(np * 4))
            .ok_or_else(|| bad(W, "point count overflows".into()))?;
        if pos + need > bytes.len() {
            return Err(bad(
                W,
                format!("streamline {} runs past the end of the file", s.len()),
            ));
        }
        line.clear();
        for k in 0..n {
            let at = pos + k * (3 + ns) * 4;
            let v = [0, 1, 2].map(|c| f64::from(f32_at(at + 4 * c, bytes)));
            let r = [0, 1, 2].map(|i| {
                (aff[i][0] * v[0] + aff[i][1] * v[1] + aff[i][2] * v[2] + aff[i][3]) as f32
            });
            line.push(r);
            for (c, (_, v)) in scalars.iter_mut().enumerate() {
                v.push(f32_at(at + 12 + 4 * c, bytes));
            }
        }
        s.push(&line);
        pos += need;
    }
    if h.n_count > 0 && h.n_count as usize != s.len() {
        return Err(bad(
            W,
            format!(
                "header n_count {} but {} streamlines read",
                h.n_count,
                s.len()
            ),
        ));
    }
    Ok(Trk {
        streamlines: s,
        scalars,
        header: h,
    })
}
