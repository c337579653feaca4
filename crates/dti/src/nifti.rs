//! NIfTI-1 and NIfTI-2 reading and writing (`.nii`, `.nii.gz`), written from the
//! format definitions (nifti1.h, nifti2.h at nifti.nimh.nih.gov) with nibabel 5.4's
//! behaviour as the reference for scaling and for the affine (`img.affine`).
//!
//! Reading returns the [`NiftiHeader`] and the data as a [`Volume<f32>`] in NIfTI order,
//! after `scl_slope`/`scl_inter` scaling (computed in f64, then rounded to f32, which
//! equals `np.float32(img.get_fdata())`). Writing produces little-endian NIfTI-1 single
//! files (f32, u8 or i16) with both sform and qform set from the affine, written to a
//! temporary file in the target folder and renamed into place.
//!
//! # gzip back-end
//! Whole-file inflate and deflate use libdeflate (`libdeflate-sys`), chosen on these
//! measurements (release build, 2-vCPU Xeon, a 96×96×60×69 int16 DWI, 50.0 MB `.nii.gz`,
//! 76.3 MB raw; `bench/gzip_backends.sh`):
//!
//! | back-end | inflate (min of 5) | deflate, level 6 |
//! |---|---|---|
//! | flate2 1.1 + miniz_oxide (default) | 0.423 s | 5.38 s |
//! | flate2 1.1 + zlib-rs | 0.317 s | 1.61 s |
//! | libdeflate 1.26 (one `gzip_decompress_ex` call per member) | **0.195 s** | **0.87–1.08 s** |
//!
//! libdeflate is not streaming, so each gzip member is inflated straight into a buffer
//! sized from the header (vox_offset + data bytes); multi-member files are walked
//! member by member. The header alone is read with flate2's streaming decoder (pure
//! Rust, default back-end), which is also the fallback when a file holds more data than
//! its header announces. The header is read first so that the inflate buffer exists before
//! inflating starts: a side thread hashes the compressed bytes and then faults the
//! buffer's pages in from the end (`MADV_POPULATE_WRITE`) while the inflater fills it from
//! the front, so fresh-page faults leave the serial inflate.
//!
//! Writing compresses at libdeflate level 1 by default ([`DEFAULT_GZIP_LEVEL`]), as
//! nibabel writes `.nii.gz` (zlib `compresslevel` 1). On the eleven f32 maps of the
//! benchmark phantom (`evidentia dti fit`, 96×96×60, 42 MB raw) level 1 writes 17.52 MB
//! against 17.59 MB at level 3 and 45% fewer instructions in the compressor
//! (callgrind, 48×48×30 crop: 227 M against 414 M); float mantissas leave little for the
//! slower match finders to find.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::error::{DtiError, Result};
use crate::volume::Volume;

/// Size of a NIfTI-1 header in bytes.
pub const NIFTI1_HEADER_SIZE: usize = 348;
/// Size of a NIfTI-2 header in bytes.
pub const NIFTI2_HEADER_SIZE: usize = 540;

/// deflate cannot expand more than 1032:1; a header that claims more data than this
/// bound allows for its compressed file is rejected before any allocation.
const MAX_DEFLATE_RATIO: usize = 1032;

/// NIfTI format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NiftiVersion {
    /// NIfTI-1 (348-byte header, 16-bit dimensions, f32 fields).
    One,
    /// NIfTI-2 (540-byte header, 64-bit dimensions, f64 fields).
    Two,
}

/// Voxel storage types this reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// NIFTI_TYPE_UINT8 (2).
    U8,
    /// NIFTI_TYPE_INT8 (256).
    I8,
    /// NIFTI_TYPE_INT16 (4).
    I16,
    /// NIFTI_TYPE_UINT16 (512).
    U16,
    /// NIFTI_TYPE_INT32 (8).
    I32,
    /// NIFTI_TYPE_UINT32 (768).
    U32,
    /// NIFTI_TYPE_INT64 (1024).
    I64,
    /// NIFTI_TYPE_UINT64 (1280).
    U64,
    /// NIFTI_TYPE_FLOAT32 (16).
    F32,
    /// NIFTI_TYPE_FLOAT64 (64).
    F64,
}

impl DataType {
    /// The type for a NIfTI `datatype` code, or a message saying why it is refused.
    pub fn from_code(code: i64) -> std::result::Result<DataType, String> {
        Ok(match code {
            2 => DataType::U8,
            256 => DataType::I8,
            4 => DataType::I16,
            512 => DataType::U16,
            8 => DataType::I32,
            768 => DataType::U32,
            1024 => DataType::I64,
            1280 => DataType::U64,
            16 => DataType::F32,
            64 => DataType::F64,
            1 => return Err("datatype 1 (binary, 1 bit per voxel) is not supported".into()),
            32 | 1792 | 2048 => {
                return Err(format!(
                    "datatype {code} (complex) is not supported: diffusion data must be real"
                ));
            }
            128 | 2304 => {
                return Err(format!(
                    "datatype {code} (RGB/RGBA colour) is not supported: diffusion data must be scalar"
                ));
            }
            1536 => return Err("datatype 1536 (float128) is not supported".into()),
            _ => return Err(format!("datatype {code} is not a NIfTI data type")),
        })
    }

    /// The NIfTI `datatype` code.
    pub fn code(self) -> i16 {
        match self {
            DataType::U8 => 2,
            DataType::I8 => 256,
            DataType::I16 => 4,
            DataType::U16 => 512,
            DataType::I32 => 8,
            DataType::U32 => 768,
            DataType::I64 => 1024,
            DataType::U64 => 1280,
            DataType::F32 => 16,
            DataType::F64 => 64,
        }
    }

    /// Bytes per voxel.
    pub fn size(self) -> usize {
        match self {
            DataType::U8 | DataType::I8 => 1,
            DataType::I16 | DataType::U16 => 2,
            DataType::I32 | DataType::U32 | DataType::F32 => 4,
            DataType::I64 | DataType::U64 | DataType::F64 => 8,
        }
    }
}

/// Every field of a NIfTI-1 or NIfTI-2 header, widened to the NIfTI-2 types
/// (f32 → f64, i16 → i64/i32), exactly as stored (nibabel's load-time fixes are applied
/// only when the affine is computed).
#[derive(Debug, Clone, PartialEq)]
pub struct NiftiHeader {
    /// NIfTI-1 or NIfTI-2.
    pub version: NiftiVersion,
    /// Byte order of the file (detected from `sizeof_hdr`).
    pub big_endian: bool,
    /// True for a single file (`n+1`/`n+2`), false for a `.hdr`/`.img` pair (`ni1`/`ni2`).
    pub single_file: bool,
    /// Frequency/phase/slice dimension encoding.
    pub dim_info: u8,
    /// `dim[0]` is the number of dimensions, `dim[1..=dim[0]]` their sizes.
    pub dim: [i64; 8],
    /// Intent parameters p1, p2, p3.
    pub intent_p: [f64; 3],
    /// NIFTI_INTENT_* code.
    pub intent_code: i32,
    /// Raw `datatype` code (see [`DataType`]).
    pub datatype: i16,
    /// Bits per voxel as stored (not trusted; the datatype decides).
    pub bitpix: i16,
    /// First slice index.
    pub slice_start: i64,
    /// `pixdim[0]` is qfac; `pixdim[1..=3]` voxel sizes; `pixdim[4]` TR.
    pub pixdim: [f64; 8],
    /// Byte offset of the data in the file.
    pub vox_offset: f64,
    /// Data scaling slope (0 or non-finite means no scaling).
    pub scl_slope: f64,
    /// Data scaling intercept.
    pub scl_inter: f64,
    /// Last slice index.
    pub slice_end: i64,
    /// Slice timing order code.
    pub slice_code: i32,
    /// Units of pixdim (spatial | temporal bits).
    pub xyzt_units: i32,
    /// Display range maximum.
    pub cal_max: f64,
    /// Display range minimum.
    pub cal_min: f64,
    /// Time to acquire one slice.
    pub slice_duration: f64,
    /// Time axis shift.
    pub toffset: f64,
    /// Free-text description (up to 80 bytes).
    pub descrip: String,
    /// Auxiliary file name (up to 24 bytes).
    pub aux_file: String,
    /// NIFTI_XFORM_* code of the qform.
    pub qform_code: i32,
    /// NIFTI_XFORM_* code of the sform.
    pub sform_code: i32,
    /// Quaternion parameters b, c, d.
    pub quatern: [f64; 3],
    /// qform translation (x, y, z).
    pub qoffset: [f64; 3],
    /// sform rows x, y, z.
    pub srow: [[f64; 4]; 3],
    /// Intent name (up to 16 bytes).
    pub intent_name: String,
}

/// Reads fixed-offset fields of a header in its byte order.
struct Fields<'a> {
    b: &'a [u8],
    be: bool,
}

impl Fields<'_> {
    fn arr<const N: usize>(&self, off: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.b[off..off + N]);
        a
    }
    fn i16(&self, off: usize) -> i16 {
        let a = self.arr::<2>(off);
        if self.be {
            i16::from_be_bytes(a)
        } else {
            i16::from_le_bytes(a)
        }
    }
    fn i32(&self, off: usize) -> i32 {
        let a = self.arr::<4>(off);
        if self.be {
            i32::from_be_bytes(a)
        } else {
            i32::from_le_bytes(a)
        }
    }
    fn i64(&self, off: usize) -> i64 {
        let a = self.arr::<8>(off);
        if self.be {
            i64::from_be_bytes(a)
        } else {
            i64::from_le_bytes(a)
        }
    }
    fn f32(&self, off: usize) -> f64 {
        let a = self.arr::<4>(off);
        f64::from(if self.be {
            f32::from_be_bytes(a)
        } else {
            f32::from_le_bytes(a)
        })
    }
    fn f64(&self, off: usize) -> f64 {
        let a = self.arr::<8>(off);
        if self.be {
            f64::from_be_bytes(a)
        } else {
            f64::from_le_bytes(a)
        }
    }
    fn text(&self, off: usize, len: usize) -> String {
        let raw = &self.b[off..off + len];
        let end = raw.iter().position(|&c| c == 0).unwrap_or(len);
        String::from_utf8_lossy(&raw[..end]).into_owned()
    }
}

fn format_err(file: &str, message: impl Into<String>) -> DtiError {
    DtiError::Format {
        file: file.to_string(),
        message: message.into(),
    }
}

fn io_err(file: &Path, e: std::io::Error) -> DtiError {
    DtiError::Io {
        file: file.display().to_string(),
        message: e.to_string(),
    }
}

impl NiftiHeader {
    /// Parses a header from the first bytes of an (uncompressed) NIfTI file; `file`
    /// names the source in errors. Checks the size field, magic, dimensions, data type
    /// and data offset; does not look at the data.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<NiftiHeader> {
        if bytes.len() < 4 {
            return Err(format_err(
                file,
                format!("only {} bytes: too short for a NIfTI header", bytes.len()),
            ));
        }
        let le = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let be = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let (version, big_endian) = match (le, be) {
            (348, _) => (NiftiVersion::One, false),
            (_, 348) => (NiftiVersion::One, true),
            (540, _) => (NiftiVersion::Two, false),
            (_, 540) => (NiftiVersion::Two, true),
            _ => {
                return Err(format_err(
                    file,
                    format!(
                        "not a NIfTI file: sizeof_hdr is {le} (little-endian) / {be} \
                         (big-endian), expected 348 (NIfTI-1) or 540 (NIfTI-2)"
                    ),
                ));
            }
        };
        let size = match version {
            NiftiVersion::One => NIFTI1_HEADER_SIZE,
            NiftiVersion::Two => NIFTI2_HEADER_SIZE,
        };
        if bytes.len() < size {
            return Err(format_err(
                file,
                format!(
                    "truncated header: {} bytes, a NIfTI-{} header has {size}",
                    bytes.len(),
                    if version == NiftiVersion::One { 1 } else { 2 }
                ),
            ));
        }
        let f = Fields {
            b: &bytes[..size],
            be: big_endian,
        };
        let hdr = match version {
            NiftiVersion::One => Self::parse_v1(file, &f, big_endian)?,
            NiftiVersion::Two => Self::parse_v2(file, &f, big_endian)?,
        };
        hdr.validate(file)?;
        Ok(hdr)
    }

    fn parse_v1(file: &str, f: &Fields, big_endian: bool) -> Result<NiftiHeader> {
        let magic = &f.b[344..348];
        let single_file = match magic {
            b"n+1\0" => true,
            b"ni1\0" => false,
            _ => {
                return Err(format_err(
                    file,
                    format!("bad NIfTI-1 magic {:?}, expected \"n+1\"", f.text(344, 4)),
                ));
            }
        };
        let mut dim = [0i64; 8];
        let mut pixdim = [0.0; 8];
        for i in 0..8 {
            dim[i] = i64::from(f.i16(40 + 2 * i));
            pixdim[i] = f.f32(76 + 4 * i);
        }
        let row = |off: usize| [f.f32(off), f.f32(off + 4), f.f32(off + 8), f.f32(off + 12)];
        Ok(NiftiHeader {
            version: NiftiVersion::One,
            big_endian,
            single_file,
            dim_info: f.b[39],
            dim,
            intent_p: [f.f32(56), f.f32(60), f.f32(64)],
            intent_code: i32::from(f.i16(68)),
            datatype: f.i16(70),
            bitpix: f.i16(72),
            slice_start: i64::from(f.i16(74)),
            pixdim,
            vox_offset: f.f32(108),
            scl_slope: f.f32(112),
            scl_inter: f.f32(116),
            slice_end: i64::from(f.i16(120)),
            slice_code: i32::from(f.b[122]),
            xyzt_units: i32::from(f.b[123]),
            cal_max: f.f32(124),
            cal_min: f.f32(128),
            slice_duration: f.f32(132),
            toffset: f.f32(136),
            descrip: f.text(148, 80),
            aux_file: f.text(228, 24),
            qform_code: i32::from(f.i16(252)),
            sform_code: i32::from(f.i16(254)),
            quatern: [f.f32(256), f.f32(260), f.f32(264)],
            qoffset: [f.f32(268), f.f32(272), f.f32(276)],
            srow: [row(280), row(296), row(312)],
            intent_name: f.text(328, 16),
        })
    }

    fn parse_v2(file: &str, f: &Fields, big_endian: bool) -> Result<NiftiHeader> {
        let single_file = match &f.b[4..8] {
            b"n+2\0" => true,
            b"ni2\0" => false,
            _ => {
                return Err(format_err(
                    file,
                    format!("bad NIfTI-2 magic {:?}, expected \"n+2\"", f.text(4, 4)),
                ));
            }
        };
        let eol = &f.b[8..12];
        if eol != [0x0D, 0x0A, 0x1A, 0x0A] && eol != [0, 0, 0, 0] {
            return Err(format_err(
                file,
                "NIfTI-2 end-of-line check bytes are altered: the file was probably \
                 transferred in text mode",
            ));
        }
        let mut dim = [0i64; 8];
        let mut pixdim = [0.0; 8];
        for i in 0..8 {
            dim[i] = f.i64(16 + 8 * i);
            pixdim[i] = f.f64(104 + 8 * i);
        }
        let row = |off: usize| [f.f64(off), f.f64(off + 8), f.f64(off + 16), f.f64(off + 24)];
        Ok(NiftiHeader {
            version: NiftiVersion::Two,
            big_endian,
            single_file,
            dim_info: f.b[524],
            dim,
            intent_p: [f.f64(80), f.f64(88), f.f64(96)],
            intent_code: f.i32(504),
            datatype: f.i16(12),
            bitpix: f.i16(14),
            slice_start: f.i64(224),
            pixdim,
            vox_offset: f.i64(168) as f64,
            scl_slope: f.f64(176),
            scl_inter: f.f64(184),
            slice_end: f.i64(232),
            slice_code: f.i32(496),
            xyzt_units: f.i32(500),
            cal_max: f.f64(192),
            cal_min: f.f64(200),
            slice_duration: f.f64(208),
            toffset: f.f64(216),
            descrip: f.text(240, 80),
            aux_file: f.text(320, 24),
            qform_code: f.i32(344),
            sform_code: f.i32(348),
            quatern: [f.f64(352), f.f64(360), f.f64(368)],
            qoffset: [f.f64(376), f.f64(384), f.f64(392)],
            srow: [row(400), row(432), row(464)],
            intent_name: f.text(508, 16),
        })
    }

    fn validate(&self, file: &str) -> Result<()> {
        let ndim = self.dim[0];
        if !(1..=7).contains(&ndim) {
            return Err(format_err(
                file,
                format!("dim[0] = {ndim}: the number of dimensions must be 1 to 7"),
            ));
        }
        for i in 1..=ndim as usize {
            if self.dim[i] < 1 {
                return Err(format_err(
                    file,
                    format!(
                        "dim[{i}] = {}: image dimensions must be at least 1",
                        self.dim[i]
                    ),
                ));
            }
        }
        if let Some(i) = (5..=ndim as usize).find(|&i| self.dim[i] > 1) {
            return Err(format_err(
                file,
                format!(
                    "dim[{i}] = {}: images with more than 4 dimensions are not supported",
                    self.dim[i]
                ),
            ));
        }
        DataType::from_code(i64::from(self.datatype)).map_err(|m| format_err(file, m))?;
        let v = self.vox_offset;
        if !v.is_finite() || v < 0.0 || v.fract() != 0.0 || v > 1e15 {
            return Err(format_err(
                file,
                format!("vox_offset {v} is not a valid byte offset"),
            ));
        }
        if self.single_file && v != 0.0 && (v as usize) < self.min_offset() {
            return Err(format_err(
                file,
                format!(
                    "vox_offset {v} is inside the header: a single-file NIfTI needs at least {}",
                    self.min_offset()
                ),
            ));
        }
        self.n_data_bytes()
            .ok_or_else(|| format_err(file, format!("dimensions {:?} overflow", self.dims())))?;
        Ok(())
    }

    fn min_offset(&self) -> usize {
        match self.version {
            NiftiVersion::One => NIFTI1_HEADER_SIZE + 4,
            NiftiVersion::Two => NIFTI2_HEADER_SIZE + 4,
        }
    }

    /// The voxel type (the header has been validated, so this is a supported type).
    pub fn data_type(&self) -> Result<DataType> {
        DataType::from_code(i64::from(self.datatype)).map_err(|m| DtiError::Invalid {
            what: "NIfTI header".into(),
            message: m,
        })
    }

    /// (nx, ny, nz, nt): dimensions beyond `dim[0]` count as 1.
    pub fn dims(&self) -> [usize; 4] {
        let ndim = self.dim[0].clamp(0, 7) as usize;
        let mut d = [1usize; 4];
        for (i, di) in d.iter_mut().enumerate() {
            if i < ndim {
                *di = usize::try_from(self.dim[i + 1]).unwrap_or(0);
            }
        }
        d
    }

    /// Byte offset of the data: `vox_offset`, or the end of the header and its 4-byte
    /// extension flag when `vox_offset` is 0.
    pub fn data_offset(&self) -> usize {
        if self.vox_offset == 0.0 && self.single_file {
            self.min_offset()
        } else {
            self.vox_offset as usize
        }
    }

    /// Number of data bytes the dimensions and type call for, `None` on overflow.
    pub fn n_data_bytes(&self) -> Option<usize> {
        let size = DataType::from_code(i64::from(self.datatype)).ok()?.size();
        self.dims()
            .iter()
            .try_fold(size, |acc, &d| acc.checked_mul(d))
    }

    /// Scaling as nibabel applies it (`Nifti1Header.get_slope_inter`): `None` when the
    /// slope is 0 or not finite; an error when the slope is valid but the intercept is not.
    pub fn slope_inter(&self) -> Result<Option<(f64, f64)>> {
        if self.scl_slope == 0.0 || !self.scl_slope.is_finite() {
            return Ok(None);
        }
        if !self.scl_inter.is_finite() {
            return Err(DtiError::Invalid {
                what: "NIfTI header".into(),
                message: format!(
                    "valid scl_slope {} but invalid scl_inter {}",
                    self.scl_slope, self.scl_inter
                ),
            });
        }
        Ok(Some((self.scl_slope, self.scl_inter)))
    }

    /// Voxel sizes pixdim[1..=3] after nibabel's load-time fix (negative → absolute
    /// value, zero → 1).
    fn fixed_zooms(&self) -> [f64; 3] {
        let mut z = [self.pixdim[1], self.pixdim[2], self.pixdim[3]];
        if z.iter().any(|&v| v <= 0.0) {
            for v in &mut z {
                if *v == 0.0 {
                    *v = 1.0;
                }
                *v = v.abs();
            }
        }
        z
    }

    fn fixed_code(code: i32) -> i32 {
        if (0..=5).contains(&code) { code } else { 0 }
    }

    /// qform code after nibabel's fix (codes outside 0..=5 become 0).
    pub fn effective_qform_code(&self) -> i32 {
        Self::fixed_code(self.qform_code)
    }

    /// sform code after nibabel's fix (codes outside 0..=5 become 0).
    pub fn effective_sform_code(&self) -> i32 {
        Self::fixed_code(self.sform_code)
    }

    /// The sform rows (`srow_x`, `srow_y`, `srow_z`) as an affine, whatever the code.
    pub fn sform_affine(&self) -> [[f64; 4]; 3] {
        self.srow
    }

    /// The qform affine from the quaternion, pixdim and qfac, whatever the code
    /// (nibabel `get_qform`: w filled in as sqrt(1 − b² − c² − d²), w = 0 when that is
    /// within 3 eps of the stored precision of zero, qfac ≠ ±1 read as 1).
    pub fn qform_affine(&self) -> Result<[[f64; 4]; 3]> {
        let [b, c, d] = self.quatern;
        let thresh = match self.version {
            NiftiVersion::One => 3.0 * f64::from(f32::EPSILON),
            NiftiVersion::Two => 3.0 * f64::EPSILON,
        };
        let w2 = 1.0 - (b * b + c * c + d * d);
        let w = if w2.abs() < thresh {
            0.0
        } else if w2 < 0.0 || !w2.is_finite() {
            return Err(DtiError::Invalid {
                what: "NIfTI qform".into(),
                message: format!(
                    "quaternion (b, c, d) = ({b}, {c}, {d}) has b²+c²+d² > 1: not a rotation"
                ),
            });
        } else {
            w2.sqrt()
        };
        let r = quat_to_mat(w, b, c, d);
        let mut vox = self.fixed_zooms();
        let qfac = if self.pixdim[0] == -1.0 { -1.0 } else { 1.0 };
        vox[2] *= qfac;
        let mut a = [[0.0; 4]; 3];
        for i in 0..3 {
            for j in 0..3 {
                a[i][j] = r[i][j] * vox[j];
            }
            a[i][3] = self.qoffset[i];
        }
        Ok(a)
    }

    /// The fallback affine when neither form is set (nibabel `get_base_affine`): voxel
    /// sizes on the diagonal, x flipped, origin at the image centre.
    pub fn base_affine(&self) -> [[f64; 4]; 3] {
        let ndim = self.dim[0].clamp(1, 7) as usize;
        let mut shape = [1.0; 3];
        let mut zooms = [1.0; 3];
        let fixed = self.fixed_zooms();
        for i in 0..ndim.min(3) {
            shape[i] = self.dim[i + 1] as f64;
            zooms[i] = fixed[i];
        }
        zooms[0] = -zooms[0];
        let mut a = [[0.0; 4]; 3];
        for i in 0..3 {
            a[i][i] = zooms[i];
            a[i][3] = -((shape[i] - 1.0) / 2.0) * zooms[i];
        }
        a
    }

    /// The voxel-to-world affine exactly as nibabel's `img.affine` resolves it: the sform
    /// when sform_code ≠ 0, else the qform when qform_code ≠ 0, else [`Self::base_affine`].
    /// Fails when the chosen affine is not finite or not invertible.
    pub fn affine(&self) -> Result<[[f64; 4]; 3]> {
        let (a, which) = if self.effective_sform_code() != 0 {
            (self.sform_affine(), "sform")
        } else if self.effective_qform_code() != 0 {
            (self.qform_affine()?, "qform")
        } else {
            (self.base_affine(), "pixdim-based affine")
        };
        if a.iter().flatten().any(|v| !v.is_finite()) {
            return Err(DtiError::Invalid {
                what: format!("NIfTI {which}"),
                message: format!("has non-finite entries: {a:?}"),
            });
        }
        let det = det3(&a);
        let scale = (0..3)
            .map(|j| (0..3).map(|i| a[i][j] * a[i][j]).sum::<f64>().sqrt())
            .product::<f64>();
        if det.is_nan() || det.abs() <= 1e-12 * scale || scale == 0.0 {
            return Err(DtiError::Invalid {
                what: format!("NIfTI {which}"),
                message: format!("is not invertible (determinant {det}): {a:?}"),
            });
        }
        Ok(a)
    }
}

fn det3(a: &[[f64; 4]; 3]) -> f64 {
    a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
        - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
        + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
}

/// Rotation matrix of a quaternion (nibabel `quaternions.quat2mat`, normalising by |q|²).
fn quat_to_mat(w: f64, x: f64, y: f64, z: f64) -> [[f64; 3]; 3] {
    let nq = w * w + x * x + y * y + z * z;
    if nq < f64::EPSILON {
        return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    }
    let s = 2.0 / nq;
    let (xs, ys, zs) = (x * s, y * s, z * s);
    let (wx, wy, wz) = (w * xs, w * ys, w * zs);
    let (xx, xy, xz) = (x * xs, x * ys, x * zs);
    let (yy, yz, zz) = (y * ys, y * zs, z * zs);
    [
        [1.0 - (yy + zz), xy - wz, xz + wy],
        [xy + wz, 1.0 - (xx + zz), yz - wx],
        [xz - wy, yz + wx, 1.0 - (xx + yy)],
    ]
}

/// True when the bytes start with the gzip magic number.
fn is_gzip(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

/// Reads only the header of a `.nii` or `.nii.gz` file (gzip is recognised by content).
pub fn read_header(path: &Path) -> Result<NiftiHeader> {
    let name = path.display().to_string();
    let mut file = File::open(path).map_err(|e| io_err(path, e))?;
    let mut head = Vec::with_capacity(NIFTI2_HEADER_SIZE);
    (&mut file)
        .take(NIFTI2_HEADER_SIZE as u64)
        .read_to_end(&mut head)
        .map_err(|e| io_err(path, e))?;
    if is_gzip(&head) {
        let file = File::open(path).map_err(|e| io_err(path, e))?;
        let mut dec = MultiGzDecoder::new(std::io::BufReader::new(file));
        head.clear();
        (&mut dec)
            .take(NIFTI2_HEADER_SIZE as u64)
            .read_to_end(&mut head)
            .map_err(|e| format_err(&name, format!("corrupt gzip data in the header: {e}")))?;
    }
    NiftiHeader::parse(&name, &head)
}

/// Reads a file's bytes (for [`decode_voxel_major`]), with [`read`]'s error on failure.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    #[cfg(unix)]
    {
        read_bytes_parallel(path).map_err(|e| io_err(path, e))
    }
    #[cfg(not(unix))]
    {
        std::fs::read(path).map_err(|e| io_err(path, e))
    }
}

/// Reads a whole file, large files as a few parts read at once by the worker threads
/// (copying from the page cache into fresh memory is page-fault bound: parts in parallel
/// take about half the time on two cores). Bytes past the size first seen are read too.
#[cfg(unix)]
fn read_bytes_parallel(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    const PART: usize = 8 << 20;
    let mut f = File::open(path)?;
    let len = usize::try_from(f.metadata()?.len()).unwrap_or(usize::MAX);
    if len < 2 * PART {
        let mut v = Vec::with_capacity(len.saturating_add(1));
        f.read_to_end(&mut v)?;
        return Ok(v);
    }
    let mut buf = vec![0u8; len];
    let n_parts = rayon::current_num_threads().clamp(1, len / PART);
    let part = len.div_ceil(n_parts);
    use rayon::prelude::*;
    let got: Vec<usize> = buf
        .par_chunks_mut(part)
        .enumerate()
        .map(|(k, chunk)| -> std::io::Result<usize> {
            let mut done = 0;
            while done < chunk.len() {
                match f.read_at(&mut chunk[done..], (k * part + done) as u64) {
                    Ok(0) => break,
                    Ok(n) => done += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(done)
        })
        .collect::<std::io::Result<_>>()?;
    // A part cut short: the file shrank while being read; keep what precedes the gap.
    let mut total = 0;
    for (k, n) in got.iter().enumerate() {
        total = k * part + n;
        if *n < part.min(len - k * part) {
            buf.truncate(total);
            return Ok(buf);
        }
    }
    // The file may have grown since its size was taken.
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::Start(total as u64))?;
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

/// Reads a `.nii` or `.nii.gz` file: header and data as f32 after scaling.
pub fn read(path: &Path) -> Result<(NiftiHeader, Volume<f32>)> {
    let bytes = std::fs::read(path).map_err(|e| io_err(path, e))?;
    read_from_bytes(&path.display().to_string(), &bytes)
}

/// Decodes a whole NIfTI file held in memory (gzip-compressed or not); `name` names it
/// in errors. Allocation is bounded by the input: a header claiming more data than the
/// bytes (or, compressed, 1032× the bytes) can hold is rejected first.
pub fn read_from_bytes(name: &str, bytes: &[u8]) -> Result<(NiftiHeader, Volume<f32>)> {
    let (hdr, inflated, offset) = unpack(name, bytes)?;
    let (_, n_data) = data_extent(name, &hdr)?;
    let data = inflated.as_deref().unwrap_or(bytes);
    let vol = decode_volume(name, &hdr, &data[offset..offset + n_data])?;
    Ok((hdr, vol))
}

/// A 4-D image decoded voxel-major (see [`decode_voxel_major`]).
#[derive(Debug, Clone)]
pub struct VoxelMajor {
    /// The header as read.
    pub header: NiftiHeader,
    /// (nx, ny, nz, nvol) of the whole grid.
    pub dims: [usize; 4],
    /// Voxel-to-world affine.
    pub affine: [[f64; 4]; 3],
    /// All volumes of the first kept voxel, then of the next, ... (grid order).
    pub signals: Vec<f32>,
    /// Voxels of the whole grid (kept or not) with a non-finite value in any volume.
    pub nonfinite_voxels: usize,
}

/// Decodes a whole NIfTI file (gzip-compressed or not), taking ownership of its bytes so
/// they can be freed as soon as they are inflated, straight into voxel-major f32 (the
/// values [`read_from_bytes`] gives, in [`Volume::to_voxel_major`]'s layout) without a
/// NIfTI-order f32 copy. With `keep` (one flag per grid voxel), only the kept voxels'
/// signals are stored.
pub fn decode_voxel_major(name: &str, bytes: Vec<u8>, keep: Option<&[bool]>) -> Result<VoxelMajor> {
    decode_voxel_major_with(name, bytes, keep, |_| ()).0
}

/// [`decode_voxel_major`], also running `side` on the file's bytes (e.g. a digest) on
/// another thread while they are inflated; `side`'s result comes back even when decoding
/// fails.
pub fn decode_voxel_major_with<R: Send>(
    name: &str,
    bytes: Vec<u8>,
    keep: Option<&[bool]>,
    side: impl FnOnce(&[u8]) -> R + Send,
) -> (Result<VoxelMajor>, R) {
    // The header comes first (a few hundred bytes), so the inflated data's buffer can be
    // allocated before inflating starts and its pages faulted in by the side thread (after
    // `side`), from the end backwards, while the inflater fills it from the front.
    let plan = unpack_plan(name, &bytes);
    let (unpacked, r) = match plan {
        Ok((hdr, Some(needed), offset)) => {
            let mut out = vec![0u8; needed];
            let region = (out.as_mut_ptr() as usize, out.len());
            crate::mem::advise_huge_pages(region.0, region.1);
            // `out` outlives the join: the side thread's range stays allocated.
            let (streamed, r) = rayon::join(
                || gunzip_into(name, &bytes, &mut out),
                || {
                    let r = side(&bytes);
                    crate::mem::prefault_backwards(region.0, region.1);
                    r
                },
            );
            let raw = streamed.map(|s| s.unwrap_or(out));
            (raw.map(|raw| (hdr, Some(raw), offset)), r)
        }
        Ok((hdr, None, offset)) => (Ok((hdr, None, offset)), side(&bytes)),
        Err(e) => (Err(e), side(&bytes)),
    };
    let decoded = unpacked.and_then(|(hdr, raw, offset)| {
        let raw = match raw {
            Some(inflated) => {
                drop(bytes);
                inflated
            }
            None => bytes,
        };
        to_voxel_major(name, hdr, &raw, offset, keep)
    });
    (decoded, r)
}

/// Header, inflated bytes (`None`: the file is not compressed and holds them itself) and
/// data offset of a single-file NIfTI.
#[allow(clippy::type_complexity)]
fn unpack(name: &str, bytes: &[u8]) -> Result<(NiftiHeader, Option<Vec<u8>>, usize)> {
    let (hdr, needed, offset) = unpack_plan(name, bytes)?;
    let raw = match needed {
        Some(needed) => {
            let mut out = vec![0u8; needed];
            Some(gunzip_into(name, bytes, &mut out)?.unwrap_or(out))
        }
        None => None,
    };
    Ok((hdr, raw, offset))
}

/// Header, number of bytes to inflate (`None`: the file is not compressed) and data
/// offset of a single-file NIfTI, with the checks of its size against the header.
fn unpack_plan(name: &str, bytes: &[u8]) -> Result<(NiftiHeader, Option<usize>, usize)> {
    if is_gzip(bytes) {
        let mut head = Vec::with_capacity(NIFTI2_HEADER_SIZE);
        (&mut MultiGzDecoder::new(bytes))
            .take(NIFTI2_HEADER_SIZE as u64)
            .read_to_end(&mut head)
            .map_err(|e| format_err(name, format!("corrupt gzip data in the header: {e}")))?;
        let hdr = NiftiHeader::parse(name, &head)?;
        let (offset, n_data) = data_extent(name, &hdr)?;
        let needed = offset + n_data;
        if needed / MAX_DEFLATE_RATIO > bytes.len() {
            return Err(format_err(
                name,
                format!(
                    "header announces {needed} bytes, more than {} compressed bytes can hold",
                    bytes.len()
                ),
            ));
        }
        Ok((hdr, Some(needed), offset))
    } else {
        let hdr = NiftiHeader::parse(name, bytes)?;
        let (offset, n_data) = data_extent(name, &hdr)?;
        let needed = offset + n_data;
        if bytes.len() < needed {
            return Err(format_err(
                name,
                format!(
                    "file is {} bytes but the header needs {needed} ({n_data} data bytes \
                     at offset {offset}): truncated, or the header is wrong",
                    bytes.len()
                ),
            ));
        }
        Ok((hdr, None, offset))
    }
}

/// The data of `raw` (from `offset`) as voxel-major f32, kept voxels only.
fn to_voxel_major(
    name: &str,
    hdr: NiftiHeader,
    raw: &[u8],
    offset: usize,
    keep: Option<&[bool]>,
) -> Result<VoxelMajor> {
    let dtype = hdr.data_type()?;
    let scaling = hdr
        .slope_inter()
        .map_err(|e| format_err(name, e.to_string()))?;
    let affine = hdr.affine().map_err(|e| format_err(name, e.to_string()))?;
    let dims = hdr.dims();
    if dims.contains(&0) {
        return Err(format_err(
            name,
            format!("volume: dimensions {dims:?} include a zero"),
        ));
    }
    let nv = dims[0] * dims[1] * dims[2];
    let nt = dims[3];
    if let Some(k) = keep
        && k.len() != nv
    {
        return Err(format_err(
            name,
            format!("{} voxel flags given for a grid of {nv} voxels", k.len()),
        ));
    }
    // Integers without scaling convert exactly to finite f32: no check needed.
    let integer = !matches!(dtype, DataType::F32 | DataType::F64);
    let unscaled = scaling.is_none_or(|(s, i)| s == 1.0 && i == 0.0);
    let check_finite = !(integer && unscaled);
    let mut nonfinite = 0usize;
    let size = dtype.size();
    let vol_bytes = nv * size;
    let n_keep = keep.map_or(nv, |k| k.iter().filter(|&&b| b).count());
    let mut out = vec![0f32; n_keep * nt];
    // Blocks of grid voxels, each volume's slice of the block through the same conversion
    // as `read_from_bytes` (identical values); the block's output stays in cache. Blocks
    // write disjoint parts of `out` (by the kept voxels before them), in parallel.
    const BLOCK: usize = 2048;
    let starts: Vec<usize> = (0..nv).step_by(BLOCK).collect();
    let mut parts: Vec<(usize, &mut [f32])> = Vec::with_capacity(starts.len());
    let mut rest: &mut [f32] = &mut out;
    for &b0 in &starts {
        let b1 = (b0 + BLOCK).min(nv);
        let n = keep.map_or(b1 - b0, |k| k[b0..b1].iter().filter(|&&b| b).count());
        let (part, tail) = std::mem::take(&mut rest).split_at_mut(n * nt);
        parts.push((b0, part));
        rest = tail;
    }
    use rayon::prelude::*;
    nonfinite += parts
        .into_par_iter()
        .map(|(b0, part)| {
            let b1 = (b0 + BLOCK).min(nv);
            let kept: Vec<usize> = (b0..b1)
                .filter(|&v| keep.is_none_or(|k| k[v]))
                .map(|v| v - b0)
                .collect();
            let mut bad = vec![false; if check_finite { b1 - b0 } else { 0 }];
            for t in 0..nt {
                let start = offset + t * vol_bytes;
                let vals = decode_f32(
                    dtype,
                    hdr.big_endian,
                    &raw[start + b0 * size..start + b1 * size],
                    scaling,
                );
                if check_finite {
                    for (f, x) in bad.iter_mut().zip(&vals) {
                        *f |= !x.is_finite();
                    }
                }
                for (j, &v) in kept.iter().enumerate() {
                    part[j * nt + t] = vals[v];
                }
            }
            bad.iter().filter(|&&f| f).count()
        })
        .sum::<usize>();
    Ok(VoxelMajor {
        header: hdr,
        dims,
        affine,
        signals: out,
        nonfinite_voxels: nonfinite,
    })
}

fn data_extent(name: &str, hdr: &NiftiHeader) -> Result<(usize, usize)> {
    if !hdr.single_file {
        return Err(format_err(
            name,
            "is the header of a .hdr/.img pair: only single-file NIfTI (.nii, .nii.gz) is supported",
        ));
    }
    let n = hdr
        .n_data_bytes()
        .ok_or_else(|| format_err(name, "data size overflows"))?;
    let offset = hdr.data_offset();
    offset
        .checked_add(n)
        .ok_or_else(|| format_err(name, "data size overflows"))?;
    Ok((offset, n))
}

/// libdeflate's decompressor, freed on drop.
struct Inflater(std::ptr::NonNull<libdeflate_sys::libdeflate_decompressor>);

impl Inflater {
    fn new() -> Option<Self> {
        // SAFETY: plain allocation call; a null return is handled.
        let p = unsafe { libdeflate_sys::libdeflate_alloc_decompressor() };
        std::ptr::NonNull::new(p).map(Inflater)
    }

    /// Inflates one gzip member from `input` into `out`; returns (bytes read, bytes written)
    /// or libdeflate's result code.
    fn member(&mut self, input: &[u8], out: &mut [u8]) -> std::result::Result<(usize, usize), u32> {
        let (mut ain, mut aout) = (0usize, 0usize);
        // SAFETY: pointers and lengths come from live slices; libdeflate writes at most
        // `out.len()` bytes and reads at most `input.len()`.
        let r = unsafe {
            libdeflate_sys::libdeflate_gzip_decompress_ex(
                self.0.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
                out.len(),
                &mut ain,
                &mut aout,
            )
        };
        if r == 0 {
            Ok((ain, aout))
        } else {
            Err(r as u32)
        }
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: the pointer came from libdeflate_alloc_decompressor and is freed once.
        unsafe { libdeflate_sys::libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

/// Inflates the first `out.len()` bytes of a (possibly multi-member) gzip stream into
/// `out`; `Some`: a member held more than that, and the bytes were streamed into a new
/// buffer instead.
fn gunzip_into(name: &str, gz: &[u8], out: &mut [u8]) -> Result<Option<Vec<u8>>> {
    let needed = out.len();
    let mut inflater =
        Inflater::new().ok_or_else(|| format_err(name, "cannot allocate a gzip decompressor"))?;
    let (mut pin, mut pout) = (0usize, 0usize);
    while pout < needed {
        if pin >= gz.len() {
            return Err(format_err(
                name,
                format!(
                    "truncated: decompressed data ends at {pout} bytes, the header needs {needed}"
                ),
            ));
        }
        match inflater.member(&gz[pin..], &mut out[pout..]) {
            Ok((ain, aout)) => {
                pin += ain;
                pout += aout;
            }
            // LIBDEFLATE_INSUFFICIENT_SPACE: this member holds more than the header
            // needs (trailing bytes after the data); stream the rest with flate2.
            Err(3) => return gunzip_streaming(name, gz, needed).map(Some),
            Err(_) => {
                return Err(format_err(
                    name,
                    format!(
                        "corrupt or truncated gzip data in the member starting at compressed \
                         byte {pin} (after {pout} of {needed} decompressed bytes)"
                    ),
                ));
            }
        }
    }
    Ok(None)
}

fn gunzip_streaming(name: &str, gz: &[u8], needed: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(needed);
    (&mut MultiGzDecoder::new(gz))
        .take(needed as u64)
        .read_to_end(&mut out)
        .map_err(|e| format_err(name, format!("corrupt gzip data: {e}")))?;
    if out.len() < needed {
        return Err(format_err(
            name,
            format!(
                "truncated: decompressed data ends at {} bytes, the header needs {needed}",
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// Converts raw voxel bytes to scaled f32 in one pass.
fn decode_volume(name: &str, hdr: &NiftiHeader, raw: &[u8]) -> Result<Volume<f32>> {
    let dtype = hdr.data_type()?;
    let scaling = hdr
        .slope_inter()
        .map_err(|e| format_err(name, e.to_string()))?;
    let affine = hdr.affine().map_err(|e| format_err(name, e.to_string()))?;
    let data = decode_f32(dtype, hdr.big_endian, raw, scaling);
    Volume::new(hdr.dims(), affine, data).map_err(|e| format_err(name, e.to_string()))
}

macro_rules! decode_as {
    ($raw:expr, $t:ty, $be:expr, $conv:expr) => {{
        const N: usize = std::mem::size_of::<$t>();
        let conv = $conv;
        if $be {
            $raw.chunks_exact(N)
                .map(|c| conv(<$t>::from_be_bytes(c.try_into().expect("chunk size"))))
                .collect::<Vec<f32>>()
        } else {
            $raw.chunks_exact(N)
                .map(|c| conv(<$t>::from_le_bytes(c.try_into().expect("chunk size"))))
                .collect::<Vec<f32>>()
        }
    }};
}

/// Raw bytes → f32. Unscaled types that f32 holds exactly convert directly; every other
/// case goes through f64 (value·slope + inter, as nibabel computes it) and rounds once.
fn decode_f32(dtype: DataType, be: bool, raw: &[u8], scaling: Option<(f64, f64)>) -> Vec<f32> {
    let (s, i) = scaling.unwrap_or((1.0, 0.0));
    let unscaled = s == 1.0 && i == 0.0;
    let sc = move |v: f64| -> f32 {
        let mut x = v;
        if s != 1.0 {
            x *= s;
        }
        if i != 0.0 {
            x += i;
        }
        x as f32
    };
    match (dtype, unscaled) {
        (DataType::U8, true) => raw.iter().map(|&v| f32::from(v)).collect(),
        (DataType::U8, false) => raw.iter().map(|&v| sc(f64::from(v))).collect(),
        (DataType::I8, true) => raw.iter().map(|&v| f32::from(v as i8)).collect(),
        (DataType::I8, false) => raw.iter().map(|&v| sc(f64::from(v as i8))).collect(),
        (DataType::I16, true) => decode_as!(raw, i16, be, f32::from),
        (DataType::I16, false) => decode_as!(raw, i16, be, |v: i16| sc(f64::from(v))),
        (DataType::U16, true) => decode_as!(raw, u16, be, f32::from),
        (DataType::U16, false) => decode_as!(raw, u16, be, |v: u16| sc(f64::from(v))),
        (DataType::I32, _) => decode_as!(raw, i32, be, |v: i32| sc(f64::from(v))),
        (DataType::U32, _) => decode_as!(raw, u32, be, |v: u32| sc(f64::from(v))),
        (DataType::I64, _) => decode_as!(raw, i64, be, |v: i64| sc(v as f64)),
        (DataType::U64, _) => decode_as!(raw, u64, be, |v: u64| sc(v as f64)),
        (DataType::F32, true) => decode_as!(raw, f32, be, |v: f32| v),
        (DataType::F32, false) => decode_as!(raw, f32, be, |v: f32| sc(f64::from(v))),
        (DataType::F64, _) => decode_as!(raw, f64, be, sc),
    }
}

/// Voxel types the writer can store.
pub trait NiftiStorable: Copy + sealed::Sealed {
    /// The NIfTI type written.
    const DATATYPE: DataType;
    /// Appends the little-endian bytes of `v`.
    fn put(v: Self, out: &mut Vec<u8>);
    /// Appends the little-endian bytes of every value of `vals` (one bulk copy on a
    /// little-endian machine).
    fn put_all(vals: &[Self], out: &mut Vec<u8>) {
        out.reserve(std::mem::size_of_val(vals));
        for &v in vals {
            Self::put(v, out);
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for u8 {}
    impl Sealed for i16 {}
}

impl NiftiStorable for f32 {
    const DATATYPE: DataType = DataType::F32;
    fn put(v: Self, out: &mut Vec<u8>) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    fn put_all(vals: &[Self], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + 4 * vals.len(), 0);
        for (b, v) in out[start..].chunks_exact_mut(4).zip(vals) {
            b.copy_from_slice(&v.to_le_bytes());
        }
    }
}

impl NiftiStorable for u8 {
    const DATATYPE: DataType = DataType::U8;
    fn put(v: Self, out: &mut Vec<u8>) {
        out.push(v);
    }
}

impl NiftiStorable for i16 {
    const DATATYPE: DataType = DataType::I16;
    fn put(v: Self, out: &mut Vec<u8>) {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// gzip level [`WriteOptions::default`] uses: libdeflate's level 1, its fastest
/// compressing level, as nibabel's default zlib level 1 (see [`WriteOptions::gzip_level`];
/// size and speed against other levels in the module documentation).
pub const DEFAULT_GZIP_LEVEL: i32 = 1;

/// Options of [`write`].
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOptions {
    /// sform_code written (1 = scanner anatomical, 2 = aligned, ...).
    pub sform_code: i16,
    /// qform_code written.
    pub qform_code: i16,
    /// `descrip` field (truncated to 79 bytes).
    pub description: String,
    /// Repetition time written as pixdim[4] for 4-D images (seconds; 0 if unknown).
    pub tr: f64,
    /// gzip level (0–12, libdeflate's scale) for `.gz` paths. The default, 1, matches
    /// nibabel, which writes `.nii.gz` at zlib `compresslevel` 1 (`Opener.default_compresslevel`
    /// in nibabel 5.4's `nibabel/openers.py`).
    pub gzip_level: i32,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            sform_code: 1,
            qform_code: 1,
            description: String::new(),
            tr: 0.0,
            gzip_level: DEFAULT_GZIP_LEVEL,
        }
    }
}

impl WriteOptions {
    /// Options keeping a source image's form codes (so derived maps keep its space).
    pub fn like(header: &NiftiHeader) -> Self {
        let code = |c: i32| if (1..=5).contains(&c) { c as i16 } else { 1 };
        WriteOptions {
            sform_code: code(header.effective_sform_code()),
            qform_code: code(header.effective_qform_code()),
            tr: header.pixdim[4],
            ..WriteOptions::default()
        }
    }
}

/// Quaternion (b, c, d), voxel sizes, and qfac for an affine (nibabel `set_qform`: the
/// rotation is the nearest orthonormal matrix to the normalised columns; qfac = −1 and
/// the third column negated when the determinant is negative). Returns an error for a
/// singular affine.
pub fn affine_to_quaternion(affine: &[[f64; 4]; 3]) -> Result<([f64; 3], [f64; 3], f64)> {
    let mut zooms = [0.0; 3];
    let mut r = [[0.0; 3]; 3];
    for j in 0..3 {
        zooms[j] = (0..3).map(|i| affine[i][j].powi(2)).sum::<f64>().sqrt();
        if !(zooms[j] > 0.0 && zooms[j].is_finite()) {
            return Err(DtiError::Invalid {
                what: "affine".into(),
                message: format!("column {j} has length {}: not invertible", zooms[j]),
            });
        }
        for i in 0..3 {
            r[i][j] = affine[i][j] / zooms[j];
        }
    }
    let d = det33(&r);
    if d.is_nan() || d.abs() <= 1e-9 {
        return Err(DtiError::Invalid {
            what: "affine".into(),
            message: format!("rotation part is singular (determinant {d}): not invertible"),
        });
    }
    let qfac = if d > 0.0 { 1.0 } else { -1.0 };
    if qfac < 0.0 {
        for row in &mut r {
            row[2] = -row[2];
        }
    }
    let r = nearest_rotation(r);
    Ok((mat_to_quat(&r), zooms, qfac))
}

fn det33(r: &[[f64; 3]; 3]) -> f64 {
    r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
        - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
        + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0])
}

/// Orthonormal polar factor by Newton iteration R ← (R + R⁻ᵀ)/2 (Higham 1986), which
/// equals the SVD-based U·Vᵀ nibabel uses.
fn nearest_rotation(mut r: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    for _ in 0..100 {
        let d = det33(&r);
        if d.abs() < 1e-300 {
            break;
        }
        // Inverse transpose = cofactor matrix / det.
        let mut next = [[0.0; 3]; 3];
        let mut change: f64 = 0.0;
        for i in 0..3 {
            for j in 0..3 {
                let (i1, i2) = ((i + 1) % 3, (i + 2) % 3);
                let (j1, j2) = ((j + 1) % 3, (j + 2) % 3);
                let cof = r[i1][j1] * r[i2][j2] - r[i1][j2] * r[i2][j1];
                next[i][j] = 0.5 * (r[i][j] + cof / d);
                change = change.max((next[i][j] - r[i][j]).abs());
            }
        }
        r = next;
        if change < 1e-15 {
            break;
        }
    }
    r
}

/// Unit quaternion (b, c, d with a ≥ 0) of a rotation matrix (Shepperd's method, as in
/// nifti1_io's `nifti_mat44_to_quatern`).
fn mat_to_quat(r: &[[f64; 3]; 3]) -> [f64; 3] {
    let (xx, yy, zz) = (r[0][0], r[1][1], r[2][2]);
    let trace1 = 1.0 + xx + yy + zz;
    let (a, b, c, d): (f64, f64, f64, f64);
    if trace1 > 0.5 {
        let a_ = 0.5 * trace1.sqrt();
        a = a_;
        b = 0.25 * (r[2][1] - r[1][2]) / a_;
        c = 0.25 * (r[0][2] - r[2][0]) / a_;
        d = 0.25 * (r[1][0] - r[0][1]) / a_;
    } else {
        let xd = 1.0 + xx - (yy + zz);
        let yd = 1.0 + yy - (xx + zz);
        let zd = 1.0 + zz - (xx + yy);
        if xd > 1.0 {
            let b_ = 0.5 * xd.sqrt();
            b = b_;
            c = 0.25 * (r[0][1] + r[1][0]) / b_;
            d = 0.25 * (r[0][2] + r[2][0]) / b_;
            a = 0.25 * (r[2][1] - r[1][2]) / b_;
        } else if yd > 1.0 {
            let c_ = 0.5 * yd.sqrt();
            c = c_;
            b = 0.25 * (r[0][1] + r[1][0]) / c_;
            d = 0.25 * (r[1][2] + r[2][1]) / c_;
            a = 0.25 * (r[0][2] - r[2][0]) / c_;
        } else {
            let d_ = 0.5 * zd.sqrt();
            d = d_;
            b = 0.25 * (r[0][2] + r[2][0]) / d_;
            c = 0.25 * (r[1][2] + r[2][1]) / d_;
            a = 0.25 * (r[1][0] - r[0][1]) / d_;
        }
    }
    if a < 0.0 { [-b, -c, -d] } else { [b, c, d] }
}

/// Encodes a volume as the bytes of a little-endian single-file NIfTI-1 image.
pub fn encode<T: NiftiStorable>(vol: &Volume<T>, options: &WriteOptions) -> Result<Vec<u8>> {
    let dims = vol.dims();
    if let Some(&d) = dims.iter().find(|&&d| d > i16::MAX as usize) {
        return Err(DtiError::Shape {
            what: "NIfTI-1 writer".into(),
            message: format!("dimension {d} exceeds NIfTI-1's limit of 32767"),
        });
    }
    let affine = vol.affine();
    let (quat, zooms, qfac) = affine_to_quaternion(affine)?;
    let mut h = vec![0u8; NIFTI1_HEADER_SIZE + 4];
    let put_i16 =
        |h: &mut Vec<u8>, off: usize, v: i16| h[off..off + 2].copy_from_slice(&v.to_le_bytes());
    let put_f32 = |h: &mut Vec<u8>, off: usize, v: f64| {
        h[off..off + 4].copy_from_slice(&(v as f32).to_le_bytes())
    };
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    h[38] = b'r';
    let ndim: i16 = if dims[3] > 1 { 4 } else { 3 };
    put_i16(&mut h, 40, ndim);
    for (i, &d) in dims.iter().enumerate() {
        put_i16(&mut h, 42 + 2 * i, d as i16);
    }
    for i in 4..7 {
        put_i16(&mut h, 42 + 2 * i, 1);
    }
    put_i16(&mut h, 70, T::DATATYPE.code());
    put_i16(&mut h, 72, (T::DATATYPE.size() * 8) as i16);
    put_f32(&mut h, 76, qfac);
    for (j, &z) in zooms.iter().enumerate() {
        put_f32(&mut h, 80 + 4 * j, z);
    }
    put_f32(&mut h, 92, if dims[3] > 1 { options.tr } else { 0.0 });
    for i in 5..8 {
        put_f32(&mut h, 76 + 4 * i, 1.0);
    }
    put_f32(&mut h, 108, (NIFTI1_HEADER_SIZE + 4) as f64);
    put_f32(&mut h, 112, 1.0);
    h[123] = 2 | 8; // mm, seconds
    let desc = options.description.as_bytes();
    let n = desc.len().min(79);
    h[148..148 + n].copy_from_slice(&desc[..n]);
    put_i16(&mut h, 252, options.qform_code);
    put_i16(&mut h, 254, options.sform_code);
    for (k, &q) in quat.iter().enumerate() {
        put_f32(&mut h, 256 + 4 * k, q);
    }
    for (i, row) in affine.iter().enumerate() {
        put_f32(&mut h, 268 + 4 * i, row[3]);
        for (j, &v) in row.iter().enumerate() {
            put_f32(&mut h, 280 + 16 * i + 4 * j, v);
        }
    }
    h[344..348].copy_from_slice(b"n+1\0");
    T::put_all(vol.data(), &mut h);
    Ok(h)
}

fn gzip(bytes: &[u8], level: i32) -> Result<Vec<u8>> {
    let lvl =
        libdeflater::CompressionLvl::new(level.clamp(0, 12)).map_err(|_| DtiError::Invalid {
            what: "gzip level".into(),
            message: format!("{level} is not a libdeflate level (0-12)"),
        })?;
    let mut c = libdeflater::Compressor::new(lvl);
    let mut out = vec![0u8; c.gzip_compress_bound(bytes.len())];
    let n = c
        .gzip_compress(bytes, &mut out)
        .map_err(|e| DtiError::Invalid {
            what: "gzip".into(),
            message: format!("compression failed: {e:?}"),
        })?;
    out.truncate(n);
    Ok(out)
}

/// Writes a volume as NIfTI-1 (`.nii`, or gzip-compressed when the path ends in `.gz`),
/// atomically: the bytes go to a temporary file in the same folder, which is renamed
/// over `path` only once complete.
pub fn write<T: NiftiStorable>(path: &Path, vol: &Volume<T>, options: &WriteOptions) -> Result<()> {
    let mut bytes = encode(vol, options)?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
    {
        bytes = gzip(&bytes, options.gzip_level)?;
    }
    write_atomic(path, &bytes)
}

/// Writes bytes to `path` through a temporary sibling file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let file_name = path.file_name().ok_or_else(|| DtiError::Io {
        file: path.display().to_string(),
        message: "not a file path".into(),
    })?;
    let tmp: PathBuf = path.with_file_name(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(path, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quaternion_round_trip_of_an_oblique_flipped_affine() {
        let (c, s) = (0.3f64.cos(), 0.3f64.sin());
        let a = [
            [-2.0 * c, 0.0, 2.5 * s, 10.0],
            [2.0 * s, 0.0, 2.5 * c, -20.0],
            [0.0, 2.2, 0.0, 5.0],
        ];
        let (q, zooms, qfac) = affine_to_quaternion(&a).unwrap();
        let mut h = NiftiHeader::parse(
            "t",
            &encode(
                &Volume::new([1, 1, 1, 1], a, vec![0f32]).unwrap(),
                &WriteOptions::default(),
            )
            .unwrap(),
        )
        .unwrap();
        h.quatern = q;
        h.pixdim[0] = qfac;
        h.pixdim[1..4].copy_from_slice(&zooms);
        h.qoffset = [a[0][3], a[1][3], a[2][3]];
        let back = h.qform_affine().unwrap();
        for i in 0..3 {
            for j in 0..4 {
                assert!((back[i][j] - a[i][j]).abs() < 1e-12, "{back:?} vs {a:?}");
            }
        }
    }

    #[test]
    fn voxel_major_decoding_matches_read_then_transpose() {
        let dims = [3, 4, 2, 5];
        let n: usize = dims.iter().product();
        let mut data: Vec<f32> = (0..n).map(|i| (i as f32) * 0.75 - 7.0).collect();
        data[4] = f32::NAN; // voxel 4, volume 0
        data[24 * 3 + 9] = f32::INFINITY; // voxel 9, volume 3
        let a = [
            [2.0, 0.0, 0.0, 1.0],
            [0.0, 2.0, 0.0, 2.0],
            [0.0, 0.0, 2.5, 3.0],
        ];
        let vol = Volume::new(dims, a, data).unwrap();
        let plain = encode(&vol, &WriteOptions::default()).unwrap();
        let gz = gzip(&plain, 3).unwrap();
        let keep: Vec<bool> = (0..24).map(|v| v % 3 != 1).collect();
        for bytes in [plain, gz] {
            let (_, whole) = read_from_bytes("t", &bytes).unwrap();
            let want = whole.to_voxel_major();
            let all = decode_voxel_major("t", bytes.clone(), None).unwrap();
            assert_eq!(all.dims, dims);
            assert_eq!(all.affine, *whole.affine());
            assert_eq!(all.nonfinite_voxels, 2);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&all.signals), bits(&want));
            let some = decode_voxel_major("t", bytes.clone(), Some(&keep)).unwrap();
            let want_some: Vec<f32> = want
                .chunks(5)
                .zip(&keep)
                .filter(|(_, k)| **k)
                .flat_map(|(s, _)| s.iter().copied())
                .collect();
            assert_eq!(bits(&some.signals), bits(&want_some));
            // Non-finite voxels are counted over the whole grid, kept or not.
            assert_eq!(some.nonfinite_voxels, 2);
            assert!(decode_voxel_major("t", bytes, Some(&keep[..5])).is_err());
        }
    }

    #[test]
    fn voxel_major_decoding_across_many_blocks_and_threads() {
        // 3 × 2048-voxel blocks and a partial one, an irregular keep pattern, NaN in the
        // second block: the parallel block decoding equals read-then-transpose for any
        // thread count.
        let dims = [50, 41, 4, 3];
        let nv = 50 * 41 * 4;
        let n = nv * 3;
        let mut data: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 - 300.5).collect();
        data[nv + 3000] = f32::NAN;
        let a = [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ];
        let bytes = encode(
            &Volume::new(dims, a, data).unwrap(),
            &WriteOptions::default(),
        )
        .unwrap();
        let gz = gzip(&bytes, DEFAULT_GZIP_LEVEL).unwrap();
        let keep: Vec<bool> = (0..nv).map(|v| (v * 31) % 7 < 4 || v == 3000).collect();
        let (_, whole) = read_from_bytes("t", &gz).unwrap();
        let want: Vec<u32> = whole
            .to_voxel_major()
            .chunks(3)
            .zip(&keep)
            .filter(|(_, k)| **k)
            .flat_map(|(s, _)| s.iter().map(|x| x.to_bits()))
            .collect();
        for threads in [1, 2, 5] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let got = pool
                .install(|| decode_voxel_major("t", gz.clone(), Some(&keep)))
                .unwrap();
            assert_eq!(got.nonfinite_voxels, 1);
            let bits: Vec<u32> = got.signals.iter().map(|x| x.to_bits()).collect();
            assert_eq!(bits, want, "{threads} threads");
        }
    }

    #[test]
    fn every_gzip_level_reads_back_the_same_voxels() {
        let dims = [9, 7, 5, 2];
        let n: usize = dims.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|i| {
                if i % 3 == 0 {
                    0.0
                } else {
                    (i as f32).sqrt() * 1e-3
                }
            })
            .collect();
        let a = [
            [2.0, 0.0, 0.0, 0.0],
            [0.0, 2.0, 0.0, 0.0],
            [0.0, 0.0, 2.0, 0.0],
        ];
        let vol = Volume::new(dims, a, data.clone()).unwrap();
        let plain = encode(&vol, &WriteOptions::default()).unwrap();
        for level in [0, DEFAULT_GZIP_LEVEL, 3, 6, 12] {
            let gz = gzip(&plain, level).unwrap();
            assert!(is_gzip(&gz));
            let (_, back) = read_from_bytes("t", &gz).unwrap();
            assert_eq!(back.data(), &data[..], "level {level}");
        }
    }

    #[test]
    fn large_files_read_in_parallel_parts_are_read_whole() {
        // Above the 16 MiB threshold of the parallel reader, with a size that does not
        // divide into equal parts; every byte in place for any thread count.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        let n = (17 << 20) + 12_345;
        let bytes: Vec<u8> = (0..n).map(|i| (i % 251) as u8 ^ (i >> 16) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let got = pool.install(|| read_bytes(&path)).unwrap();
            assert!(got == bytes, "{threads} threads");
        }
        assert!(read_bytes(&dir.path().join("missing.bin")).is_err());
    }

    #[test]
    fn singular_affine_is_refused() {
        let a = [
            [1.0, 0.0, 0.0, 0.0],
            [2.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ];
        assert!(affine_to_quaternion(&a).is_err());
    }
}
