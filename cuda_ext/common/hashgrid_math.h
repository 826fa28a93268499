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

// The four corners of one point on one level: table rows and bilinear weights.
template <typename scalar_t>
struct Corners {
  int64_t row[4];
  scalar_t w[4];
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

// The cell of one point on one level: corner rows, fractional position and d(frac)/d(u, v)
// (res inside [0, 1], 0 where the coordinate was clamped).
template <typename scalar_t>
struct Cell {
  int64_t row[4];
  scalar_t fx, fy;
  scalar_t su, sv;
};

template <typename scalar_t>
EMOGS_HG_HD void locate(scalar_t u_in, scalar_t v_in, int64_t res, int64_t T, Cell<scalar_t>& c) {
  bool in_u, in_v;
  const scalar_t u = clamp_unit(u_in, in_u);
  const scalar_t v = clamp_unit(v_in, in_v);
  const scalar_t r = static_cast<scalar_t>(res);
  const scalar_t pu = u * r;
  const scalar_t pv = v * r;
  // pu >= 0, so truncation is floor; res <= 2^30 is checked, so 32-bit cells suffice.
  const int32_t last = static_cast<int32_t>(res - 1);
  int32_t x0 = static_cast<int32_t>(pu);
  int32_t y0 = static_cast<int32_t>(pv);
  x0 = x0 > last ? last : x0;
  y0 = y0 > last ? last : y0;
  c.fx = pu - static_cast<scalar_t>(x0);
  c.fy = pv - static_cast<scalar_t>(y0);
  c.su = in_u ? r : scalar_t(0);
  c.sv = in_v ? r : scalar_t(0);
  corner_rows(x0, y0, res, T, c.row);
}

// Bilinear value of the corner values t0..t3 (corner order above) and, when asked, its derivatives w.r.t.
// u and v. Written as lerps: a = lerp(t0, t1, fx), b = lerp(t2, t3, fx), value = lerp(a, b, fy).
template <typename scalar_t>
EMOGS_HG_HD scalar_t bilerp(const Cell<scalar_t>& c, scalar_t t0, scalar_t t1, scalar_t t2, scalar_t t3) {
  const scalar_t a = t0 + c.fx * (t1 - t0);
  const scalar_t b = t2 + c.fx * (t3 - t2);
  return a + c.fy * (b - a);
}

template <typename scalar_t>
EMOGS_HG_HD scalar_t bilerp_grad(const Cell<scalar_t>& c, scalar_t t0, scalar_t t1, scalar_t t2, scalar_t t3,
                                 scalar_t& d_u, scalar_t& d_v) {
  const scalar_t d01 = t1 - t0;
  const scalar_t d23 = t3 - t2;
  const scalar_t a = t0 + c.fx * d01;
  const scalar_t b = t2 + c.fx * d23;
  d_u = c.su * (d01 + c.fy * (d23 - d01));
  d_v = c.sv * (b - a);
  return a + c.fy * (b - a);
}

// Rows and bilinear weights (for the scatter of the table gradient).
template <typename scalar_t>
EMOGS_HG_HD void corners(scalar_t u, scalar_t v, int64_t res, int64_t T, Corners<scalar_t>& c) {
  Cell<scalar_t> cell;
  locate(u, v, res, T, cell);
  for (int k = 0; k < 4; ++k) c.row[k] = cell.row[k];
  const scalar_t gx = scalar_t(1) - cell.fx;
  const scalar_t gy = scalar_t(1) - cell.fy;
  c.w[0] = gx * gy;
  c.w[1] = cell.fx * gy;
  c.w[2] = gx * cell.fy;
  c.w[3] = cell.fx * cell.fy;
}

}  // namespace hashgrid
}  // namespace emogs
