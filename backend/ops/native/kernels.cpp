// ShapeProg's compiled CPU kernels (plain C ABI, loaded with ctypes by backend/ops/native/__init__.py).
// Every kernel here is the discrete half of a computation whose pure-torch version is its tested
// reference: it chooses (the nearest triangle of each point, ...); the differentiable half stays in torch.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace {

struct Tri {
  double a[3], b[3], c[3];
  double lo[3], hi[3];
  bool proper;
};

inline double dot(const double* x, const double* y) { return x[0] * y[0] + x[1] * y[1] + x[2] * y[2]; }

inline double seg_bary(const double* p, const double* a, const double* b, double* t_out) {
  double e[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
  double w[3] = {p[0] - a[0], p[1] - a[1], p[2] - a[2]};
  double ee = dot(e, e);
  double t = ee > 1e-20 ? dot(w, e) / ee : 0.0;
  t = t < 0.0 ? 0.0 : (t > 1.0 ? 1.0 : t);
  double r[3] = {w[0] - t * e[0], w[1] - t * e[1], w[2] - t * e[2]};
  *t_out = t;
  return dot(r, r);
}

// Exact squared distance from p to the closed triangle and the barycentric weights (wa, wb, wc) of the
// closest point (Ericson, Real-Time Collision Detection 5.1.5); a degenerate triangle counts as its three
// edges.
inline double tri_sqdist(const double* p, const Tri& t, double* bw) {
  if (!t.proper) {
    double s0, s1, s2;
    double d0 = seg_bary(p, t.a, t.b, &s0), d1 = seg_bary(p, t.b, t.c, &s1), d2 = seg_bary(p, t.c, t.a, &s2);
    if (d0 <= d1 && d0 <= d2) { bw[0] = 1 - s0; bw[1] = s0; bw[2] = 0; return d0; }
    if (d1 <= d2) { bw[0] = 0; bw[1] = 1 - s1; bw[2] = s1; return d1; }
    bw[0] = s2; bw[1] = 0; bw[2] = 1 - s2;
    return d2;
  }
  const double *a = t.a, *b = t.b, *c = t.c;
  double ab[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
  double ac[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
  double ap[3] = {p[0] - a[0], p[1] - a[1], p[2] - a[2]};
  double d1 = dot(ab, ap), d2 = dot(ac, ap);
  if (d1 <= 0 && d2 <= 0) { bw[0] = 1; bw[1] = 0; bw[2] = 0; return dot(ap, ap); }
  double bp[3] = {p[0] - b[0], p[1] - b[1], p[2] - b[2]};
  double d3 = dot(ab, bp), d4 = dot(ac, bp);
  if (d3 >= 0 && d4 <= d3) { bw[0] = 0; bw[1] = 1; bw[2] = 0; return dot(bp, bp); }
  double vc = d1 * d4 - d3 * d2;
  if (vc <= 0 && d1 >= 0 && d3 <= 0) {
    double v = d1 / (d1 - d3);
    double r[3] = {ap[0] - v * ab[0], ap[1] - v * ab[1], ap[2] - v * ab[2]};
    bw[0] = 1 - v; bw[1] = v; bw[2] = 0;
    return dot(r, r);
  }
  double cp[3] = {p[0] - c[0], p[1] - c[1], p[2] - c[2]};
  double d5 = dot(ab, cp), d6 = dot(ac, cp);
  if (d6 >= 0 && d5 <= d6) { bw[0] = 0; bw[1] = 0; bw[2] = 1; return dot(cp, cp); }
  double vb = d5 * d2 - d1 * d6;
  if (vb <= 0 && d2 >= 0 && d6 <= 0) {
    double w = d2 / (d2 - d6);
    double r[3] = {ap[0] - w * ac[0], ap[1] - w * ac[1], ap[2] - w * ac[2]};
    bw[0] = 1 - w; bw[1] = 0; bw[2] = w;
    return dot(r, r);
  }
  double va = d3 * d6 - d5 * d4;
  if (va <= 0 && (d4 - d3) >= 0 && (d5 - d6) >= 0) {
    double w = (d4 - d3) / ((d4 - d3) + (d5 - d6));
    double bc[3] = {c[0] - b[0], c[1] - b[1], c[2] - b[2]};
    double r[3] = {bp[0] - w * bc[0], bp[1] - w * bc[1], bp[2] - w * bc[2]};
    bw[0] = 0; bw[1] = 1 - w; bw[2] = w;
    return dot(r, r);
  }
  double den = va + vb + vc;
  double v = vb / den, w = vc / den;
  double r[3] = {ap[0] - v * ab[0] - w * ac[0], ap[1] - v * ab[1] - w * ac[1], ap[2] - v * ab[2] - w * ac[2]};
  bw[0] = 1 - v - w; bw[1] = v; bw[2] = w;
  return dot(r, r);
}

inline double box_sqdist(const double* p, const Tri& t) {
  double s = 0;
  for (int i = 0; i < 3; ++i) {
    double d = t.lo[i] - p[i];
    if (d < 0) d = p[i] - t.hi[i];
    if (d > 0) s += d * d;
  }
  return s;
}

}  // namespace

extern "C" {

int shapeprog_abi_version() { return 2; }

// For each of K meshes (tris: K x T x 3 x 3 corners, float64) and each point (pts: P x 3, float64), the
// index of the nearest triangle (out: K x P int64; the first of equally near ones) and the barycentric
// weights of the closest point on it (bary: K x P x 3 float64), found exactly: a triangle is measured only
// when its bounding box is nearer than the best triangle so far.
void shapeprog_nearest_triangles(const double* tris, int64_t K, int64_t T, const double* pts, int64_t P, int64_t* out,
                                 double* bary) {
  std::vector<Tri> tv(static_cast<size_t>(T));
  std::vector<double> lb(static_cast<size_t>(T));
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t j = 0; j < T; ++j) {
      const double* q = tris + (k * T + j) * 9;
      Tri& t = tv[j];
      for (int i = 0; i < 3; ++i) {
        t.a[i] = q[i];
        t.b[i] = q[3 + i];
        t.c[i] = q[6 + i];
        t.lo[i] = std::fmin(std::fmin(q[i], q[3 + i]), q[6 + i]);
        t.hi[i] = std::fmax(std::fmax(q[i], q[3 + i]), q[6 + i]);
      }
      double ab[3] = {t.b[0] - t.a[0], t.b[1] - t.a[1], t.b[2] - t.a[2]};
      double ac[3] = {t.c[0] - t.a[0], t.c[1] - t.a[1], t.c[2] - t.a[2]};
      double n[3] = {ab[1] * ac[2] - ab[2] * ac[1], ab[2] * ac[0] - ab[0] * ac[2], ab[0] * ac[1] - ab[1] * ac[0]};
      // the torch path's test: |ab x ac| > 1e-9 |ab| |ac| (squared here)
      t.proper = dot(n, n) > 1e-18 * dot(ab, ab) * dot(ac, ac) && dot(n, n) > 0;
    }
    int64_t* o = out + k * P;
    for (int64_t p = 0; p < P; ++p) {
      const double* x = pts + p * 3;
      int64_t first = 0;
      double first_lb = std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < T; ++j) {
        lb[j] = box_sqdist(x, tv[j]);
        if (lb[j] < first_lb) {
          first_lb = lb[j];
          first = j;
        }
      }
      double bw[3], cw[3];
      double best = tri_sqdist(x, tv[first], bw);
      int64_t best_j = first;
      for (int64_t j = 0; j < T; ++j) {
        if (lb[j] > best || j == first) continue;
        double d = tri_sqdist(x, tv[j], cw);
        if (d < best || (d == best && j < best_j)) {
          best = d;
          best_j = j;
          bw[0] = cw[0]; bw[1] = cw[1]; bw[2] = cw[2];
        }
      }
      o[p] = best_j;
      double* w = bary + (k * P + p) * 3;
      w[0] = bw[0]; w[1] = bw[1]; w[2] = bw[2];
    }
  }
}

}  // extern "C"
