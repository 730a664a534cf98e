// BatchNorm (batch statistics) + activation, and a conditional D's "add the label maps + activation",
// each as one paddle custom operator with its gradient, on CPU in float32, NCHW or channels-last NHWC.
//
// Paddle 3's dygraph runs BatchNorm, ReLU / LeakyReLU and the elementwise adds of a training step as
// separate single-threaded passes over memory; on the DCGAN at batch 128 they cost about as much as
// a third of the convolutions (docs/performance.md). Here each block's normalisation and activation
// is a statistics pass and one more pass per direction, split over the cores by image. Sums are taken
// per row (an image's channel), then added up per channel in image order in one thread: results repeat
// bit for bit whatever the thread count.
//
// batch_norm_act(X [N, C, H, W], Gamma [C], Beta [C], epsilon, slope, nhwc) -> Y, Mean [C], Var [C]:
//   Y = act(Gamma * (X - Mean) / sqrt(Var + epsilon) + Beta), Mean / Var the batch's (Var biased),
//   act(v) = v for v > 0 and slope * v otherwise (slope 0: ReLU, 0.2: the DCGAN's LeakyReLU).
//   nhwc = 1: X and Y are stored channels-last, [N, H, W, C].
//   Its gradient operator returns the gradients of X, Gamma and Beta.
// label_add_act(X [N, ...], Maps [K, ...], Labels int64 [N], slope) -> Y = act(X + Maps[Labels]), each image
//   and map one block of memory in the same layout (NCHW or NHWC alike).
//   Its gradient operator returns the gradients of X and Maps (a sum over the images of each label).
// kernels/layers.py calls them (FusedConvBlock, LabelMapsBlock) once kernels.apply hands them over.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "paddle/extension.h"
#include "tensors.h"

using paddle_dcgan::dense;

namespace {

struct Shape {
  int64_t n, c, hw;
  Shape(const paddle::Tensor& x, bool nhwc)
      : n(x.shape()[0]), c(x.shape()[nhwc ? 3 : 1]), hw(x.shape()[nhwc ? 1 : 2] * x.shape()[nhwc ? 2 : 3]) {}
  int64_t at(int64_t i, int64_t ch) const { return (i * c + ch) * hw; }  // NCHW: offset of image i's channel ch
};

void check_nchw(const paddle::Tensor& x, const char* op) {
  PD_CHECK(x.is_cpu() && x.dtype() == paddle::DataType::FLOAT32 && x.shape().size() == 4,
           op, " takes a 4-D float32 CPU tensor");
}

// As paddle's ReLU (slope 0: nan -> 0) and LeakyReLU (nan stays nan); the gradient is read off the output
// (y > 0 exactly where the input was). Both sides of each select are computed, so that the loops vectorise
// (build.py builds with -fno-trapping-math for that): the sign of an activation is a coin toss, and a
// branch on it is mispredicted half the time.
inline float act(float v, float slope) {
  const float below = v * slope;
  return v > 0.f ? v : (slope == 0.f ? 0.f : below);
}
inline float act_grad(float y, float dy, float slope) { return dy * (y > 0.f ? 1.f : slope); }

// sum of a row (vectorised in a fixed order: the same every run)
inline float row_sum(const float* p, int64_t len) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int64_t k = 0; k < len; ++k) s += p[k];
  return s;
}

}  // namespace

// Per image and channel ("row"): the mean and the sum of squared deviations of its H x W values, read in
// one pass over the image (two over each value) for either layout.
void row_statistics(const float* px, const Shape& s, bool nhwc, float* row_mean, float* row_m2) {
  if (!nhwc) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t i = 0; i < s.n; ++i)
      for (int64_t ch = 0; ch < s.c; ++ch) {
        const float* row = px + s.at(i, ch);
        const float m = row_sum(row, s.hw) / s.hw;
        float m2 = 0.f;
#pragma omp simd reduction(+ : m2)
        for (int64_t k = 0; k < s.hw; ++k) m2 += (row[k] - m) * (row[k] - m);
        row_mean[i * s.c + ch] = m;
        row_m2[i * s.c + ch] = m2;
      }
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < s.n; ++i) {  // an image's pixels one after another, its channels side by side
    const float* image = px + i * s.hw * s.c;
    float *m = row_mean + i * s.c, *m2 = row_m2 + i * s.c;
    std::fill_n(m, s.c, 0.f);
    std::fill_n(m2, s.c, 0.f);
    for (int64_t k = 0; k < s.hw; ++k) {
#pragma omp simd
      for (int64_t ch = 0; ch < s.c; ++ch) m[ch] += image[k * s.c + ch];
    }
#pragma omp simd
    for (int64_t ch = 0; ch < s.c; ++ch) m[ch] /= s.hw;
    for (int64_t k = 0; k < s.hw; ++k) {
#pragma omp simd
      for (int64_t ch = 0; ch < s.c; ++ch) m2[ch] += (image[k * s.c + ch] - m[ch]) * (image[k * s.c + ch] - m[ch]);
    }
  }
}

std::vector<paddle::Tensor> BatchNormActForward(const paddle::Tensor& x_in, const paddle::Tensor& gamma,
                                                const paddle::Tensor& beta, float epsilon, float slope, int nhwc) {
  check_nchw(x_in, "batch_norm_act");
  auto x = dense(x_in);
  Shape s(x, nhwc);
  auto y = paddle::empty(x.shape(), x.dtype(), x.place());
  auto mean = paddle::empty({s.c}, x.dtype(), x.place()), var = paddle::empty({s.c}, x.dtype(), x.place());
  const float *px = x.data<float>(), *pg = gamma.data<float>(), *pb = beta.data<float>();
  float *py = y.data<float>(), *pm = mean.data<float>(), *pv = var.data<float>();
  // each row (one image's channel): its mean and sum of squared deviations ...
  std::vector<float> row_mean(s.n * s.c), row_m2(s.n * s.c);
  row_statistics(px, s, nhwc, row_mean.data(), row_m2.data());
  // ... then the rows of a channel merged in image order (Chan et al.'s pairwise update), in double
  std::vector<float> scale(s.c), shift(s.c);
  for (int64_t ch = 0; ch < s.c; ++ch) {
    double m = 0, m2 = 0, n = 0;
    for (int64_t i = 0; i < s.n; ++i) {
      const double delta = row_mean[i * s.c + ch] - m, total = n + s.hw;
      m += delta * s.hw / total;
      m2 += row_m2[i * s.c + ch] + delta * delta * n * s.hw / total;
      n = total;
    }
    pm[ch] = static_cast<float>(m);
    pv[ch] = static_cast<float>(m2 / n);
    scale[ch] = pg[ch] / std::sqrt(pv[ch] + epsilon);
    shift[ch] = pb[ch] - pm[ch] * scale[ch];
  }
  if (nhwc) {
    const float *a = scale.data(), *b = shift.data();
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < s.n * s.hw; ++p) {
      const float* in = px + p * s.c;
      float* out = py + p * s.c;
#pragma omp simd
      for (int64_t ch = 0; ch < s.c; ++ch) out[ch] = act(in[ch] * a[ch] + b[ch], slope);
    }
    return {y, mean, var};
  }
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < s.n; ++i)
    for (int64_t ch = 0; ch < s.c; ++ch) {
      const float *row = px + s.at(i, ch), a = scale[ch], b = shift[ch];
      float* out = py + s.at(i, ch);
#pragma omp simd
      for (int64_t k = 0; k < s.hw; ++k) out[k] = act(row[k] * a + b, slope);
    }
  return {y, mean, var};
}

std::vector<paddle::Tensor> BatchNormActBackward(const paddle::Tensor& x_in, const paddle::Tensor& gamma,
                                                 const paddle::Tensor& mean, const paddle::Tensor& var,
                                                 const paddle::Tensor& y_in, const paddle::Tensor& dy_in,
                                                 float epsilon, float slope, int nhwc) {
  auto x = dense(x_in), y = dense(y_in), dy = dense(dy_in);
  Shape s(x, nhwc);
  auto dx = paddle::empty(x.shape(), x.dtype(), x.place());
  auto dgamma = paddle::empty({s.c}, x.dtype(), x.place()), dbeta = paddle::empty({s.c}, x.dtype(), x.place());
  const float *px = x.data<float>(), *py = y.data<float>(), *pdy = dy.data<float>(), *pg = gamma.data<float>();
  const float *pm = mean.data<float>(), *pv = var.data<float>();
  float *pdx = dx.data<float>(), *pdg = dgamma.data<float>(), *pdb = dbeta.data<float>();
  // per row: the sums of dz (the gradient before the activation) and of dz * (x - mean) ...
  std::vector<float> row_dz(s.n * s.c), row_dz_x(s.n * s.c);
  if (nhwc) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < s.n; ++i) {
      float *a = row_dz.data() + i * s.c, *b = row_dz_x.data() + i * s.c;
      std::fill_n(a, s.c, 0.f);
      std::fill_n(b, s.c, 0.f);
      for (int64_t k = 0; k < s.hw; ++k) {
        const int64_t o = (i * s.hw + k) * s.c;
#pragma omp simd
        for (int64_t ch = 0; ch < s.c; ++ch) {
          const float dz = act_grad(py[o + ch], pdy[o + ch], slope);
          a[ch] += dz;
          b[ch] += dz * (px[o + ch] - pm[ch]);
        }
      }
    }
  } else {
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t i = 0; i < s.n; ++i)
      for (int64_t ch = 0; ch < s.c; ++ch) {
        const int64_t o = s.at(i, ch);
        const float m = pm[ch];
        float a = 0.f, b = 0.f;
#pragma omp simd reduction(+ : a, b)
        for (int64_t k = 0; k < s.hw; ++k) {
          const float dz = act_grad(py[o + k], pdy[o + k], slope);
          a += dz;
          b += dz * (px[o + k] - m);
        }
        row_dz[i * s.c + ch] = a;
        row_dz_x[i * s.c + ch] = b;
      }
  }
  // ... added up per channel in image order: the gradients of Beta and Gamma
  const double count = static_cast<double>(s.n * s.hw);
  std::vector<float> rstd(s.c), mean_dz(s.c), mean_dz_xhat(s.c), g(s.c), k2(s.c);
  for (int64_t ch = 0; ch < s.c; ++ch) {
    double a = 0, b = 0;
    for (int64_t i = 0; i < s.n; ++i) {
      a += row_dz[i * s.c + ch];
      b += row_dz_x[i * s.c + ch];
    }
    rstd[ch] = 1.f / std::sqrt(pv[ch] + epsilon);
    b *= rstd[ch];
    pdb[ch] = static_cast<float>(a);
    pdg[ch] = static_cast<float>(b);
    mean_dz[ch] = static_cast<float>(a / count);
    mean_dz_xhat[ch] = static_cast<float>(b / count);
    g[ch] = pg[ch] * rstd[ch];
    k2[ch] = rstd[ch] * mean_dz_xhat[ch];
  }
  if (nhwc) {
    const float *pgr = g.data(), *pmdz = mean_dz.data(), *pk2 = k2.data();
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < s.n * s.hw; ++p) {
      const int64_t o = p * s.c;
#pragma omp simd
      for (int64_t ch = 0; ch < s.c; ++ch) {
        const float dz = act_grad(py[o + ch], pdy[o + ch], slope);
        pdx[o + ch] = pgr[ch] * (dz - pmdz[ch] - (px[o + ch] - pm[ch]) * pk2[ch]);
      }
    }
    return {dx, dgamma, dbeta};
  }
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < s.n; ++i)
    for (int64_t ch = 0; ch < s.c; ++ch) {
      const int64_t o = s.at(i, ch);
      const float m = pm[ch], gr = g[ch], mdz = mean_dz[ch], kk = k2[ch];
#pragma omp simd
      for (int64_t k = 0; k < s.hw; ++k) {
        const float dz = act_grad(py[o + k], pdy[o + k], slope);
        pdx[o + k] = gr * (dz - mdz - (px[o + k] - m) * kk);
      }
    }
  return {dx, dgamma, dbeta};
}

std::vector<paddle::Tensor> LabelAddActForward(const paddle::Tensor& x_in, const paddle::Tensor& maps_in,
                                               const paddle::Tensor& labels_in, float slope) {
  check_nchw(x_in, "label_add_act");
  auto x = dense(x_in), maps = dense(maps_in), labels = dense(labels_in);
  PD_CHECK(labels.dtype() == paddle::DataType::INT64, "label_add_act takes int64 labels");
  const int64_t n = x.shape()[0], classes = maps.shape()[0], image = x.numel() / n;
  PD_CHECK(maps.numel() == classes * image, "label_add_act: a map is not the size of an image");
  auto y = paddle::empty(x.shape(), x.dtype(), x.place());
  const float *px = x.data<float>(), *pmap = maps.data<float>();
  const int64_t* pl = labels.data<int64_t>();
  float* py = y.data<float>();
  for (int64_t i = 0; i < n; ++i) PD_CHECK(pl[i] >= 0 && pl[i] < classes, "label_add_act: a label out of range");
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float *row = px + i * image, *add = pmap + pl[i] * image;
    float* out = py + i * image;
#pragma omp simd
    for (int64_t k = 0; k < image; ++k) out[k] = act(row[k] + add[k], slope);
  }
  return {y};
}

std::vector<paddle::Tensor> LabelAddActBackward(const paddle::Tensor& maps, const paddle::Tensor& labels_in,
                                                const paddle::Tensor& y_in, const paddle::Tensor& dy_in, float slope) {
  auto y = dense(y_in), dy = dense(dy_in), labels = dense(labels_in);
  const int64_t n = y.shape()[0], classes = maps.shape()[0], image = y.numel() / n;
  auto dx = paddle::empty(y.shape(), y.dtype(), y.place());
  auto dmaps = paddle::empty(maps.shape(), maps.dtype(), maps.place());
  const float *py = y.data<float>(), *pdy = dy.data<float>();
  const int64_t* pl = labels.data<int64_t>();
  float *pdx = dx.data<float>(), *pdm = dmaps.data<float>();
  // Each thread owns one contiguous stretch of every image and map, and adds the images of a label in image
  // order: every sum is taken in the same order whatever the thread count, and each thread reads long runs
  // of memory.
#pragma omp parallel
  {
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t begin = image * t / threads, end = image * (t + 1) / threads, len = end - begin;
    for (int64_t k = 0; k < classes; ++k) std::fill_n(pdm + k * image + begin, len, 0.f);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t o = i * image + begin;
      const float *yi = py + o, *dyi = pdy + o;
      float *dxi = pdx + o, *total = pdm + pl[i] * image + begin;
#pragma omp simd
      for (int64_t k = 0; k < len; ++k) {
        const float dz = act_grad(yi[k], dyi[k], slope);
        dxi[k] = dz;
        total[k] += dz;
      }
    }
  }
  return {dx, dmaps};
}

std::vector<std::vector<int64_t>> BatchNormActShape(const std::vector<int64_t>& x, const std::vector<int64_t>& gamma,
                                                    const std::vector<int64_t>&, float, float, int nhwc) {
  return {x, {x[nhwc ? 3 : 1]}, {x[nhwc ? 3 : 1]}};
}
std::vector<paddle::DataType> BatchNormActType(const paddle::DataType& x, const paddle::DataType&,
                                               const paddle::DataType&) {
  return {x, x, x};
}
std::vector<std::vector<int64_t>> LabelAddActShape(const std::vector<int64_t>& x, const std::vector<int64_t>&,
                                                   const std::vector<int64_t>&, float) {
  return {x};
}
std::vector<paddle::DataType> LabelAddActType(const paddle::DataType& x, const paddle::DataType&,
                                              const paddle::DataType&) {
  return {x};
}

PD_BUILD_OP(batch_norm_act)
    .Inputs({"X", "Gamma", "Beta"}).Outputs({"Y", "Mean", "Var"}).Attrs({"epsilon: float", "slope: float", "nhwc: int"})
    .SetKernelFn(PD_KERNEL(BatchNormActForward)).SetInferShapeFn(PD_INFER_SHAPE(BatchNormActShape))
    .SetInferDtypeFn(PD_INFER_DTYPE(BatchNormActType));
PD_BUILD_GRAD_OP(batch_norm_act)
    .Inputs({"X", "Gamma", "Mean", "Var", "Y", paddle::Grad("Y")})
    .Outputs({paddle::Grad("X"), paddle::Grad("Gamma"), paddle::Grad("Beta")})
    .Attrs({"epsilon: float", "slope: float", "nhwc: int"}).SetKernelFn(PD_KERNEL(BatchNormActBackward));

PD_BUILD_OP(label_add_act)
    .Inputs({"X", "Maps", "Labels"}).Outputs({"Y"}).Attrs({"slope: float"})
    .SetKernelFn(PD_KERNEL(LabelAddActForward)).SetInferShapeFn(PD_INFER_SHAPE(LabelAddActShape))
    .SetInferDtypeFn(PD_INFER_DTYPE(LabelAddActType));
PD_BUILD_GRAD_OP(label_add_act)
    .Inputs({"Maps", "Labels", "Y", paddle::Grad("Y")}).Outputs({paddle::Grad("X"), paddle::Grad("Maps")})
    .Attrs({"slope: float"}).SetKernelFn(PD_KERNEL(LabelAddActBackward));
