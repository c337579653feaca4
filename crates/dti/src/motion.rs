//! Per-volume motion parameters (rigid, 6 degrees of freedom) from FSL's motion correction,
//! used to rotate the gradient directions with the head ([`crate::gradients::GradientTable::rotated`]).
//!
//! Two text formats, one row per volume, whitespace-separated numbers:
//! - **mcflirt** `.par`: 6 columns, three rotations (radians, about x, y, z) **then** three
//!   translations (mm) — the parameter order of FSL's `construct_rotmat_euler`
//!   (`miscmaths.cc`: "order of parameters is 3 rotation + 3 translation").
//! - **eddy** `*.eddy_parameters`: three translations (mm) **then** three rotations (radians),
//!   then the eddy-current terms (16 or more columns; FSL eddy user guide: "the first six
//!   columns correspond to subject movement starting with three translations followed by
//!   three rotations").
//!
//! The angles of a row give FSL's Euler rotation R = Rx·Ry·Rz with the elementary matrices
//! of `construct_rotmat_euler`/`make_rot` (e.g. Rz = [[c, s, 0], [−s, c, 0], [0, 0, 1]]), in
//! FSL's image (scaled-voxel) frame — the frame of the bvec file. eddy builds its movement
//! matrix from its columns with the same function (topup's `MovePar2Matrix` reorders them to
//! rotations first), but the two tools' matrices point in opposite directions:
//! - mcflirt's parameters are those of its `MAT_*` matrices, which move volume i onto the
//!   reference, so a direction g of volume i is R·g in the reference frame (as FSL's
//!   `fdt_rotate_bvecs` applies `eddy_correct`'s matrices; Leemans & Jones 2009);
//! - eddy's are its forward movement model, from the reference onto the scan, and eddy rotates
//!   a bvec with the inverse (`ECScan::GetDiffPara`: `InverseMovementMatrix()` times the
//!   bvec, which is how `*.eddy_rotated_bvecs` are written), so g becomes Rᵀ·g.
//!
//! [`MotionParameters::rotation_matrices`] returns the matrix to apply in each case.
//! DIPY 1.12's `reorient_bvecs` applies R⁻¹ for affines that map the reference onto the volume
//! (DIPY's registration direction): the same rule.

use crate::error::{DtiError, Result};

/// The layout of a motion-parameter file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MotionFormat {
    /// FSL mcflirt `.par`: rx ry rz (rad) tx ty tz (mm).
    Mcflirt,
    /// FSL eddy `*.eddy_parameters`: tx ty tz (mm) rx ry rz (rad), then eddy-current terms.
    Eddy,
}

impl MotionFormat {
    /// The format implied by a file name: `*.par` is mcflirt, `*eddy_parameters*` is eddy;
    /// `None` for other names.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let n = name.to_ascii_lowercase();
        if n.ends_with(".par") {
            Some(Self::Mcflirt)
        } else if n.contains("eddy_parameters") {
            Some(Self::Eddy)
        } else {
            None
        }
    }
}

/// Motion parameters, one entry per volume.
#[derive(Debug, Clone, PartialEq)]
pub struct MotionParameters {
    /// The layout they were read in.
    pub format: MotionFormat,
    /// Rotations about x, y, z in radians, per volume.
    pub rotations_rad: Vec<[f64; 3]>,
    /// Translations along x, y, z in mm, per volume.
    pub translations_mm: Vec<[f64; 3]>,
}

fn invalid(what: &str, message: String) -> DtiError {
    DtiError::Invalid {
        what: what.to_string(),
        message,
    }
}

impl MotionParameters {
    /// Parses the text of a motion file (`what` names it in errors). Blank lines and lines
    /// starting with `#` are skipped; every other row needs at least 6 finite numbers (mcflirt
    /// rows exactly 6).
    pub fn parse(text: &str, format: MotionFormat, what: &str) -> Result<Self> {
        let mut rotations_rad = Vec::new();
        let mut translations_mm = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let mut v = Vec::new();
            for tok in t.split_whitespace() {
                let x: f64 = tok.parse().map_err(|_| DtiError::Parse {
                    file: what.to_string(),
                    line: i + 1,
                    value: tok.to_string(),
                    expected: "is not a number".into(),
                })?;
                if !x.is_finite() {
                    return Err(DtiError::Parse {
                        file: what.to_string(),
                        line: i + 1,
                        value: tok.to_string(),
                        expected: "is not finite".into(),
                    });
                }
                v.push(x);
            }
            let ok = match format {
                MotionFormat::Mcflirt => v.len() == 6,
                MotionFormat::Eddy => v.len() >= 6,
            };
            if !ok {
                return Err(invalid(
                    what,
                    format!(
                        "line {}: {} columns; {} rows have {}",
                        i + 1,
                        v.len(),
                        match format {
                            MotionFormat::Mcflirt => "mcflirt .par",
                            MotionFormat::Eddy => "eddy_parameters",
                        },
                        match format {
                            MotionFormat::Mcflirt => "6 (rx ry rz tx ty tz)",
                            MotionFormat::Eddy => "at least 6 (tx ty tz rx ry rz ...)",
                        }
                    ),
                ));
            }
            let (r, tr) = match format {
                MotionFormat::Mcflirt => ([v[0], v[1], v[2]], [v[3], v[4], v[5]]),
                MotionFormat::Eddy => ([v[3], v[4], v[5]], [v[0], v[1], v[2]]),
            };
            if let Some(a) = r.iter().find(|a| a.abs() > std::f64::consts::PI) {
                return Err(invalid(
                    what,
                    format!(
                        "line {}: rotation {a} is larger than π: rotations must be in radians",
                        i + 1
                    ),
                ));
            }
            rotations_rad.push(r);
            translations_mm.push(tr);
        }
        if rotations_rad.is_empty() {
            return Err(invalid(what, "no rows of motion parameters".into()));
        }
        Ok(Self {
            format,
            rotations_rad,
            translations_mm,
        })
    }

    /// Number of volumes (rows).
    pub fn len(&self) -> usize {
        self.rotations_rad.len()
    }

    /// True without rows (never for a parsed file).
    pub fn is_empty(&self) -> bool {
        self.rotations_rad.is_empty()
    }

    /// For every volume, the rotation that turns its gradient direction into the reference
    /// frame: [`fsl_euler_rotation`] of its angles for mcflirt, the transpose (inverse) of it
    /// for eddy (see the module docs).
    pub fn rotation_matrices(&self) -> Vec<[[f64; 3]; 3]> {
        self.rotations_rad
            .iter()
            .map(|&r| {
                let m = fsl_euler_rotation(r);
                match self.format {
                    MotionFormat::Mcflirt => m,
                    MotionFormat::Eddy => std::array::from_fn(|i| std::array::from_fn(|j| m[j][i])),
                }
            })
            .collect()
    }

    /// The largest rotation angle over the volumes, degrees.
    pub fn max_rotation_deg(&self) -> f64 {
        self.rotation_matrices()
            .iter()
            .map(|m| {
                let c = ((m[0][0] + m[1][1] + m[2][2] - 1.0) / 2.0).clamp(-1.0, 1.0);
                c.acos().to_degrees()
            })
            .fold(0.0, f64::max)
    }
}

/// FSL's rotation from Euler angles `[rx, ry, rz]` (radians): R = Rx·Ry·Rz with
/// Rx = [[1,0,0],[0,cx,sx],[0,−sx,cx]], Ry = [[cy,0,−sy],[0,1,0],[sy,0,cy]],
/// Rz = [[cz,sz,0],[−sz,cz,0],[0,0,1]] (FSL miscmaths `construct_rotmat_euler`).
pub fn fsl_euler_rotation(r: [f64; 3]) -> [[f64; 3]; 3] {
    let (sx, cx) = r[0].sin_cos();
    let (sy, cy) = r[1].sin_cos();
    let (sz, cz) = r[2].sin_cos();
    [
        [cy * cz, cy * sz, -sy],
        [sx * sy * cz - cx * sz, sx * sy * sz + cx * cz, sx * cy],
        [cx * sy * cz + sx * sz, cx * sy * sz - sx * cz, cx * cy],
    ]
}

/// The angles `[rx, ry, rz]` (radians) of a rotation R = Rx·Ry·Rz as
/// [`fsl_euler_rotation`] builds it, the inverse of that function for |ry| < π/2 (FSL
/// miscmaths `rotmat2euler`). Use it to write the parameters of a known rotation.
pub fn fsl_euler_angles(m: &[[f64; 3]; 3]) -> [f64; 3] {
    let ry = (-m[0][2]).clamp(-1.0, 1.0).asin();
    let rz = m[0][1].atan2(m[0][0]);
    let rx = m[1][2].atan2(m[2][2]);
    [rx, ry, rz]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matmul(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
        std::array::from_fn(|i| std::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum()))
    }

    #[test]
    fn euler_is_the_product_of_the_elementary_rotations() {
        let (x, y, z) = (0.1f64, -0.25f64, 0.4f64);
        let rx = [
            [1.0, 0.0, 0.0],
            [0.0, x.cos(), x.sin()],
            [0.0, -x.sin(), x.cos()],
        ];
        let ry = [
            [y.cos(), 0.0, -y.sin()],
            [0.0, 1.0, 0.0],
            [y.sin(), 0.0, y.cos()],
        ];
        let rz = [
            [z.cos(), z.sin(), 0.0],
            [-z.sin(), z.cos(), 0.0],
            [0.0, 0.0, 1.0],
        ];
        let want = matmul(&matmul(&rx, &ry), &rz);
        let got = fsl_euler_rotation([x, y, z]);
        for i in 0..3 {
            for j in 0..3 {
                assert!((got[i][j] - want[i][j]).abs() < 1e-15);
            }
        }
        // A rotation about z alone by θ has angle θ.
        let p = MotionParameters::parse("0 0 0.2 1 2 3\n", MotionFormat::Mcflirt, "m").unwrap();
        assert!((p.max_rotation_deg() - 0.2f64.to_degrees()).abs() < 1e-9);
    }

    #[test]
    fn angles_round_trip_and_eddy_rotates_the_other_way() {
        for r in [
            [0.1, -0.25, 0.4],
            [-0.3, 0.2, -0.1],
            [0.0, 0.0, 0.0],
            [1.0, 1.2, -2.5],
        ] {
            let back = fsl_euler_angles(&fsl_euler_rotation(r));
            for k in 0..3 {
                assert!((back[k] - r[k]).abs() < 1e-14, "{r:?} {back:?}");
            }
        }
        let m =
            MotionParameters::parse("0.1 -0.2 0.3 1 2 3\n", MotionFormat::Mcflirt, "m").unwrap();
        let e = MotionParameters::parse(
            "1 2 3 0.1 -0.2 0.3 0 0 0 0 0 0 0 0 0 0\n",
            MotionFormat::Eddy,
            "e",
        )
        .unwrap();
        let (rm, re) = (m.rotation_matrices()[0], e.rotation_matrices()[0]);
        // eddy's matrix is mcflirt's inverse: their product is the identity.
        let p = matmul(&rm, &re);
        for i in 0..3 {
            for j in 0..3 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((p[i][j] - want).abs() < 1e-15, "{p:?}");
            }
        }
        assert!((rm[0][1] - re[0][1]).abs() > 0.1);
        assert!((m.max_rotation_deg() - e.max_rotation_deg()).abs() < 1e-9);
    }

    #[test]
    fn column_orders_differ_between_mcflirt_and_eddy() {
        let m =
            MotionParameters::parse("0.01 0.02 0.03 1 2 3\n", MotionFormat::Mcflirt, "m").unwrap();
        assert_eq!(m.rotations_rad, vec![[0.01, 0.02, 0.03]]);
        assert_eq!(m.translations_mm, vec![[1.0, 2.0, 3.0]]);
        let row = "1 2 3 0.01 0.02 0.03 0 0 0 0 0 0 0 0 0 0\n# comment\n\n";
        let e = MotionParameters::parse(row, MotionFormat::Eddy, "e").unwrap();
        assert_eq!(e.rotations_rad, m.rotations_rad);
        assert_eq!(e.translations_mm, m.translations_mm);
        assert_eq!(e.len(), 1);
        assert_eq!(
            MotionFormat::from_file_name("dwi_mcf.par"),
            Some(MotionFormat::Mcflirt)
        );
        assert_eq!(
            MotionFormat::from_file_name("eddy_out.eddy_parameters"),
            Some(MotionFormat::Eddy)
        );
        assert_eq!(MotionFormat::from_file_name("motion.txt"), None);
    }

    #[test]
    fn bad_files_are_errors() {
        for (t, f) in [
            ("", MotionFormat::Mcflirt),
            ("0 0 0 1 2\n", MotionFormat::Mcflirt),
            ("0 0 0 1 2 3 4\n", MotionFormat::Mcflirt),
            ("0 0 0 1 2\n", MotionFormat::Eddy),
            ("0 0 x 1 2 3\n", MotionFormat::Mcflirt),
            ("0 0 NaN 1 2 3\n", MotionFormat::Mcflirt),
            ("0 0 45 1 2 3\n", MotionFormat::Mcflirt),
        ] {
            let e = MotionParameters::parse(t, f, "motion.par").unwrap_err();
            assert!(e.to_string().contains("motion.par"), "{e}");
        }
    }
}
