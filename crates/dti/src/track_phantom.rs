//! Synthetic tensor fields with known bundle paths, for testing and benchmarking the tracker.
//!
//! A [`Phantom`] is a grid (world = voxel index × voxel size, origin at voxel 0's centre) and a
//! list of bundles. Each voxel whose centre lies in one or more bundles gets the weighted mean
//! of the bundles' "stick" tensors `λ⊥·I + (λ∥ − λ⊥)·e·eᵀ` (λ∥ = 1.7, λ⊥ = 0.4 µm²/ms, given in
//! mm²/s; FA ≈ 0.73); other voxels get an isotropic background (0.8·10⁻³ mm²/s, FA 0). The
//! tracking mask is the whole grid.

// Small fixed-size (3, 4, 6) index loops over several arrays read best with indices.
#![allow(clippy::needless_range_loop)]

use crate::error::Result;
use crate::track::TensorField;

/// Axial diffusivity of a bundle, mm²/s.
pub const LAMBDA_PAR: f64 = 1.7e-3;
/// Radial diffusivity of a bundle, mm²/s.
pub const LAMBDA_PERP: f64 = 0.4e-3;
/// Background (isotropic) diffusivity, mm²/s.
pub const LAMBDA_ISO: f64 = 0.8e-3;

/// A bundle with a known centre path.
#[derive(Debug, Clone, PartialEq)]
pub enum Bundle {
    /// Straight tube from `a` to `b` (world mm) of radius `radius`.
    Tube {
        /// Start of the axis.
        a: [f64; 3],
        /// End of the axis.
        b: [f64; 3],
        /// Radius, mm.
        radius: f64,
    },
    /// Circular arc in the plane `z = center[2]`: torus section of major radius `major`, minor
    /// radius `minor`, polar angles `theta0..=theta1` (radians, counter-clockwise from +x).
    Arc {
        /// Centre of the circle.
        center: [f64; 3],
        /// Radius of the centre line, mm.
        major: f64,
        /// Half-thickness of the bundle, mm.
        minor: f64,
        /// Start angle.
        theta0: f64,
        /// End angle.
        theta1: f64,
    },
}

impl Bundle {
    /// The bundle's unit direction at `p` when `p` is inside it.
    pub fn direction_at(&self, p: [f64; 3]) -> Option<[f64; 3]> {
        match *self {
            Bundle::Tube { a, b, radius } => {
                let d = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
                let l2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                let ap = [p[0] - a[0], p[1] - a[1], p[2] - a[2]];
                let t = (ap[0] * d[0] + ap[1] * d[1] + ap[2] * d[2]) / l2;
                if !(0.0..=1.0).contains(&t) {
                    return None;
                }
                let r2: f64 = (0..3).map(|k| (ap[k] - t * d[k]).powi(2)).sum();
                if r2 > radius * radius {
                    return None;
                }
                let l = l2.sqrt();
                Some([d[0] / l, d[1] / l, d[2] / l])
            }
            Bundle::Arc {
                center,
                major,
                minor,
                theta0,
                theta1,
            } => {
                let (dx, dy, dz) = (p[0] - center[0], p[1] - center[1], p[2] - center[2]);
                let rho = dx.hypot(dy);
                if (rho - major).powi(2) + dz * dz > minor * minor || rho == 0.0 {
                    return None;
                }
                let th = dy.atan2(dx);
                if th < theta0 || th > theta1 {
                    return None;
                }
                Some([-dy / rho, dx / rho, 0.0])
            }
        }
    }
}

/// Stick tensor `[Dxx, Dxy, Dxz, Dyy, Dyz, Dzz]` along unit `e`.
pub fn stick(e: [f64; 3], par: f64, perp: f64) -> [f64; 6] {
    let a = par - perp;
    [
        perp + a * e[0] * e[0],
        a * e[0] * e[1],
        a * e[0] * e[2],
        perp + a * e[1] * e[1],
        a * e[1] * e[2],
        perp + a * e[2] * e[2],
    ]
}

/// A phantom: grid plus weighted bundles.
#[derive(Debug, Clone, PartialEq)]
pub struct Phantom {
    /// Grid size.
    pub dims: [usize; 3],
    /// Isotropic voxel size, mm.
    pub voxel_mm: f64,
    /// Bundles with their weights in overlaps.
    pub bundles: Vec<(Bundle, f64)>,
}

impl Phantom {
    /// Voxel → world affine: scaling by the voxel size, voxel 0 at the origin.
    pub fn affine(&self) -> [[f64; 4]; 3] {
        let v = self.voxel_mm;
        [[v, 0.0, 0.0, 0.0], [0.0, v, 0.0, 0.0], [0.0, 0.0, v, 0.0]]
    }

    /// Builds the tensor field (mask = whole grid).
    pub fn field(&self) -> Result<TensorField> {
        let [nx, ny, nz] = self.dims;
        let mut d = Vec::with_capacity(nx * ny * nz);
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    let p = [
                        x as f64 * self.voxel_mm,
                        y as f64 * self.voxel_mm,
                        z as f64 * self.voxel_mm,
                    ];
                    let mut acc = [0.0f64; 6];
                    let mut wsum = 0.0;
                    for (b, w) in &self.bundles {
                        if let Some(e) = b.direction_at(p) {
                            let s = stick(e, LAMBDA_PAR, LAMBDA_PERP);
                            for k in 0..6 {
                                acc[k] += w * s[k];
                            }
                            wsum += w;
                        }
                    }
                    let t = if wsum > 0.0 {
                        acc.map(|v| v / wsum)
                    } else {
                        [LAMBDA_ISO, 0.0, 0.0, LAMBDA_ISO, 0.0, LAMBDA_ISO]
                    };
                    d.push(t.map(|v| v as f32));
                }
            }
        }
        TensorField::new(self.dims, self.affine(), d, vec![true; nx * ny * nz])
    }

    /// A straight bundle along x: axis from (5, 10, 10) to (34, 10, 10) mm, radius 3 mm, on a
    /// 40×21×21 grid of 1 mm voxels.
    pub fn straight() -> Self {
        Self {
            dims: [40, 21, 21],
            voxel_mm: 1.0,
            bundles: vec![(
                Bundle::Tube {
                    a: [5.0, 10.0, 10.0],
                    b: [34.0, 10.0, 10.0],
                    radius: 3.0,
                },
                1.0,
            )],
        }
    }

    /// A half-circle arc of radius 15 mm around (20, 4, 6), thickness ±3 mm, angles 0…π, on a
    /// 41×24×13 grid of 1 mm voxels.
    pub fn arc() -> Self {
        Self {
            dims: [41, 24, 13],
            voxel_mm: 1.0,
            bundles: vec![(
                Bundle::Arc {
                    center: [20.0, 4.0, 6.0],
                    major: 15.0,
                    minor: 3.0,
                    theta0: 0.0,
                    theta1: std::f64::consts::PI,
                },
                1.0,
            )],
        }
    }

    /// Two tubes crossing at 90° in the plane z = 8: along x (weight 0.6) and along y
    /// (weight 0.4), radius 3 mm, on a 41×41×17 grid of 1 mm voxels. In the crossing the
    /// weighted tensor's principal direction is x.
    pub fn crossing() -> Self {
        Self {
            dims: [41, 41, 17],
            voxel_mm: 1.0,
            bundles: vec![
                (
                    Bundle::Tube {
                        a: [4.0, 20.0, 8.0],
                        b: [36.0, 20.0, 8.0],
                        radius: 3.0,
                    },
                    0.6,
                ),
                (
                    Bundle::Tube {
                        a: [20.0, 4.0, 8.0],
                        b: [20.0, 36.0, 8.0],
                        radius: 3.0,
                    },
                    0.4,
                ),
            ],
        }
    }

    /// Two arcs of radius 14 mm that touch tangentially at (20, 20, 6): one bulging towards −y
    /// (centre (20, 34, 6), lower half), one towards +y (centre (20, 6, 6), upper half),
    /// thickness ±2 mm, on a 41×41×13 grid of 1 mm voxels.
    pub fn kissing() -> Self {
        use std::f64::consts::PI;
        Self {
            dims: [41, 41, 13],
            voxel_mm: 1.0,
            bundles: vec![
                (
                    Bundle::Arc {
                        center: [20.0, 34.0, 6.0],
                        major: 14.0,
                        minor: 2.0,
                        theta0: -PI + 0.35,
                        theta1: -0.35,
                    },
                    1.0,
                ),
                (
                    Bundle::Arc {
                        center: [20.0, 6.0, 6.0],
                        major: 14.0,
                        minor: 2.0,
                        theta0: 0.35,
                        theta1: PI - 0.35,
                    },
                    1.0,
                ),
            ],
        }
    }
}

/// Geometry of [`brain_phantom`]'s bundles (world mm, RAS+), for tract definitions and tests.
pub mod brain {
    /// CST axis: x = ∓25 (left/right), y = −10, z from −50 to 50, radius 6 mm.
    pub const CST_X: f64 = 25.0;
    /// CST y.
    pub const CST_Y: f64 = -10.0;
    /// CST z range.
    pub const CST_Z: (f64, f64) = (-50.0, 50.0);
    /// PTR from the thalamus (∓12, −15, 5) to the occipital lobe (∓30, −70, 10), radius 5 mm.
    pub const PTR_A: [f64; 3] = [12.0, -15.0, 5.0];
    /// PTR posterior end.
    pub const PTR_B: [f64; 3] = [30.0, -70.0, 10.0];
}

/// A whole-brain-sized tensor field (96×96×60 voxels of 2 mm, affine diag(2, 2, 2) with the
/// grid centred on the origin; mask = ellipsoid of semi-axes 75, 88, 56 mm). Inside the inner
/// 85 % ("white matter") a smooth orientation field `e ∝ (cos θ, sin θ, 0.6)`,
/// `θ = (x + 0.5 y)/30`, with λ = (1.2, 0.5, 0.5)·10⁻³ mm²/s (FA ≈ 0.50); the outer shell
/// ("grey matter") has λ = (0.9, 0.75, 0.75)·10⁻³ (FA ≈ 0.11); bundles (stick tensors, FA ≈ 0.73):
/// CST and PTR per hemisphere at the positions of [`brain`], which replace the background.
pub fn brain_phantom() -> Result<TensorField> {
    let dims = [96usize, 96, 60];
    let v = 2.0;
    let origin = [-95.0, -95.0, -59.0];
    let affine = [
        [v, 0.0, 0.0, origin[0]],
        [0.0, v, 0.0, origin[1]],
        [0.0, 0.0, v, origin[2]],
    ];
    let mut bundles = Vec::new();
    for s in [-1.0, 1.0] {
        bundles.push(Bundle::Tube {
            a: [s * brain::CST_X, brain::CST_Y, brain::CST_Z.0],
            b: [s * brain::CST_X, brain::CST_Y, brain::CST_Z.1],
            radius: 6.0,
        });
        bundles.push(Bundle::Tube {
            a: [s * brain::PTR_A[0], brain::PTR_A[1], brain::PTR_A[2]],
            b: [s * brain::PTR_B[0], brain::PTR_B[1], brain::PTR_B[2]],
            radius: 5.0,
        });
    }
    let n = dims[0] * dims[1] * dims[2];
    let mut d = Vec::with_capacity(n);
    let mut mask = Vec::with_capacity(n);
    for z in 0..dims[2] {
        for y in 0..dims[1] {
            for x in 0..dims[0] {
                let p = [
                    origin[0] + v * x as f64,
                    origin[1] + v * y as f64,
                    origin[2] + v * z as f64,
                ];
                let r = (p[0] / 75.0).powi(2) + (p[1] / 88.0).powi(2) + (p[2] / 56.0).powi(2);
                if r > 1.0 {
                    d.push([0.0; 6]);
                    mask.push(false);
                    continue;
                }
                mask.push(true);
                let t = if let Some(e) = bundles.iter().find_map(|b| b.direction_at(p)) {
                    stick(e, LAMBDA_PAR, LAMBDA_PERP)
                } else if r <= 0.85f64.powi(2) {
                    let th = (p[0] + 0.5 * p[1]) / 30.0;
                    let e = [th.cos(), th.sin(), 0.6];
                    let l = (e[0] * e[0] + e[1] * e[1] + e[2] * e[2]).sqrt();
                    stick([e[0] / l, e[1] / l, e[2] / l], 1.2e-3, 0.5e-3)
                } else {
                    stick([0.0, 0.0, 1.0], 0.9e-3, 0.75e-3)
                };
                d.push(t.map(|x| x as f32));
            }
        }
    }
    TensorField::new(dims, affine, d, mask)
}
