// Gaussian-splatting math shared by the CPU (.cpp, g++) and CUDA (.cu, nvcc) kernels.
//
// Everything here is `inline` on the host and `__host__ __device__` under nvcc, templated on the
// scalar type (float for speed, double for the gradient checks), free of torch and of the STL.
// The pure-torch reference (emogs/render/reference.py) implements the same formulas; the CPU tests
// compare the two, so they also cover the math the GPU runs.
//
// Conventions
//   * camera: OpenCV (x right, y down, z forward); `viewmat` is the row-major 4x4 world->camera.
//   * pixels: centre of pixel (i, j) at (i + 0.5, j + 0.5); K = [[fx,0,cx],[0,fy,cy],[0,0,1]].
//   * quaternions: (w, x, y, z), unit norm (the caller normalises; no normalisation here).
//   * conic: the inverse 2D covariance stored as (a, b, c) = [[a, b], [b, c]].
//   * alpha of Gaussian i at pixel p: sigma = 0.5 (a dx^2 + c dy^2) + b dx dy with
//     (dx, dy) = mean2d - p; alpha = min(kAlphaMax, opacity * exp(-sigma)); the pair is skipped
//     when alpha < kAlphaMin; compositing front to back stops *before* a Gaussian that would bring
//     the transmittance T to <= kTransMin.
//   * screen extent: alpha >= 1/255 implies sigma <= log(255 o), i.e. the point lies inside the
//     ellipse d^T cov2d^-1 d <= 2 log(255 o), whose axis-aligned half-extents are
//     sqrt(2 log(255 o) cov2d_xx) and sqrt(2 log(255 o) cov2d_yy). Tiling by that box is exact:
//     no pair with alpha >= 1/255 is ever cut, so the result does not depend on the tiling.
#pragma once

#include <math.h>

#ifdef __CUDACC__
#define EMOGS_HD __host__ __device__ __forceinline__
#else
#define EMOGS_HD inline
#endif

namespace emogs {

constexpr float kAlphaMin = 1.0f / 255.0f;
constexpr float kAlphaMax = 0.999f;
constexpr float kTransMin = 1e-4f;
constexpr int kTile = 16;

template <typename T> EMOGS_HD T gm_min(T a, T b) { return a < b ? a : b; }
template <typename T> EMOGS_HD T gm_max(T a, T b) { return a > b ? a : b; }

// ---------------------------------------------------------------- quaternion -> rotation
// R (row-major 3x3) of the unit quaternion q = (w, x, y, z).
template <typename T> EMOGS_HD void quat_to_rotmat(const T* q, T* R) {
  const T w = q[0], x = q[1], y = q[2], z = q[3];
  R[0] = 1 - 2 * (y * y + z * z); R[1] = 2 * (x * y - w * z);     R[2] = 2 * (x * z + w * y);
  R[3] = 2 * (x * y + w * z);     R[4] = 1 - 2 * (x * x + z * z); R[5] = 2 * (y * z - w * x);
  R[6] = 2 * (x * z - w * y);     R[7] = 2 * (y * z + w * x);     R[8] = 1 - 2 * (x * x + y * y);
}

// dL/dq given dL/dR (G, row-major), for the formula above (no normalisation).
template <typename T> EMOGS_HD void quat_to_rotmat_vjp(const T* q, const T* G, T* dq) {
  const T w = q[0], x = q[1], y = q[2], z = q[3];
  dq[0] = 2 * (-z * G[1] + y * G[2] + z * G[3] - x * G[5] - y * G[6] + x * G[7]);
  dq[1] = 2 * (y * G[1] + z * G[2] + y * G[3] - 2 * x * G[4] - w * G[5] + z * G[6] + w * G[7] -
               2 * x * G[8]);
  dq[2] = 2 * (-2 * y * G[0] + x * G[1] + w * G[2] + x * G[3] + z * G[5] - w * G[6] + z * G[7] -
               2 * y * G[8]);
  dq[3] = 2 * (-2 * z * G[0] - w * G[1] + x * G[2] + w * G[3] - 2 * z * G[4] + y * G[5] +
               x * G[6] + y * G[7]);
}

// ---------------------------------------------------------------- small dense helpers
// C = A B for row-major A [m,k], B [k,n].
template <typename T> EMOGS_HD void matmul(const T* A, const T* B, T* C, int m, int k, int n) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      T s = 0;
      for (int l = 0; l < k; ++l) s += A[i * k + l] * B[l * n + j];
      C[i * n + j] = s;
    }
}
// C = A B^T for A [m,k], B [n,k].
template <typename T> EMOGS_HD void matmul_bt(const T* A, const T* B, T* C, int m, int k, int n) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      T s = 0;
      for (int l = 0; l < k; ++l) s += A[i * k + l] * B[j * k + l];
      C[i * n + j] = s;
    }
}
// C = A^T B for A [k,m], B [k,n].
template <typename T> EMOGS_HD void matmul_at(const T* A, const T* B, T* C, int k, int m, int n) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      T s = 0;
      for (int l = 0; l < k; ++l) s += A[l * m + i] * B[l * n + j];
      C[i * n + j] = s;
    }
}

// ---------------------------------------------------------------- camera
template <typename T> struct Camera {
  const T* viewmat;  // [16] row-major world->camera
  T fx, fy, cx, cy;
  int width, height;
  T near_plane, far_plane, eps2d;
};

// Limits of x/z and y/z used inside the Jacobian (not for the mean): Gaussians far outside the
// frustum get the Jacobian of the frustum border (as in 3DGS / gsplat), which keeps huge,
// off-screen Gaussians from producing unbounded 2D covariances.
template <typename T> EMOGS_HD void jacobian_limits(const Camera<T>& cam, T* lim) {
  const T tan_x = T(0.5) * cam.width / cam.fx, tan_y = T(0.5) * cam.height / cam.fy;
  lim[0] = (cam.width - cam.cx) / cam.fx + T(0.3) * tan_x;   // x/z <= lim[0]
  lim[1] = cam.cx / cam.fx + T(0.3) * tan_x;                 // x/z >= -lim[1]
  lim[2] = (cam.height - cam.cy) / cam.fy + T(0.3) * tan_y;  // y/z <= lim[2]
  lim[3] = cam.cy / cam.fy + T(0.3) * tan_y;                 // y/z >= -lim[3]
}

// Forward projection of one Gaussian. Outputs valid only when it returns true (visible).
template <typename T> struct Projected {
  T mean2d[2];
  T conic[3];
  T depth;
  T ext[2];       // half-extent of the alpha >= 1/255 box, pixels
  int rect[4];    // inclusive pixel rect x0, y0, x1, y1 inside the image
  int radius;     // ceil(max(ext))
};

template <typename T>
EMOGS_HD bool project_gaussian(const T* mean, const T* quat, const T* scale, T opacity,
                               const Camera<T>& cam, Projected<T>& out) {
  const T* V = cam.viewmat;
  T pc[3];
  for (int i = 0; i < 3; ++i)
    pc[i] = V[4 * i] * mean[0] + V[4 * i + 1] * mean[1] + V[4 * i + 2] * mean[2] + V[4 * i + 3];
  const T z = pc[2];
  if (!(z >= cam.near_plane && z <= cam.far_plane)) return false;
  if (!(opacity >= T(kAlphaMin))) return false;
  T Rq[9], M[9], S[9], W[9], WS[9], Sc[9];
  quat_to_rotmat(quat, Rq);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) M[3 * i + j] = Rq[3 * i + j] * scale[j];
  matmul_bt(M, M, S, 3, 3, 3);  // Sigma = M M^T
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) W[3 * i + j] = V[4 * i + j];
  matmul(W, S, WS, 3, 3, 3);
  matmul_bt(WS, W, Sc, 3, 3, 3);  // Sigma_cam = W Sigma W^T
  T lim[4];
  jacobian_limits(cam, lim);
  const T tx = z * gm_min(lim[0], gm_max(-lim[1], pc[0] / z));
  const T ty = z * gm_min(lim[2], gm_max(-lim[3], pc[1] / z));
  const T rz = T(1) / z, rz2 = rz * rz;
  const T J[6] = {cam.fx * rz, 0, -cam.fx * tx * rz2, 0, cam.fy * rz, -cam.fy * ty * rz2};
  T JS[6], C2[4];
  matmul(J, Sc, JS, 2, 3, 3);
  matmul_bt(JS, J, C2, 2, 3, 2);
  const T ca = C2[0] + cam.eps2d, cb = C2[1], cc = C2[3] + cam.eps2d;
  const T det = ca * cc - cb * cb;
  if (!(det > 0)) return false;
  const T idet = T(1) / det;
  out.conic[0] = cc * idet;
  out.conic[1] = -cb * idet;
  out.conic[2] = ca * idet;
  out.mean2d[0] = cam.fx * pc[0] * rz + cam.cx;
  out.mean2d[1] = cam.fy * pc[1] * rz + cam.cy;
  out.depth = z;
  const T r2 = T(2) * log(T(255) * opacity);
  out.ext[0] = sqrt(r2 * ca) * T(1.001) + T(0.01);
  out.ext[1] = sqrt(r2 * cc) * T(1.001) + T(0.01);
  // pixel i is inside when |i + 0.5 - mx| <= ext_x; clamp in floating point first (no int overflow)
  const T fx0 = ceil(out.mean2d[0] - out.ext[0] - T(0.5)), fx1 = floor(out.mean2d[0] + out.ext[0] - T(0.5));
  const T fy0 = ceil(out.mean2d[1] - out.ext[1] - T(0.5)), fy1 = floor(out.mean2d[1] + out.ext[1] - T(0.5));
  if (!(fx1 >= 0 && fy1 >= 0 && fx0 <= T(cam.width - 1) && fy0 <= T(cam.height - 1))) return false;
  out.rect[0] = int(gm_max(fx0, T(0)));
  out.rect[1] = int(gm_max(fy0, T(0)));
  out.rect[2] = int(gm_min(fx1, T(cam.width - 1)));
  out.rect[3] = int(gm_min(fy1, T(cam.height - 1)));
  if (out.rect[0] > out.rect[2] || out.rect[1] > out.rect[3]) return false;
  const T rmax = ceil(gm_max(out.ext[0], out.ext[1]));
  out.radius = rmax > T(1 << 30) ? (1 << 30) : int(rmax);
  return true;
}

// Vector-Jacobian product of project_gaussian for a visible Gaussian: given dL/dmean2d [2],
// dL/dconic [3] and dL/ddepth, accumulate (+=) dL/dmean [3], dL/dquat [4], dL/dscale [3].
template <typename T>
EMOGS_HD void project_gaussian_vjp(const T* mean, const T* quat, const T* scale, const Camera<T>& cam,
                                   const T* v_mean2d, const T* v_conic, T v_depth, T* v_mean,
                                   T* v_quat, T* v_scale) {
  const T* V = cam.viewmat;
  T pc[3];
  for (int i = 0; i < 3; ++i)
    pc[i] = V[4 * i] * mean[0] + V[4 * i + 1] * mean[1] + V[4 * i + 2] * mean[2] + V[4 * i + 3];
  const T z = pc[2];
  T Rq[9], M[9], S[9], W[9], WS[9], Sc[9];
  quat_to_rotmat(quat, Rq);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) M[3 * i + j] = Rq[3 * i + j] * scale[j];
  matmul_bt(M, M, S, 3, 3, 3);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) W[3 * i + j] = V[4 * i + j];
  matmul(W, S, WS, 3, 3, 3);
  matmul_bt(WS, W, Sc, 3, 3, 3);
  T lim[4];
  jacobian_limits(cam, lim);
  const T xz = pc[0] / z, yz = pc[1] / z;
  const bool x_free = xz <= lim[0] && xz >= -lim[1];
  const bool y_free = yz <= lim[2] && yz >= -lim[3];
  const T lx = gm_min(lim[0], gm_max(-lim[1], xz)), ly = gm_min(lim[2], gm_max(-lim[3], yz));
  const T tx = z * lx, ty = z * ly;
  const T rz = T(1) / z, rz2 = rz * rz, rz3 = rz2 * rz;
  const T J[6] = {cam.fx * rz, 0, -cam.fx * tx * rz2, 0, cam.fy * rz, -cam.fy * ty * rz2};
  T JS[6], C2[4];
  matmul(J, Sc, JS, 2, 3, 3);
  matmul_bt(JS, J, C2, 2, 3, 2);
  const T ca = C2[0] + cam.eps2d, cb = C2[1], cc = C2[3] + cam.eps2d;
  const T idet = T(1) / (ca * cc - cb * cb);
  const T Q[4] = {cc * idet, -cb * idet, -cb * idet, ca * idet};
  // conic = inv(cov2d):  dL/dcov2d = -Q G Q, G the symmetric split of dL/dconic
  const T G[4] = {v_conic[0], T(0.5) * v_conic[1], T(0.5) * v_conic[1], v_conic[2]};
  T QG[4], Vc[4];
  matmul(Q, G, QG, 2, 2, 2);
  matmul(QG, Q, Vc, 2, 2, 2);
  for (int i = 0; i < 4; ++i) Vc[i] = -Vc[i];
  // cov2d = J Sc J^T:  dSc = J^T Vc J,  dJ = 2 Vc J Sc
  T VJ[6], dSc[9], dJ[6];
  matmul(Vc, J, VJ, 2, 2, 3);
  matmul_at(J, VJ, dSc, 2, 3, 3);
  matmul(VJ, Sc, dJ, 2, 3, 3);
  for (int i = 0; i < 6; ++i) dJ[i] *= 2;
  // Sc = W S W^T: dS = W^T dSc W
  T tmp[9], dS[9];
  matmul_at(W, dSc, tmp, 3, 3, 3);
  matmul(tmp, W, dS, 3, 3, 3);
  // S = M M^T: dM = (dS + dS^T) M
  T dSs[9], dM[9];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) dSs[3 * i + j] = dS[3 * i + j] + dS[3 * j + i];
  matmul(dSs, M, dM, 3, 3, 3);
  T dR[9];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) dR[3 * i + j] = dM[3 * i + j] * scale[j];
  for (int j = 0; j < 3; ++j)
    v_scale[j] += dM[j] * Rq[j] + dM[3 + j] * Rq[3 + j] + dM[6 + j] * Rq[6 + j];
  T dq[4];
  quat_to_rotmat_vjp(quat, dR, dq);
  for (int i = 0; i < 4; ++i) v_quat[i] += dq[i];
  // camera-space point
  T dpc[3] = {0, 0, 0};
  // mean2d
  dpc[0] += cam.fx * rz * v_mean2d[0];
  dpc[1] += cam.fy * rz * v_mean2d[1];
  dpc[2] += -cam.fx * pc[0] * rz2 * v_mean2d[0] - cam.fy * pc[1] * rz2 * v_mean2d[1];
  dpc[2] += v_depth;
  // Jacobian entries
  dpc[2] += -cam.fx * rz2 * dJ[0] - cam.fy * rz2 * dJ[4];
  dpc[2] += T(2) * cam.fx * tx * rz3 * dJ[2] + T(2) * cam.fy * ty * rz3 * dJ[5];
  const T dtx = -cam.fx * rz2 * dJ[2], dty = -cam.fy * rz2 * dJ[5];
  if (x_free) dpc[0] += dtx; else dpc[2] += lx * dtx;
  if (y_free) dpc[1] += dty; else dpc[2] += ly * dty;
  // pc = W mean + t
  for (int j = 0; j < 3; ++j) v_mean[j] += W[j] * dpc[0] + W[3 + j] * dpc[1] + W[6 + j] * dpc[2];
}

// ---------------------------------------------------------------- per-pair alpha
// sigma of the pair (dx, dy) = mean2d - pixel centre.
template <typename T> EMOGS_HD T gauss_sigma(const T* conic, T dx, T dy) {
  return T(0.5) * (conic[0] * dx * dx + conic[2] * dy * dy) + conic[1] * dx * dy;
}

// alpha = min(kAlphaMax, o exp(-sigma)); returns 0 for a skipped pair (sigma < 0 or alpha < 1/255).
template <typename T> EMOGS_HD T gauss_alpha(T opacity, T sigma) {
  if (sigma < 0) return T(0);
  const T a = gm_min(T(kAlphaMax), opacity * exp(-sigma));
  return a < T(kAlphaMin) ? T(0) : a;
}

// Gradient of one pair given dL/dalpha: accumulates dL/dmean2d, dL/dconic, dL/dopacity.
template <typename T>
EMOGS_HD void gauss_alpha_vjp(const T* conic, T opacity, T dx, T dy, T alpha, T v_alpha, T* v_mean2d,
                              T* v_conic, T* v_opacity) {
  if (alpha >= T(kAlphaMax)) return;  // clamped at kAlphaMax: no gradient
  const T g = alpha / opacity;        // exp(-sigma)
  const T v_sigma = -alpha * v_alpha;
  v_opacity[0] += g * v_alpha;
  v_conic[0] += T(0.5) * dx * dx * v_sigma;
  v_conic[1] += dx * dy * v_sigma;
  v_conic[2] += T(0.5) * dy * dy * v_sigma;
  v_mean2d[0] += (conic[0] * dx + conic[1] * dy) * v_sigma;
  v_mean2d[1] += (conic[1] * dx + conic[2] * dy) * v_sigma;
}

// ---------------------------------------------------------------- CPU SIMD helpers
// exp(x) for x in [-30, 0], branch-free so loops over pixels vectorise; relative error ~2e-7
// (float). Double keeps the libm exp (used by the float64 gradient checks).
EMOGS_HD float exp_neg(float x) {
  x = gm_max(x, -30.0f);
  const float t = x * 1.44269504088896341f;
  const int n = -int(0.5f - t);  // round(t) for t <= 0
  const float fn = float(n);
  const float r = (x - fn * 0.693145751953125f) - fn * 1.428606765330187e-06f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  union { int i; float f; } u;
  u.i = (n + 127) << 23;
  return p * u.f;
}
EMOGS_HD double exp_neg(double x) { return exp(x); }

// Columns of row `dy` (= mean_y - pixel centre y) where sigma <= th: the pixel x range
// [*xa, *xb] (clipped to [lo, hi]) of the ellipse 0.5 a dx^2 + b dx dy + 0.5 c dy^2 <= th, padded
// by 0.01 px; inv_a = 1 / conic[0] (a superset: the exact alpha test still decides). Returns false for an empty row.
template <typename T>
EMOGS_HD bool ellipse_row_span(const T* conic, T inv_a, T mx, T dy, T th, int lo, int hi, int* xa, int* xb) {
  const T a = conic[0], bq = conic[1] * dy;
  const T disc = bq * bq - a * (conic[2] * dy * dy - T(2) * th);
  if (!(disc >= 0) || !(a > 0)) return false;
  const T sq = sqrt(disc);
  // dx = mx - (x + 0.5) in [(-bq - sq)/a, (-bq + sq)/a]
  T xlo = mx - T(0.5) - (sq - bq) * inv_a - T(0.01);
  T xhi = mx - T(0.5) + (sq + bq) * inv_a + T(0.01);
  xlo = gm_max(xlo, T(lo));
  xhi = gm_min(xhi, T(hi));
  if (!(xlo <= xhi)) return false;
  *xa = int(ceil(xlo));
  *xb = int(floor(xhi));
  return *xa <= *xb;
}

}  // namespace emogs
