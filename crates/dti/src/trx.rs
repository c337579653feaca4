//! TRX tractograms (tee-ar-ex/trx-spec): an uncompressed ("stored") zip holding
//! `header.json` (`DIMENSIONS`, `VOXEL_TO_RASMM`, `NB_STREAMLINES`, `NB_VERTICES`),
//! `positions.3.float32` (RAS+ mm, voxel-centre convention as NIfTI), `offsets.uint64` (index
//! of each streamline's first vertex, then NB_VERTICES: NB_STREAMLINES + 1 values, as
//! trx-python 0.6 requires), per-vertex data `dpv/<name>.float32` and groups
//! `groups/<name>.uint32` (indices of the streamlines of each group, e.g. one per named
//! tract). Checked against trx-python 0.6 both ways (`tools/reference/make_trx_fixtures.py`:
//! a file it wrote is read here, and a file written here is loaded by it). The zip is
//! written by hand (local headers, central directory, end record; no zip64, so below 4 GiB),
//! with CRC-32 from libdeflate; all numbers little-endian.

use std::collections::BTreeMap;

use crate::error::{DtiError, Result};
use crate::streamlines::Streamlines;

/// A TRX file's content as read back by [`read_trx`].
#[derive(Debug, Clone)]
pub struct Trx {
    /// The parsed `header.json`.
    pub header: serde_json::Value,
    /// The streamlines (RAS+ mm).
    pub streamlines: Streamlines,
    /// Per-vertex data by name (`dpv/<name>.float32`).
    pub dpv: BTreeMap<String, Vec<f32>>,
    /// Groups by name (`groups/<name>.uint32`): streamline indices.
    pub groups: BTreeMap<String, Vec<u32>>,
}

/// A name usable as a TRX member file stem: `[A-Za-z0-9_-]+` (no dots, which would be
/// read as the data type).
fn check_name(kind: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(invalid(format!(
            "{kind} name '{name}' is not [A-Za-z0-9_-]+"
        )));
    }
    Ok(())
}

fn invalid(message: impl Into<String>) -> DtiError {
    DtiError::Invalid {
        what: "TRX".into(),
        message: message.into(),
    }
}

/// Writes a TRX zip: the streamlines (RAS+ mm), the reference grid (`dims`, voxel-to-RAS
/// affine), per-vertex float32 data (`dpv`, one value per point, e.g. FA) and groups
/// (`groups`, streamline indices per name, e.g. one group per tract). Members are written in
/// a fixed order, so the bytes depend only on the arguments.
pub fn write_trx(
    s: &Streamlines,
    dims: [usize; 3],
    affine: &[[f64; 4]; 3],
    dpv: &[(&str, &[f32])],
    groups: &[(&str, &[u32])],
) -> Result<Vec<u8>> {
    let nv = s.n_points();
    let header = serde_json::json!({
        "DIMENSIONS": dims,
        "VOXEL_TO_RASMM": [affine[0], affine[1], affine[2], [0.0, 0.0, 0.0, 1.0]],
        "NB_STREAMLINES": s.len(),
        "NB_VERTICES": nv,
    });
    let mut files: Vec<(String, Vec<u8>)> = vec![(
        "header.json".into(),
        serde_json::to_vec(&header).map_err(|e| invalid(e.to_string()))?,
    )];
    let mut pos = Vec::with_capacity(nv * 12);
    for p in s.points() {
        for c in p {
            pos.extend_from_slice(&c.to_le_bytes());
        }
    }
    files.push(("positions.3.float32".into(), pos));
    let mut off = Vec::with_capacity((s.len() + 1) * 8);
    let mut start = 0u64;
    for line in s.iter() {
        off.extend_from_slice(&start.to_le_bytes());
        start += line.len() as u64;
    }
    off.extend_from_slice(&start.to_le_bytes());
    files.push(("offsets.uint64".into(), off));
    for (name, v) in dpv {
        if v.len() != nv {
            return Err(invalid(format!(
                "per-vertex data '{name}' has {} values for {nv} vertices",
                v.len()
            )));
        }
        check_name("per-vertex data", name)?;
        let b: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        files.push((format!("dpv/{name}.float32"), b));
    }
    for (name, idx) in groups {
        check_name("group", name)?;
        if let Some(&i) = idx.iter().find(|&&i| i as usize >= s.len()) {
            return Err(invalid(format!(
                "group '{name}' names streamline {i} of {}",
                s.len()
            )));
        }
        let b: Vec<u8> = idx.iter().flat_map(|x| x.to_le_bytes()).collect();
        files.push((format!("groups/{name}.uint32"), b));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some((dup, _)) = files.iter().find(|(n, _)| !seen.insert(n.as_str())) {
        return Err(invalid(format!("{dup} is given twice")));
    }
    stored_zip(&files)
}

fn crc32(b: &[u8]) -> u32 {
    let mut c = libdeflater::Crc::new();
    c.update(b);
    c.sum()
}

/// An uncompressed zip (PKWARE APPNOTE 6.3: method 0, version 2.0, fixed 1980-01-01 time so
/// the bytes are deterministic).
fn stored_zip(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let too_big = || invalid("larger than 4 GiB (zip64 is not written)");
    let u32_of = |n: usize| u32::try_from(n).map_err(|_| too_big());
    let mut out = Vec::new();
    let mut central = Vec::new();
    let (time, date) = (0u16, (1u16 << 5) | 1);
    for (name, data) in files {
        let crc = crc32(data);
        let size = u32_of(data.len())?;
        let offset = u32_of(out.len())?;
        let nlen = u16::try_from(name.len()).map_err(|_| invalid("file name too long"))?;
        let mut common = Vec::new();
        common.extend_from_slice(&20u16.to_le_bytes()); // version needed
        common.extend_from_slice(&0u16.to_le_bytes()); // flags
        common.extend_from_slice(&0u16.to_le_bytes()); // method: stored
        common.extend_from_slice(&time.to_le_bytes());
        common.extend_from_slice(&date.to_le_bytes());
        common.extend_from_slice(&crc.to_le_bytes());
        common.extend_from_slice(&size.to_le_bytes());
        common.extend_from_slice(&size.to_le_bytes());
        common.extend_from_slice(&nlen.to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes()); // extra length
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&common);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        central.extend_from_slice(&common);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        central.extend_from_slice(&0u16.to_le_bytes()); // disk number
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = u32_of(out.len())?;
    let cd_size = u32_of(central.len())?;
    let n = u16::try_from(files.len()).map_err(|_| invalid("too many files"))?;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    Ok(out)
}

fn le_u16(b: &[u8], at: usize) -> Result<u16> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| invalid("truncated zip"))
}

fn le_u32(b: &[u8], at: usize) -> Result<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| invalid("truncated zip"))
}

/// The members of a stored (uncompressed) zip, by name; compressed members are an error.
fn read_stored_zip(b: &[u8]) -> Result<BTreeMap<String, &[u8]>> {
    let eocd = (0..b.len().saturating_sub(21))
        .rev()
        .find(|&i| b[i..].starts_with(&0x0605_4b50u32.to_le_bytes()))
        .ok_or_else(|| invalid("not a zip file (no end of central directory)"))?;
    let n = le_u16(b, eocd + 10)? as usize;
    let mut at = le_u32(b, eocd + 16)? as usize;
    let mut out = BTreeMap::new();
    for _ in 0..n {
        if le_u32(b, at)? != 0x0201_4b50 {
            return Err(invalid("corrupt central directory"));
        }
        let method = le_u16(b, at + 10)?;
        let crc = le_u32(b, at + 16)?;
        let size = le_u32(b, at + 20)? as usize;
        let nlen = le_u16(b, at + 28)? as usize;
        let elen = le_u16(b, at + 30)? as usize;
        let clen = le_u16(b, at + 32)? as usize;
        let local = le_u32(b, at + 42)? as usize;
        let name = b
            .get(at + 46..at + 46 + nlen)
            .ok_or_else(|| invalid("truncated zip"))?;
        let name = String::from_utf8_lossy(name).into_owned();
        if method != 0 {
            return Err(invalid(format!(
                "{name}: compressed members are not supported"
            )));
        }
        let lstart = local + 30 + le_u16(b, local + 26)? as usize + le_u16(b, local + 28)? as usize;
        let data = b
            .get(lstart..lstart + size)
            .ok_or_else(|| invalid(format!("{name}: truncated")))?;
        if crc32(data) != crc {
            return Err(invalid(format!("{name}: CRC mismatch")));
        }
        out.insert(name, data);
        at += 46 + nlen + elen + clen;
    }
    Ok(out)
}

/// Reads a TRX zip written by [`write_trx`] (or any stored TRX with float32 positions and
/// uint32/uint64 offsets).
pub fn read_trx(bytes: &[u8]) -> Result<Trx> {
    let m = read_stored_zip(bytes)?;
    let get = |k: &str| m.get(k).copied().ok_or_else(|| invalid(format!("no {k}")));
    let header: serde_json::Value =
        serde_json::from_slice(get("header.json")?).map_err(|e| invalid(e.to_string()))?;
    let field = |k: &str| {
        header
            .get(k)
            .and_then(serde_json::Value::as_u64)
            .map(|v| v as usize)
            .ok_or_else(|| invalid(format!("header.json has no {k}")))
    };
    let (ns, nv) = (field("NB_STREAMLINES")?, field("NB_VERTICES")?);
    let pos = get("positions.3.float32")?;
    if Some(pos.len()) != nv.checked_mul(12) {
        return Err(invalid("positions.3.float32 size differs from NB_VERTICES"));
    }
    let f32s = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let flat = f32s(pos);
    let offsets: Vec<usize> = if let Some(o) = m.get("offsets.uint64") {
        o.chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as usize)
            .collect()
    } else {
        get("offsets.uint32")?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize)
            .collect()
    };
    // NB_STREAMLINES + 1 entries, the last = NB_VERTICES (trx-python 0.6); older files
    // have NB_STREAMLINES.
    let ok = offsets.len() == ns
        || (Some(offsets.len()) == ns.checked_add(1) && offsets.get(ns) == Some(&nv));
    if !ok {
        return Err(invalid(
            "offsets size differs from NB_STREAMLINES + 1 (or the last is not NB_VERTICES)",
        ));
    }
    let mut s = Streamlines::default();
    for i in 0..ns {
        let a = offsets[i];
        let b = offsets.get(i + 1).copied().unwrap_or(nv);
        if a > b || b > nv {
            return Err(invalid(format!(
                "offsets are not increasing at streamline {i}"
            )));
        }
        let line: Vec<[f32; 3]> = (a..b)
            .map(|k| [flat[3 * k], flat[3 * k + 1], flat[3 * k + 2]])
            .collect();
        s.push(&line);
    }
    let mut dpv = BTreeMap::new();
    for (k, v) in &m {
        if let Some(n) = k
            .strip_prefix("dpv/")
            .and_then(|n| n.strip_suffix(".float32"))
        {
            if Some(v.len()) != nv.checked_mul(4) {
                return Err(invalid(format!("{k}: size differs from NB_VERTICES")));
            }
            dpv.insert(n.to_string(), f32s(v));
        }
    }
    let mut groups = BTreeMap::new();
    for (k, v) in &m {
        if let Some(n) = k
            .strip_prefix("groups/")
            .and_then(|n| n.strip_suffix(".uint32"))
        {
            if v.len() % 4 != 0 {
                return Err(invalid(format!("{k}: size is not a multiple of 4")));
            }
            let idx: Vec<u32> = v
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if let Some(&i) = idx.iter().find(|&&i| i as usize >= ns) {
                return Err(invalid(format!(
                    "{k}: streamline index {i} of {ns} streamlines"
                )));
            }
            groups.insert(n.to_string(), idx);
        } else if k.starts_with("groups/") && !k.ends_with('/') {
            return Err(invalid(format!("{k}: only uint32 groups are read")));
        }
    }
    Ok(Trx {
        header,
        streamlines: s,
        dpv,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Streamlines {
        let mut s = Streamlines::default();
        s.push(&[[0.0, 1.0, 2.0], [0.5, 1.5, 2.5], [1.0, 2.0, 3.0]]);
        s.push(&[[-4.0, 0.25, 9.0], [-4.5, 0.75, 9.5]]);
        s
    }

    #[test]
    fn round_trip_and_offsets_end_with_the_vertex_count() {
        let s = sample();
        let fa = [0.1f32, 0.2, 0.3, 0.4, 0.5];
        let aff = [
            [2.0, 0.0, 0.0, -10.0],
            [0.0, 2.0, 0.0, -5.0],
            [0.0, 0.0, 2.0, 1.0],
        ];
        let g: &[u32] = &[1];
        let b = write_trx(&s, [4, 5, 6], &aff, &[("fa", &fa)], &[("cst-left", g)]).unwrap();
        let t = read_trx(&b).unwrap();
        assert_eq!(t.streamlines, s);
        assert_eq!(t.dpv["fa"], fa.to_vec());
        assert_eq!(t.groups["cst-left"], vec![1]);
        assert_eq!(t.header["NB_VERTICES"], 5);
        assert_eq!(t.header["VOXEL_TO_RASMM"][0][3], -10.0);
        let m = read_stored_zip(&b).unwrap();
        let off: Vec<u64> = m["offsets.uint64"]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(off, vec![0, 3, 5]);
        // Deterministic bytes.
        assert_eq!(
            b,
            write_trx(&s, [4, 5, 6], &aff, &[("fa", &fa)], &[("cst-left", g)]).unwrap()
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let s = sample();
        let aff = [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ];
        assert!(write_trx(&s, [1, 1, 1], &aff, &[("fa", &[0.0; 4])], &[]).is_err());
        assert!(write_trx(&s, [1, 1, 1], &aff, &[("f/a", &[0.0; 5])], &[]).is_err());
        assert!(write_trx(&s, [1, 1, 1], &aff, &[], &[("a.b", &[0])]).is_err());
        assert!(write_trx(&s, [1, 1, 1], &aff, &[], &[("g", &[2])]).is_err());
        assert!(write_trx(&s, [1, 1, 1], &aff, &[], &[("g", &[0]), ("g", &[1])]).is_err());
        let b = write_trx(&s, [1, 1, 1], &aff, &[], &[("g", &[0, 1])]).unwrap();
        for n in 0..b.len() {
            assert!(read_trx(&b[..n]).is_err(), "truncated at {n}");
        }
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0xA5;
            let _ = read_trx(&c);
        }
    }
}
