// BatchNorm (batch statistics) + activation, and a conditional D's "add the label maps + activation",
// each as one paddle custom operator with its gradient, on CPU in NCHW float32.
//
// Paddle 3's dygraph runs BatchNorm, ReLU / LeakyReLU and the elementwise adds of a training step as
// separate single-threaded passes over memory; on the DCGAN at batch 128 they cost about as much as
// a third of the convolutions (docs/performance.md). Here each block's normalisation and activation
// is a statistics pass and one more pass per direction, split over the cores by image. Sums are taken
// per row (an image's channel), then added up per channel in image order in one thread: results repeat
// bit for bit whatever the thread count.
//
// batch_norm_act(X [N, C, H, W], Gamma [C], Beta [C], epsilon, slope) -> Y, Mean [C], Var [C]:
//   Y = act(Gamma * (X - Mean) / sqrt(Var + epsilon) + Beta), Mean / Var the batch's (Var biased),
//   act(v) = v for v > 0 and slope * v otherwise (slope 0: ReLU, 0.2: the DCGAN's LeakyReLU).
//   Its gradient operator returns the gradients of X, Gamma and Beta.
// label_add_act(X [N, C, H, W], Maps [K, C, H, W], Labels int64 [N], slope) -> Y = act(X + Maps[Labels]).
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
  explicit Shape(const paddle::Tensor& x) : n(x.shape()[0]), c(x.shape()[1]), hw(x.shape()[2] * x.shape()[3]) {}
  int64_t at(int64_t i, int64_t ch) const { return (i * c + ch) * hw; }  // offset of image i's channel ch
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

std::vector<paddle::Tensor> BatchNormActForward(const paddle::Tensor& x_in, const paddle::Tensor& gamma,
                                                const paddle::Tensor& beta, float epsilon, float slope) {
  check_nchw(x_in, "batch_norm_act");
  auto x = dense(x_in);
  Shape s(x);
  auto y = paddle::empty(x.shape(), x.dtype(), x.place());
  auto mean = paddle::empty({s.c}, x.dtype(), x.place()), var = paddle::empty({s.c}, x.dtype(), x.place());
  const float *px = x.data<float>(), *pg = gamma.data<float>(), *pb = beta.data<float>();
  float *py = y.data<float>(), *pm = mean.data<float>(), *pv = var.data<float>();
  // each row (one image's channel) in one read: its mean and sum of squared deviations ...
  std::vector<float> row_mean(s.n * s.c), row_m2(s.n * s.c);
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
                                                 float epsilon, float slope) {
  auto x = dense(x_in), y = dense(y_in), dy = dense(dy_in);
  Shape s(x);
  auto dx = paddle::empty(x.shape(), x.dtype(), x.place());
  auto dgamma = paddle::empty({s.c}, x.dtype(), x.place()), dbeta = paddle::empty({s.c}, x.dtype(), x.place());
  const float *px = x.data<float>(), *py = y.data<float>(), *pdy = dy.data<float>(), *pg = gamma.data<float>();
  const float *pm = mean.data<float>(), *pv = var.data<float>();
  float *pdx = dx.data<float>(), *pdg = dgamma.data<float>(), *pdb = dbeta.data<float>();
  // per row: the sums of dz (the gradient before the activation) and of dz * (x - mean) ...
  std::vector<float> row_dz(s.n * s.c), row_dz_x(s.n * s.c);
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
  // ... added up per channel in image order: the gradients of Beta and Gamma
  const double count = static_cast<double>(s.n * s.hw);
  std::vector<float> rstd(s.c), mean_dz(s.c), mean_dz_xhat(s.c);
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
  }
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < s.n; ++i)
    for (int64_t ch = 0; ch < s.c; ++ch) {
      const int64_t o = s.at(i, ch);
      const float m = pm[ch], r = rstd[ch], g = pg[ch] * r, mdz = mean_dz[ch], k2 = r * mean_dz_xhat[ch];
#pragma omp simd
      for (int64_t k = 0; k < s.hw; ++k) {
        const float dz = act_grad(py[o + k], pdy[o + k], slope);
        pdx[o + k] = g * (dz - mdz - (px[o + k] - m) * k2);
      }
    }
  return {dx, dgamma, dbeta};
}

std::vector<paddle::Tensor> LabelAddActForward(const paddle::Tensor& x_in, const paddle::Tensor& maps_in,
                                               const paddle::Tensor& labels_in, float slope) {
  check_nchw(x_in, "label_add_act");
  auto x = dense(x_in), maps = dense(maps_in), labels = dense(labels_in);
  PD_CHECK(labels.dtype() == paddle::DataType::INT64, "label_add_act takes int64 labels");
  Shape s(x);
  const int64_t classes = maps.shape()[0];
  auto y = paddle::empty(x.shape(), x.dtype(), x.place());
  const float *px = x.data<float>(), *pmap = maps.data<float>();
  const int64_t* pl = labels.data<int64_t>();
  float* py = y.data<float>();
  for (int64_t i = 0; i < s.n; ++i) PD_CHECK(pl[i] >= 0 && pl[i] < classes, "label_add_act: a label out of range");
  const int64_t image = s.c * s.hw;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < s.n; ++i) {
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
  Shape s(y);
  auto dx = paddle::empty(y.shape(), y.dtype(), y.place());
  auto dmaps = paddle::empty(maps.shape(), maps.dtype(), maps.place());
  const float *py = y.data<float>(), *pdy = dy.data<float>();
  const int64_t* pl = labels.data<int64_t>();
  float *pdx = dx.data<float>(), *pdm = dmaps.data<float>();
  const int64_t classes = maps.shape()[0];
  // by channel: every thread owns its channels of every map, and adds the images in order
#pragma omp parallel for schedule(static)
  for (int64_t ch = 0; ch < s.c; ++ch) {
    for (int64_t k = 0; k < classes; ++k) std::fill_n(pdm + (k * s.c + ch) * s.hw, s.hw, 0.f);
    for (int64_t i = 0; i < s.n; ++i) {
      const int64_t o = s.at(i, ch);
      float* total = pdm + (pl[i] * s.c + ch) * s.hw;
#pragma omp simd
      for (int64_t k = 0; k < s.hw; ++k) {
        const float dz = act_grad(py[o + k], pdy[o + k], slope);
        pdx[o + k] = dz;
        total[k] += dz;
      }
    }
  }
  return {dx, dmaps};
}

std::vector<std::vector<int64_t>> BatchNormActShape(const std::vector<int64_t>& x, const std::vector<int64_t>& gamma,
                                                    const std::vector<int64_t>&, float, float) {
  return {x, {x[1]}, {x[1]}};
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
    .Inputs({"X", "Gamma", "Beta"}).Outputs({"Y", "Mean", "Var"}).Attrs({"epsilon: float", "slope: float"})
    .SetKernelFn(PD_KERNEL(BatchNormActForward)).SetInferShapeFn(PD_INFER_SHAPE(BatchNormActShape))
    .SetInferDtypeFn(PD_INFER_DTYPE(BatchNormActType));
PD_BUILD_GRAD_OP(batch_norm_act)
    .Inputs({"X", "Gamma", "Mean", "Var", "Y", paddle::Grad("Y")})
    .Outputs({paddle::Grad("X"), paddle::Grad("Gamma"), paddle::Grad("Beta")})
    .Attrs({"epsilon: float", "slope: float"}).SetKernelFn(PD_KERNEL(BatchNormActBackward));

PD_BUILD_OP(label_add_act)
    .Inputs({"X", "Maps", "Labels"}).Outputs({"Y"}).Attrs({"slope: float"})
    .SetKernelFn(PD_KERNEL(LabelAddActForward)).SetInferShapeFn(PD_INFER_SHAPE(LabelAddActShape))
    .SetInferDtypeFn(PD_INFER_DTYPE(LabelAddActType));
PD_BUILD_GRAD_OP(label_add_act)
    .Inputs({"Maps", "Labels", "Y", paddle::Grad("Y")}).Outputs({paddle::Grad("X"), paddle::Grad("Maps")})
    .Attrs({"slope: float"}).SetKernelFn(PD_KERNEL(LabelAddActBackward));
