// ShapeProg's compiled CPU kernels (plain C ABI, loaded with ctypes by backend/ops/native/__init__.py).
// Every kernel here is the discrete half of a computation whose pure-torch version is its tested
// reference: it chooses (the nearest triangle of each point, ...); the differentiable half stays in torch.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <limits>
#include <utility>
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

inline double box_sqdist(const double* p, const double* lo, const double* hi) {
  double s = 0;
  for (int i = 0; i < 3; ++i) {
    double d = lo[i] - p[i];
    if (d < 0) d = p[i] - hi[i];
    if (d > 0) s += d * d;
  }
  return s;
}

// A bounding-volume hierarchy over one mesh's triangles: node i's box holds its triangles' boxes; a leaf
// (count > 0) holds the triangles order[first, first + count), an inner node (count == 0) its children at
// `first` and `first + 1`. Built by splitting at the median centroid along the longest axis of the
// centroids' box, at most kLeaf triangles per leaf.
constexpr int64_t kLeaf = 4;

struct Node {
  double lo[3], hi[3];
  int64_t first, count;
};

struct Bvh {
  std::vector<Node> nodes;
  std::vector<int64_t> order;

  void build(const std::vector<Tri>& tv) {
    const int64_t n = static_cast<int64_t>(tv.size());
    order.resize(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) order[j] = j;
    nodes.clear();
    nodes.reserve(static_cast<size_t>(2 * n));
    nodes.push_back(Node{});
    split(tv, 0, 0, n);
  }

  void split(const std::vector<Tri>& tv, int64_t at, int64_t lo_i, int64_t hi_i) {
    Node node;
    double clo[3], chi[3];
    for (int i = 0; i < 3; ++i) {
      node.lo[i] = clo[i] = std::numeric_limits<double>::infinity();
      node.hi[i] = chi[i] = -std::numeric_limits<double>::infinity();
    }
    for (int64_t k = lo_i; k < hi_i; ++k) {
      const Tri& t = tv[order[k]];
      for (int i = 0; i < 3; ++i) {
        node.lo[i] = std::fmin(node.lo[i], t.lo[i]);
        node.hi[i] = std::fmax(node.hi[i], t.hi[i]);
        double c = t.lo[i] + t.hi[i];
        clo[i] = std::fmin(clo[i], c);
        chi[i] = std::fmax(chi[i], c);
      }
    }
    const int64_t count = hi_i - lo_i;
    if (count <= kLeaf) {
      node.first = lo_i;
      node.count = count;
      nodes[at] = node;
      return;
    }
    int axis = 0;
    for (int i = 1; i < 3; ++i)
      if (chi[i] - clo[i] > chi[axis] - clo[axis]) axis = i;
    const int64_t mid = lo_i + count / 2;
    std::nth_element(order.begin() + lo_i, order.begin() + mid, order.begin() + hi_i, [&](int64_t x, int64_t y) {
      double cx = tv[x].lo[axis] + tv[x].hi[axis], cy = tv[y].lo[axis] + tv[y].hi[axis];
      return cx < cy || (cx == cy && x < y);
    });
    const int64_t child = static_cast<int64_t>(nodes.size());
    node.first = child;
    node.count = 0;
    nodes[at] = node;
    nodes.push_back(Node{});
    nodes.push_back(Node{});
    split(tv, child, lo_i, mid);
    split(tv, child + 1, mid, hi_i);
  }
};

}  // namespace

extern "C" {

int shapeprog_abi_version() { return 13; }

// For each of K meshes (tris: K x T x 3 x 3 corners, float64) and each point (pts: P x 3, float64), the
// index of the nearest triangle (out: K x P int64; the first of equally near ones) and the barycentric
// weights of the closest point on it (bary: K x P x 3 float64), found exactly: a bounding-volume hierarchy
// of each mesh is searched nearer box first, starting from the previous point's nearest triangle, and a box
// (a node's or a triangle's) farther than the best triangle so far is left out. A triangle as near as the
// best is measured, so the first of equally near ones wins as when every pair is measured.
void shapeprog_nearest_triangles(const double* tris, int64_t K, int64_t T, const double* pts, int64_t P, int64_t* out,
                                 double* bary) {
  std::vector<Tri> tv(static_cast<size_t>(T));
  Bvh bvh;
  std::vector<std::pair<int64_t, double>> stack;  // nodes to visit, with their box's distance when pushed
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
    bvh.build(tv);
    const Node* nodes = bvh.nodes.data();
    const int64_t* order = bvh.order.data();
    int64_t* o = out + k * P;
    int64_t best_j = 0;
    for (int64_t p = 0; p < P; ++p) {
      const double* x = pts + p * 3;
      double bw[3], cw[3];
      double best = tri_sqdist(x, tv[best_j], bw);  // the previous point's nearest: a close bound to start from
      stack.clear();
      stack.emplace_back(0, box_sqdist(x, nodes[0].lo, nodes[0].hi));
      while (!stack.empty()) {
        const auto [at, dist] = stack.back();
        stack.pop_back();
        if (dist > best) continue;  // the best got nearer since it was pushed
        const Node& nd = nodes[at];
        if (nd.count == 0) {
          double d0 = box_sqdist(x, nodes[nd.first].lo, nodes[nd.first].hi);
          double d1 = box_sqdist(x, nodes[nd.first + 1].lo, nodes[nd.first + 1].hi);
          if (d0 <= d1) {  // the nearer child on top
            if (d1 <= best) stack.emplace_back(nd.first + 1, d1);
            if (d0 <= best) stack.emplace_back(nd.first, d0);
          } else {
            if (d0 <= best) stack.emplace_back(nd.first, d0);
            if (d1 <= best) stack.emplace_back(nd.first + 1, d1);
          }
          continue;
        }
        for (int64_t m = nd.first; m < nd.first + nd.count; ++m) {
          const int64_t j = order[m];
          const Tri& t = tv[j];
          if (j == best_j || box_sqdist(x, t.lo, t.hi) > best) continue;
          double d = tri_sqdist(x, t, cw);
          if (d < best || (d == best && j < best_j)) {
            best = d;
            best_j = j;
            bw[0] = cw[0]; bw[1] = cw[1]; bw[2] = cw[2];
          }
        }
      }
      o[p] = best_j;
      double* w = bary + (k * P + p) * 3;
      w[0] = bw[0]; w[1] = bw[1]; w[2] = bw[2];
    }
  }
}

}  // extern "C"

// ---------------------------------------------------------------------------------------------
// the rasterizer's discrete half (backend/render/raster.py: _rows, _zbuffer, _saturated,
// _silhouette_pairs), the same arithmetic in the same order and precision, so the results are equal

namespace {

template <typename S>
struct Span {
  int64_t y, x0, x1;
};

// The non-empty row spans of triangle i (raster.py's _rows): pixel rows of its box grown by `grow`, and on
// each the pixels whose three edge distances are <= level (within the x-range grown by `grow`).
template <typename S>
void row_spans(const S* lines, const S* box, int64_t i, int64_t H, int64_t W, S level, S grow, std::vector<Span<S>>& out) {
  out.clear();
  const S slack = S(1e-7);
  const S* bx = box + i * 4;
  const S* ln = lines + i * 16;
  S fy0 = std::ceil((bx[2] - grow) - slack);
  fy0 = fy0 < S(0) ? S(0) : (fy0 > S(H) ? S(H) : fy0);
  S fy1 = std::floor((bx[3] + grow) + slack);
  fy1 = fy1 < S(-1) ? S(-1) : (fy1 > S(H - 1) ? S(H - 1) : fy1);
  S cnt = fy1 - fy0 + S(1);
  if (!(cnt > S(0))) return;
  int64_t count = static_cast<int64_t>(cnt);
  S first[4], slope[4];
  for (int j = 0; j < 4; ++j) {
    first[j] = (ln[j * 4 + 0] + level * ln[j * 4 + 3]) - ln[j * 4 + 1] * (fy0 - ln[j * 4 + 2]);
    slope[j] = ln[j * 4 + 1];
  }
  S bl = bx[0] - grow, bh = bx[1] + grow;
  int64_t y0 = static_cast<int64_t>(fy0);
  for (int64_t k = 0; k < count; ++k) {
    S kf = S(k);
    S a = first[0] - slope[0] * kf, b = first[1] - slope[1] * kf;
    S lo = a > b ? a : b;  // torch.maximum (no NaNs here)
    S c = first[2] - slope[2] * kf, d = first[3] - slope[3] * kf;
    S hi = c < d ? c : d;
    if (grow > S(0)) {
      lo = lo > bl ? lo : bl;
      hi = hi < bh ? hi : bh;
    }
    S fx0 = std::ceil(lo - slack);
    fx0 = fx0 < S(0) ? S(0) : (fx0 > S(W) ? S(W) : fx0);
    S fx1 = std::floor(hi + slack);
    fx1 = fx1 < S(-1) ? S(-1) : (fx1 > S(W - 1) ? S(W - 1) : fx1);
    int64_t x0 = static_cast<int64_t>(fx0), x1 = static_cast<int64_t>(fx1);
    if (x1 >= x0) out.push_back({y0 + k, x0, x1});
  }
}

template <typename S>
void zbuffer(const uint8_t* valid, const S* lines, const S* inv_z, const S* box, int64_t B, int64_t F, int64_t H, int64_t W,
             int64_t* face_out) {
  const int64_t npix = H * W;
  const int64_t none = std::numeric_limits<int64_t>::max();
  std::vector<int64_t> buf(static_cast<size_t>(npix));
  std::vector<Span<S>> spans;
  for (int64_t b = 0; b < B; ++b) {
    std::fill(buf.begin(), buf.end(), none);
    for (int64_t f = 0; f < F; ++f) {
      int64_t i = b * F + f;
      if (!valid[i]) continue;
      row_spans<S>(lines, box, i, H, W, S(0), S(0), spans);
      const S p = inv_z[i * 3], q0 = inv_z[i * 3 + 1], r0 = inv_z[i * 3 + 2];
      for (const auto& sp : spans) {
        S q = q0 * S(sp.y) + r0;
        for (int64_t x = sp.x0; x <= sp.x1; ++x) {
          S z = S(1) / (p * S(x) + q);
          float zf = static_cast<float>(z);
          int32_t bits;
          std::memcpy(&bits, &zf, 4);
          int64_t key = static_cast<int64_t>(static_cast<uint64_t>(static_cast<int64_t>(bits)) << 32) | f;
          int64_t& slot = buf[sp.y * W + x];
          if (key < slot) slot = key;
        }
      }
    }
    int64_t* o = face_out + b * npix;
    for (int64_t k = 0; k < npix; ++k) o[k] = buf[k] == none ? -1 : (buf[k] & 0xFFFFFFFFLL);
  }
}

// saturated (B x H x W): the (2r + 1)^2 window around the pixel, clipped to the image, is all hit
void saturate(const int64_t* face, int64_t B, int64_t H, int64_t W, int64_t r, uint8_t* sat) {
  std::vector<int32_t> s(static_cast<size_t>((H + 1) * (W + 1)));
  for (int64_t b = 0; b < B; ++b) {
    const int64_t* f = face + b * H * W;
    std::fill(s.begin(), s.end(), 0);
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x)
        s[(y + 1) * (W + 1) + x + 1] = (f[y * W + x] < 0) + s[y * (W + 1) + x + 1] + s[(y + 1) * (W + 1) + x] - s[y * (W + 1) + x];
    uint8_t* o = sat + b * H * W;
    for (int64_t y = 0; y < H; ++y) {
      int64_t y0 = y - r < 0 ? 0 : y - r, y1 = y + r + 1 > H ? H : y + r + 1;
      for (int64_t x = 0; x < W; ++x) {
        int64_t x0 = x - r < 0 ? 0 : x - r, x1 = x + r + 1 > W ? W : x + r + 1;
        int32_t c = s[y1 * (W + 1) + x1] - s[y1 * (W + 1) + x0] - s[y0 * (W + 1) + x1] + s[y0 * (W + 1) + x0];
        o[y * W + x] = c == 0;
      }
    }
  }
}

// the silhouette's (pixel, triangle) pairs: an unsaturated pixel within `band` px of a triangle visible
// somewhere in its image, or of any front-facing triangle when no triangle covers the pixel; count only (pix == nullptr) or fill pix, tri, x, y and slot (M each: the pair's
// pixel among the distinct pixels of the pairs, in order of first appearance) and upix (those pixels);
// *unique receives their number
template <typename S>
int64_t band_pairs(const uint8_t* valid, const uint8_t* front, const S* lines, const S* box, const int64_t* face,
                   const uint8_t* sat, int64_t B,
                   int64_t F, int64_t H, int64_t W, S band, int64_t* pix, int64_t* tri, int64_t* xs, int64_t* ys,
                   int64_t* slot, int64_t* upix, int64_t* unique) {
  std::vector<uint8_t> visible(static_cast<size_t>(F));
  std::vector<int64_t> slot_of(static_cast<size_t>(H * W));
  std::vector<Span<S>> spans;
  int64_t m = 0, u = 0;
  for (int64_t b = 0; b < B; ++b) {
    std::fill(visible.begin(), visible.end(), 0);
    std::fill(slot_of.begin(), slot_of.end(), -1);
    const int64_t* fb = face + b * H * W;
    for (int64_t k = 0; k < H * W; ++k)
      if (fb[k] >= 0) visible[fb[k]] = 1;
    const uint8_t* sb = sat + b * H * W;
    for (int64_t f = 0; f < F; ++f) {
      int64_t i = b * F + f;
      if (!valid[i]) continue;
      row_spans<S>(lines, box, i, H, W, band, band, spans);
      for (const auto& sp : spans) {
        for (int64_t x = sp.x0; x <= sp.x1; ++x) {
          int64_t local = sp.y * W + x;
          if (sb[local] || (!visible[f] && (fb[local] >= 0 || !front[i]))) continue;
          if (slot_of[local] < 0) {
            if (pix != nullptr) upix[u] = b * H * W + local;
            slot_of[local] = u++;
          }
          if (pix != nullptr) {
            pix[m] = b * H * W + local;
            tri[m] = i;
            xs[m] = x;
            ys[m] = sp.y;
            slot[m] = slot_of[local];
          }
          ++m;
        }
      }
    }
  }
  *unique = u;
  return m;
}

// the triangle setup of every (image, triangle) (raster.py's _triangle_setup): screen-space edge lines, 1/z
// plane and box, computed in double in the same order as the torch code, stored in S
template <typename S>
void triangle_setup(const double* uv, const double* tz, const double* length, int64_t T, double znear, double area_eps, double len_eps, int cull,
                    uint8_t* valid_out, S* lines_out, S* inv_z_out, S* box_out) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int64_t t = 0; t < T; ++t) {
    double ax[3], ay[3], z[3], jx[3], jy[3], dx[3], dy[3], len[3];
    bool finite = true, near_ok = true, len_ok = true;
    for (int i = 0; i < 3; ++i) {
      ax[i] = uv[t * 6 + 2 * i];
      ay[i] = uv[t * 6 + 2 * i + 1];
      z[i] = tz[t * 3 + i];
      finite = finite && std::isfinite(ax[i]) && std::isfinite(ay[i]);
      near_ok = near_ok && z[i] > znear;
    }
    for (int i = 0; i < 3; ++i) {
      jx[i] = ax[(i + 1) % 3];
      jy[i] = ay[(i + 1) % 3];
      dx[i] = ax[(i + 2) % 3] - jx[i];
      dy[i] = ay[(i + 2) % 3] - jy[i];
      len[i] = length[t * 3 + i];  // torch's sqrt (not always correctly rounded), for equal results
      len_ok = len_ok && len[i] > len_eps;
    }
    double area2 = (ax[1] - ax[0]) * (ay[2] - ay[0]) - (ay[1] - ay[0]) * (ax[2] - ax[0]);
    bool valid = near_ok && std::fabs(area2) > area_eps && len_ok && finite;
    if (cull) valid = valid && area2 < 0;
    valid_out[t] = valid;
    double sgn = area2 < 0 ? -1.0 : 1.0;
    double edge[3][4], key[3];
    for (int i = 0; i < 3; ++i) {
      double l = valid ? len[i] : 1.0;
      double ea = dy[i] * sgn / l, eb = -dx[i] * sgn / l;
      bool flat = std::fabs(ea) <= 1e-12;
      double safe = flat ? 1.0 : ea;
      edge[i][0] = jx[i];
      edge[i][1] = eb / safe;
      edge[i][2] = jy[i];
      edge[i][3] = 1.0 / safe;
      key[i] = flat ? 0.0 : ea;
    }
    int order[3] = {0, 1, 2};  // a stable ascending sort of the keys (left edges first)
    std::stable_sort(order, order + 3, [&](int a, int b) { return key[a] < key[b]; });
    const double left[4] = {-inf, 0.0, 0.0, 0.0}, right[4] = {inf, 0.0, 0.0, 0.0};
    const double* slot[4] = {key[order[0]] < 0 ? edge[order[0]] : left, key[order[1]] < 0 ? edge[order[1]] : left,
                             key[order[2]] > 0 ? edge[order[2]] : right, key[order[1]] > 0 ? edge[order[1]] : right};
    for (int j = 0; j < 4; ++j)
      for (int c = 0; c < 4; ++c) lines_out[t * 16 + j * 4 + c] = static_cast<S>(slot[j][c]);
    double a2 = valid ? area2 : 1.0;
    double p = 0.0, q = 0.0, r = 0.0;
    for (int i = 0; i < 3; ++i) {
      double k = 1.0 / (a2 * (valid ? z[i] : 1.0));
      p += -dy[i] * k;
      q += dx[i] * k;
      r += (dy[i] * jx[i] - dx[i] * jy[i]) * k;
    }
    inv_z_out[t * 3] = static_cast<S>(p);
    inv_z_out[t * 3 + 1] = static_cast<S>(q);
    inv_z_out[t * 3 + 2] = static_cast<S>(r);
    auto lo = [&](const double* v) {  // torch.amin: NaN when any is NaN
      if (std::isnan(v[0]) || std::isnan(v[1]) || std::isnan(v[2])) return nan;
      return std::min(std::min(v[0], v[1]), v[2]);
    };
    auto hi = [&](const double* v) {
      if (std::isnan(v[0]) || std::isnan(v[1]) || std::isnan(v[2])) return nan;
      return std::max(std::max(v[0], v[1]), v[2]);
    };
    box_out[t * 4] = static_cast<S>(lo(ax));
    box_out[t * 4 + 1] = static_cast<S>(hi(ax));
    box_out[t * 4 + 2] = static_cast<S>(lo(ay));
    box_out[t * 4 + 3] = static_cast<S>(hi(ay));
  }
}

}  // namespace

extern "C" {

// uv (T, 3, 2), z (T, 3) and the edges' lengths (T, 3) float64; dtype: 0 float32, 1 float64 (of lines, inv_z, box)
void shapeprog_raster_setup(int dtype, const double* uv, const double* z, const double* length, int64_t T, double znear, double area_eps, double len_eps,
                            int cull, uint8_t* valid, void* lines, void* inv_z, void* box) {
  if (dtype == 0)
    triangle_setup<float>(uv, z, length, T, znear, area_eps, len_eps, cull, valid, static_cast<float*>(lines), static_cast<float*>(inv_z),
                          static_cast<float*>(box));
  else
    triangle_setup<double>(uv, z, length, T, znear, area_eps, len_eps, cull, valid, static_cast<double*>(lines),
                           static_cast<double*>(inv_z), static_cast<double*>(box));
}

// dtype: 0 float32, 1 float64 (of lines, inv_z, box)
void shapeprog_raster_zbuffer(int dtype, const uint8_t* valid, const void* lines, const void* inv_z, const void* box, int64_t B,
                              int64_t F, int64_t H, int64_t W, int64_t* face_out) {
  if (dtype == 0)
    zbuffer<float>(valid, static_cast<const float*>(lines), static_cast<const float*>(inv_z), static_cast<const float*>(box), B,
                   F, H, W, face_out);
  else
    zbuffer<double>(valid, static_cast<const double*>(lines), static_cast<const double*>(inv_z), static_cast<const double*>(box),
                    B, F, H, W, face_out);
}

void shapeprog_raster_saturated(const int64_t* face, int64_t B, int64_t H, int64_t W, int64_t r, uint8_t* sat) {
  saturate(face, B, H, W, r, sat);
}

int64_t shapeprog_raster_band_pairs(int dtype, const uint8_t* valid, const uint8_t* front, const void* lines, const void* box,
                                    const int64_t* face, const uint8_t* sat, int64_t B, int64_t F, int64_t H, int64_t W,
                                    double band, int64_t* pix, int64_t* tri, int64_t* xs, int64_t* ys, int64_t* slot,
                                    int64_t* upix, int64_t* unique) {
  if (dtype == 0)
    return band_pairs<float>(valid, front, static_cast<const float*>(lines), static_cast<const float*>(box), face, sat, B, F,
                             H, W, static_cast<float>(band), pix, tri, xs, ys, slot, upix, unique);
  return band_pairs<double>(valid, front, static_cast<const double*>(lines), static_cast<const double*>(box), face, sat, B, F,
                            H, W, band, pix, tri, xs, ys, slot, upix, unique);
}

}  // extern "C"

// ---------------------------------------------------------------------------------------------
// the soft silhouette's per-pixel sum_j log(1 - D_j) over (pixel, triangle) pairs and the coefficients of its
// backward (backend/render/raster.py: _SilhouetteLogQ.forward, the same formulas in the same precision)

namespace {

template <typename S>
void silhouette_logq(const S* uv, const int64_t* pix, const int64_t* tri, const int64_t* xs, const int64_t* ys, int64_t M,
                     S sigma, S eps, const uint8_t* outside, int64_t npix, S* out, int64_t* ia, int64_t* ib, S* gx, S* gy,
                     S* gs) {
  const S dist_eps = S(1e-12);
  // a pixel outside the silhouette keeps only its nearest triangle's term: the first pair of the lowest log(1 - D)
  std::vector<int64_t> nearest(outside ? npix : 0, -1);
  for (int64_t m = 0; m < M; ++m) {
    const S* t = uv + tri[m] * 6;
    const S px = S(xs[m]), py = S(ys[m]);
    S best = 0, bs = 0, brx = 0, bry = 0, cmin = 0, cmax = 0;
    int64_t bk = 0;
    for (int i = 0; i < 3; ++i) {
      int j = (i + 1) % 3;
      S dx = t[2 * j] - t[2 * i], dy = t[2 * j + 1] - t[2 * i + 1];
      S wx = px - t[2 * i], wy = py - t[2 * i + 1];
      S s = (wx * dx + wy * dy) / (dx * dx + dy * dy);
      s = s < S(0) ? S(0) : (s > S(1) ? S(1) : s);
      S rx = wx - s * dx, ry = wy - s * dy;
      S d2 = rx * rx + ry * ry;
      S c = dx * wy - dy * wx;
      if (i == 0) {
        best = d2; bs = s; brx = rx; bry = ry; cmin = c; cmax = c;
      } else {
        if (d2 < best) { best = d2; bs = s; brx = rx; bry = ry; bk = i; }
        cmin = c < cmin ? c : cmin;
        cmax = c > cmax ? c : cmax;
      }
    }
    S dist = std::sqrt(best + dist_eps);
    bool inside = (cmin >= S(0)) || (cmax <= S(0));
    S sgn = inside ? -dist : dist;
    S cover = S(1) / (S(1) + std::exp(-(sgn / -sigma)));
    S dt = (cover - eps) / (S(1) - S(2) * eps);
    dt = dt < S(0) ? S(0) : (dt > S(1) ? S(1) : dt);
    S logq = std::log1p(-dt);
    if (outside && outside[pix[m]]) {
      int64_t& n = nearest[pix[m]];
      if (logq < (n < 0 ? S(0) : out[pix[m]])) { n = m; out[pix[m]] = logq; }
    } else {
      out[pix[m]] += logq;
    }
    bool live = dt > S(0) && dt < S(1);
    S coef = 0;
    if (live) {
      coef = cover * (S(1) - cover) / (sigma * (S(1) - S(2) * eps) * (S(1) - dt) * dist);
      if (!inside) coef = -coef;
    }
    ia[m] = tri[m] * 3 + bk;
    ib[m] = tri[m] * 3 + (bk + 1) % 3;
    gx[m] = coef * brx;
    gy[m] = coef * bry;
    gs[m] = bs;
  }
  if (outside)
    for (int64_t m = 0; m < M; ++m)
      if (outside[pix[m]] && nearest[pix[m]] != m) { gx[m] = S(0); gy[m] = S(0); }
}

// the backward of silhouette_logq (raster.py's _SilhouetteLogQ.backward): the gradient of every corner's (x, y),
// out (2, num) zeroed, accumulated in the order of the torch code's index_add_ calls (so equal results)
template <typename S>
void silhouette_logq_backward(const S* grad, const int64_t* pix, const int64_t* ia, const int64_t* ib, const S* gx, const S* gy,
                              const S* gs, int64_t M, int64_t num, S* out) {
  for (int axis = 0; axis < 2; ++axis) {
    const S* comp = axis == 0 ? gx : gy;
    S* o = out + axis * num;
    for (int64_t m = 0; m < M; ++m) {
      S ga = grad[pix[m]] * (S(1) - gs[m]);
      o[ia[m]] += ga * comp[m];
    }
    for (int64_t m = 0; m < M; ++m) {
      S gb = grad[pix[m]] * gs[m];
      o[ib[m]] += gb * comp[m];
    }
  }
}

// points at barycentric weights w (K, P, 3) of the triangles face (K, P) of tv (K, T, 3, 3) (ops/blend.py's
// blend_corners: gather the corners, weight them, sum over the corners in order) and its backward (the gather's
// scatter-add over the points in order), so equal results
template <typename S>
void blend_corners(const S* tv, int64_t K, int64_t T, const int64_t* face, const S* w, int64_t P, S* out) {
  for (int64_t k = 0; k < K; ++k)
    for (int64_t p = 0; p < P; ++p) {
      const int64_t i = k * P + p;
      const S* c = tv + (k * T + face[i]) * 9;
      const S* ww = w + i * 3;
      for (int d = 0; d < 3; ++d) {
        S a = ww[0] * c[d], b = ww[1] * c[3 + d], e = ww[2] * c[6 + d];
        out[i * 3 + d] = (a + b) + e;
      }
    }
}

template <typename S>
void blend_corners_backward(const S* grad, int64_t K, int64_t T, const int64_t* face, const S* w, int64_t P, S* out) {
  for (int64_t k = 0; k < K; ++k)
    for (int64_t p = 0; p < P; ++p) {
      const int64_t i = k * P + p;
      S* o = out + (k * T + face[i]) * 9;
      for (int j = 0; j < 3; ++j)
        for (int d = 0; d < 3; ++d) o[j * 3 + d] += grad[i * 3 + d] * w[i * 3 + j];
    }
}

}  // namespace

extern "C" {

void shapeprog_blend_corners(int dtype, const void* tv, int64_t K, int64_t T, const int64_t* face, const void* w, int64_t P,
                             void* out) {
  if (dtype == 0)
    blend_corners<float>(static_cast<const float*>(tv), K, T, face, static_cast<const float*>(w), P, static_cast<float*>(out));
  else
    blend_corners<double>(static_cast<const double*>(tv), K, T, face, static_cast<const double*>(w), P, static_cast<double*>(out));
}

void shapeprog_blend_corners_backward(int dtype, const void* grad, int64_t K, int64_t T, const int64_t* face, const void* w,
                                      int64_t P, void* out) {
  if (dtype == 0)
    blend_corners_backward<float>(static_cast<const float*>(grad), K, T, face, static_cast<const float*>(w), P,
                                  static_cast<float*>(out));
  else
    blend_corners_backward<double>(static_cast<const double*>(grad), K, T, face, static_cast<const double*>(w), P,
                                   static_cast<double*>(out));
}

void shapeprog_silhouette_logq_backward(int dtype, const void* grad, const int64_t* pix, const int64_t* ia, const int64_t* ib,
                                        const void* gx, const void* gy, const void* gs, int64_t M, int64_t num, void* out) {
  if (dtype == 0)
    silhouette_logq_backward<float>(static_cast<const float*>(grad), pix, ia, ib, static_cast<const float*>(gx),
                                    static_cast<const float*>(gy), static_cast<const float*>(gs), M, num, static_cast<float*>(out));
  else
    silhouette_logq_backward<double>(static_cast<const double*>(grad), pix, ia, ib, static_cast<const double*>(gx),
                                     static_cast<const double*>(gy), static_cast<const double*>(gs), M, num,
                                     static_cast<double*>(out));
}

void shapeprog_silhouette_logq(int dtype, const void* uv, const int64_t* pix, const int64_t* tri, const int64_t* xs,
                               const int64_t* ys, int64_t M, double sigma, double eps, const uint8_t* outside, int64_t npix,
                               void* out, int64_t* ia, int64_t* ib, void* gx, void* gy, void* gs) {
  if (dtype == 0)
    silhouette_logq<float>(static_cast<const float*>(uv), pix, tri, xs, ys, M, static_cast<float>(sigma), static_cast<float>(eps),
                           outside, npix, static_cast<float*>(out), ia, ib, static_cast<float*>(gx), static_cast<float*>(gy),
                           static_cast<float*>(gs));
  else
    silhouette_logq<double>(static_cast<const double*>(uv), pix, tri, xs, ys, M, sigma, eps, outside, npix,
                            static_cast<double*>(out), ia, ib, static_cast<double*>(gx), static_cast<double*>(gy),
                            static_cast<double*>(gs));
}

}  // extern "C"

// ---------------------------------------------------------------------------------------------
// the nearest scan point within a reach (backend/ops/knn.py: ScanNeighbours), exact: the scan is bucketed in
// a uniform grid (cells of `h`, sorted by cell: `start` (cells + 1) offsets into `pts`), and a query visits
// the cells ring by ring around its own until the nearest point found is nearer than every unvisited cell

extern "C" {

void shapeprog_grid_nearest(const double* pts, const int64_t* start, const double* origin, const int64_t* dims, double h,
                            const double* queries, int64_t Q, double reach, int64_t* out) {
  const double reach2 = reach * reach;
  const int64_t rmax = static_cast<int64_t>(std::ceil(reach / h)) + 1;
  for (int64_t q = 0; q < Q; ++q) {
    const double* x = queries + q * 3;
    int64_t c[3];
    for (int i = 0; i < 3; ++i) c[i] = static_cast<int64_t>(std::floor((x[i] - origin[i]) / h));
    double best = reach2;  // only points strictly nearer than the reach count
    int64_t best_j = -1;
    for (int64_t r = 0; r <= rmax; ++r) {
      // every unvisited point is at least (r - 1) h away: stop when the best is nearer
      double bound = static_cast<double>(r - 1) * h;
      if (r > 0 && bound > 0 && best <= bound * bound) break;
      int64_t lo[3], hi[3];
      bool empty = false;
      for (int i = 0; i < 3; ++i) {
        lo[i] = std::max<int64_t>(c[i] - r, 0);
        hi[i] = std::min<int64_t>(c[i] + r, dims[i] - 1);
        if (lo[i] > hi[i]) empty = true;
      }
      if (empty) continue;
      for (int64_t i = lo[0]; i <= hi[0]; ++i)
        for (int64_t j = lo[1]; j <= hi[1]; ++j)
          for (int64_t k = lo[2]; k <= hi[2]; ++k) {
            int64_t ring = std::max(std::max(std::llabs(i - c[0]), std::llabs(j - c[1])), std::llabs(k - c[2]));
            if (ring != r) continue;
            int64_t cell = (i * dims[1] + j) * dims[2] + k;
            for (int64_t p = start[cell]; p < start[cell + 1]; ++p) {
              const double* y = pts + p * 3;
              double dx = x[0] - y[0], dy = x[1] - y[1], dz = x[2] - y[2];
              double d = dx * dx + dy * dy + dz * dz;
              if (d < best) {
                best = d;
                best_j = p;
              }
            }
          }
    }
    out[q] = best_j;
  }
}

}  // extern "C"
