// Math of the 2-D multiresolution hash grid, shared by the CPU (.cpp, OpenMP) and CUDA (.cu) kernels.
//
// Conventions (mirrored exactly by the pure-torch reference `emogs.fields.hashgrid.hash_grid_2d_torch`):
//   * a point u, v in [0, 1] (values outside are clamped; NaN counts as 0) on a level of `res` cells per
//     side has vertices 0..res per axis; its cell is x0 = min(floor(u * res), res - 1) (same for y);
//   * the level is stored densely (row = y * (res + 1) + x) when (res + 1)^2 <= T rows fit the table,
//     otherwise the vertex is hashed: row = (x ^ (y * 2654435761)) mod T in uint32 arithmetic
//     (instant-ngp's spatial hash, first prime 1);
//   * the four corners are ordered (x0, y0), (x0+1, y0), (x0, y0+1), (x0+1, y0+1) with bilinear weights.
// No torch headers here: this file compiles under g++ and nvcc alike.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define EMOGS_HG_HD __host__ __device__ __forceinline__
#else
#define EMOGS_HG_HD inline
#endif

namespace emogs {
namespace hashgrid {

constexpr uint32_t kPrimeY = 2654435761u;
constexpr int kMaxLevels = 32;  // levels passed by value to the CUDA kernels

// True when a level of `res` cells per side is indexed directly (no hashing) in a table of `T` rows.
EMOGS_HG_HD bool is_dense(int64_t res, int64_t T) { return (res + 1) * (res + 1) <= T; }

// Table row of vertex (x, y) on a level of `res` cells per side.
EMOGS_HG_HD int64_t vertex_row(int64_t x, int64_t y, int64_t res, int64_t T) {
  if (is_dense(res, T)) return y * (res + 1) + x;
  const uint32_t h = static_cast<uint32_t>(x) ^ (static_cast<uint32_t>(y) * kPrimeY);
  return static_cast<int64_t>(h % static_cast<uint32_t>(T));
}

// Clamp a normalised coordinate to [0, 1]; `inside` tells whether the gradient passes (as torch.clamp).
template <typename scalar_t>
EMOGS_HG_HD scalar_t clamp_unit(scalar_t u, bool& inside) {
  inside = (u >= scalar_t(0)) && (u <= scalar_t(1));  // false for NaN
  if (!(u >= scalar_t(0))) return scalar_t(0);           // also maps NaN to 0
  if (u > scalar_t(1)) return scalar_t(1);
  return u;
}

// The four corners of one point on one level: rows, bilinear weights and (when kGrad) their derivatives
// w.r.t. the (unclamped) normalised coordinates u, v (zero where the coordinate was clamped).
template <typename scalar_t>
struct Corners {
  int64_t row[4];
  scalar_t w[4];
  scalar_t dw_du[4];
  scalar_t dw_dv[4];
};

// Rows of the 4 corners of cell (x0, y0) (same values as vertex_row, with the level's branch hoisted).
EMOGS_HG_HD void corner_rows(int64_t x0, int64_t y0, int64_t res, int64_t T, int64_t* row) {
  if (is_dense(res, T)) {
    const int64_t s = res + 1;
    const int64_t r00 = y0 * s + x0;
    row[0] = r00;
    row[1] = r00 + 1;
    row[2] = r00 + s;
    row[3] = r00 + s + 1;
    return;
  }
  const uint32_t hx0 = static_cast<uint32_t>(x0), hx1 = static_cast<uint32_t>(x0 + 1);
  const uint32_t hy0 = static_cast<uint32_t>(y0) * kPrimeY, hy1 = static_cast<uint32_t>(y0 + 1) * kPrimeY;
  const uint32_t t = static_cast<uint32_t>(T);
  if ((T & (T - 1)) == 0) {  // power of two: mask instead of modulo (T <= 2^31 is checked)
    const uint32_t m = t - 1u;
    row[0] = (hx0 ^ hy0) & m;
    row[1] = (hx1 ^ hy0) & m;
    row[2] = (hx0 ^ hy1) & m;
    row[3] = (hx1 ^ hy1) & m;
  } else {
    row[0] = (hx0 ^ hy0) % t;
    row[1] = (hx1 ^ hy0) % t;
    row[2] = (hx0 ^ hy1) % t;
    row[3] = (hx1 ^ hy1) % t;
  }
}

template <typename scalar_t, bool kGrad>
EMOGS_HG_HD void corners(scalar_t u_in, scalar_t v_in, int64_t res, int64_t T, Corners<scalar_t>& c) {
  bool in_u, in_v;
  const scalar_t u = clamp_unit(u_in, in_u);
  const scalar_t v = clamp_unit(v_in, in_v);
  const scalar_t r = static_cast<scalar_t>(res);
  const scalar_t pu = u * r;
  const scalar_t pv = v * r;
  // pu >= 0, so truncation is floor; res <= 2^31 - 1 (its (res+1)^2 vertices index a table of <= 2^31 rows
  // or are hashed), so 32-bit cells suffice.
  const int32_t last = static_cast<int32_t>(res - 1);
  int32_t x0 = static_cast<int32_t>(pu);
  int32_t y0 = static_cast<int32_t>(pv);
  x0 = x0 > last ? last : x0;
  y0 = y0 > last ? last : y0;
  const scalar_t fx = pu - static_cast<scalar_t>(x0);
  const scalar_t fy = pv - static_cast<scalar_t>(y0);
  const scalar_t gx = scalar_t(1) - fx;
  const scalar_t gy = scalar_t(1) - fy;

  corner_rows(x0, y0, res, T, c.row);
  c.w[0] = gx * gy;
  c.w[1] = fx * gy;
  c.w[2] = gx * fy;
  c.w[3] = fx * fy;
  if (!kGrad) return;

  // d(fx)/du = res inside [0, 1], 0 where clamped.
  const scalar_t su = in_u ? r : scalar_t(0);
  const scalar_t sv = in_v ? r : scalar_t(0);
  c.dw_du[0] = -gy * su;
  c.dw_du[1] = gy * su;
  c.dw_du[2] = -fy * su;
  c.dw_du[3] = fy * su;
  c.dw_dv[0] = -gx * sv;
  c.dw_dv[1] = -fx * sv;
  c.dw_dv[2] = gx * sv;
  c.dw_dv[3] = fx * sv;
}

}  // namespace hashgrid
}  // namespace emogs
