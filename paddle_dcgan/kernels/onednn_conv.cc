// The DCGAN's strided convolutions on oneDNN, with gradients, as paddle custom operators.
//
// Paddle 3's dygraph runs Conv2D / Conv2DTranspose on CPU as im2col plus one GEMM per image;
// oneDNN's direct convolution is about 1.6-1.8x faster for the 4x4 stride-2 layers of the DCGAN
// (README, Performance). paddle_dcgan/onednn.py builds this file with paddle.utils.cpp_extension
// against the oneDNN library paddle itself ships (paddle/libs/libdnnl.so.3) and the oneDNN headers
// of the onednn-devel package of the same version; models.StridedConv2D / StridedConvTranspose2D
// call the operators below.
//
// onednn_conv2d(X [N, C, H, W], W [O, C, K, K], stride, padding, need_x, need_w) -> Y, as F.conv2d
// onednn_conv2d_transpose(X [N, C, H, W], W [C, O, K, K], stride, padding, need_x, need_w) -> Y, as
// F.conv2d_transpose; need_x / need_w (0 or 1): whether backward computes X's / W's gradient.
// Both take contiguous float32 CPU tensors without bias, groups or dilation; their gradient operators
// return the gradients of X and W. Primitives are created once per shape and cached; oneDNN picks
// its own memory layouts (format "any") and the data is reordered to and from paddle's NCHW.
#include <mutex>
#include <string>
#include <unordered_map>

#include "oneapi/dnnl/dnnl.hpp"
#include "paddle/extension.h"
#include "tensors.h"

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
using paddle_dcgan::dense;

namespace {

dnnl::engine& cpu() { static dnnl::engine e(dnnl::engine::kind::cpu, 0); return e; }
dnnl::stream& queue() { static dnnl::stream s(cpu()); return s; }

memory::dims dims_of(const paddle::Tensor& t) { auto s = t.shape(); return memory::dims(s.begin(), s.end()); }

// Run `prim` reading/writing plain user buffers, reordering to and from the layouts it chose.
struct Arg { int id; memory::desc want; memory::desc user; void* data; bool output; };

void run(const dnnl::primitive& prim, const std::vector<Arg>& args) {
  std::unordered_map<int, memory> bind;
  std::vector<std::pair<memory, memory>> copy_back;
  for (const auto& a : args) {
    memory user(a.user, cpu(), a.data);
    if (a.want == a.user) { bind[a.id] = user; continue; }
    memory inner(a.want, cpu());
    if (a.output) copy_back.push_back({inner, user});
    else dnnl::reorder(user, inner).execute(queue(), user, inner);
    bind[a.id] = inner;
  }
  prim.execute(queue(), bind);
  for (auto& p : copy_back) dnnl::reorder(p.first, p.second).execute(queue(), p.first, p.second);
  queue().wait();
}

std::string key_of(const char* what, const memory::dims& a, const memory::dims& b, int64_t stride, int64_t pad) {
  std::string k(what);
  for (auto d : a) k += "," + std::to_string(d);
  k += "|";
  for (auto d : b) k += "," + std::to_string(d);
  return k + "|" + std::to_string(stride) + "|" + std::to_string(pad);
}

memory::desc any(const memory::dims& d) { return memory::desc(d, dt::f32, tag::any); }
memory::desc plain(const memory::dims& d, tag t) { return memory::desc(d, dt::f32, t); }

// ---- the two kinds of layer, as oneDNN names their primitives
// convolution: x [N, C, H, W], w [O, C, K, K] (paddle Conv2D), y [N, O, Ho, Wo]
struct Conv {
  using Fwd = dnnl::convolution_forward;
  using BwdData = dnnl::convolution_backward_data;
  using BwdWeights = dnnl::convolution_backward_weights;
  static constexpr dnnl::algorithm algorithm = dnnl::algorithm::convolution_direct;
  static constexpr const char* name = "conv";
  static memory::dims weights(const memory::dims& w) { return w; }
  static memory::dims out(const memory::dims& x, const memory::dims& w, int64_t s, int64_t p) {
    return {x[0], w[0], (x[2] + 2 * p - w[2]) / s + 1, (x[3] + 2 * p - w[3]) / s + 1};
  }
};

// transposed convolution: x [N, C, H, W], w [C, O, K, K] (paddle Conv2DTranspose), y [N, O, Ho, Wo]
struct Deconv {
  using Fwd = dnnl::deconvolution_forward;
  using BwdData = dnnl::deconvolution_backward_data;
  using BwdWeights = dnnl::deconvolution_backward_weights;
  static constexpr dnnl::algorithm algorithm = dnnl::algorithm::deconvolution_direct;
  static constexpr const char* name = "deconv";
  static memory::dims weights(const memory::dims& w) { return {w[1], w[0], w[2], w[3]}; }  // oneDNN: {O, I, K, K}
  static memory::dims out(const memory::dims& x, const memory::dims& w, int64_t s, int64_t p) {
    return {x[0], w[1], (x[2] - 1) * s - 2 * p + w[2], (x[3] - 1) * s - 2 * p + w[3]};
  }
};

// The forward and both backward primitives of one layer shape, made once and cached.
template <class Kind>
struct PDs {
  typename Kind::Fwd::primitive_desc fwd;
  typename Kind::BwdData::primitive_desc bwd_data;
  typename Kind::BwdWeights::primitive_desc bwd_weights;
  typename Kind::Fwd fwd_p; typename Kind::BwdData bwd_data_p; typename Kind::BwdWeights bwd_weights_p;
};

template <class Kind>
PDs<Kind>& pds(const memory::dims& x, const memory::dims& w, int64_t s, int64_t p) {
  static std::unordered_map<std::string, PDs<Kind>> cache;
  static std::mutex lock;
  std::lock_guard<std::mutex> g(lock);
  auto k = key_of(Kind::name, x, w, s, p);
  auto it = cache.find(k);
  if (it != cache.end()) return it->second;
  auto y = Kind::out(x, w, s, p);
  auto wd = Kind::weights(w);
  memory::dims st{s, s}, pad{p, p};
  auto fwd = typename Kind::Fwd::primitive_desc(cpu(), dnnl::prop_kind::forward_training, Kind::algorithm, any(x),
                                                any(wd), any(y), st, pad, pad);
  auto bd = typename Kind::BwdData::primitive_desc(cpu(), Kind::algorithm, any(x), any(wd), any(y), st, pad, pad, fwd);
  auto bw = typename Kind::BwdWeights::primitive_desc(cpu(), Kind::algorithm, any(x), any(wd), any(y), st, pad, pad,
                                                      fwd);
  auto r = cache.emplace(k, PDs<Kind>{fwd, bd, bw, typename Kind::Fwd(fwd), typename Kind::BwdData(bd),
                                      typename Kind::BwdWeights(bw)});
  return r.first->second;
}

void check(const paddle::Tensor& x, const paddle::Tensor& w) {
  PD_CHECK(x.is_cpu() && w.is_cpu(), "onednn conv ops run on CPU tensors only");
  PD_CHECK(x.dtype() == paddle::DataType::FLOAT32 && w.dtype() == paddle::DataType::FLOAT32, "float32 only");
  PD_CHECK(x.shape().size() == 4 && w.shape().size() == 4, "4-D input and weight expected");
}

// y = op(x, w) with the forward primitive of `pd`; `wd` / `wtag`: the weight as oneDNN sees it and its layout
template <class PDs>
paddle::Tensor forward(PDs& pd, const paddle::Tensor& x, const paddle::Tensor& w, const memory::dims& yd,
                       const memory::dims& wd, tag wtag) {
  auto y = paddle::empty(std::vector<int64_t>(yd.begin(), yd.end()), x.dtype(), x.place());
  run(pd.fwd_p, {{DNNL_ARG_SRC, pd.fwd.src_desc(), plain(dims_of(x), tag::nchw), const_cast<float*>(x.data<float>()), false},
                 {DNNL_ARG_WEIGHTS, pd.fwd.weights_desc(), plain(wd, wtag), const_cast<float*>(w.data<float>()), false},
                 {DNNL_ARG_DST, pd.fwd.dst_desc(), plain(yd, tag::nchw), y.data<float>(), true}});
  return y;
}

// {dx, dw} from dy with the backward-data and backward-weights primitives of `pd`. A gradient nobody
// asked for (need_x / need_w = 0: the input or the weight had stop_gradient set, as D's weights in the
// G step and the images D reads) is left uncomputed: paddle discards it.
template <class PDs>
std::vector<paddle::Tensor> backward(PDs& pd, const paddle::Tensor& x, const paddle::Tensor& w,
                                     const paddle::Tensor& dy, const memory::dims& wd, tag wtag, bool need_x,
                                     bool need_w) {
  auto xd = dims_of(x), yd = dims_of(dy);
  auto dx = paddle::empty(x.shape(), x.dtype(), x.place());
  auto dw = paddle::empty(w.shape(), w.dtype(), w.place());
  float* g = const_cast<float*>(dy.data<float>());
  if (need_x)
    run(pd.bwd_data_p, {{DNNL_ARG_DIFF_DST, pd.bwd_data.diff_dst_desc(), plain(yd, tag::nchw), g, false},
                      {DNNL_ARG_WEIGHTS, pd.bwd_data.weights_desc(), plain(wd, wtag), const_cast<float*>(w.data<float>()), false},
                      {DNNL_ARG_DIFF_SRC, pd.bwd_data.diff_src_desc(), plain(xd, tag::nchw), dx.data<float>(), true}});
  if (need_w)
    run(pd.bwd_weights_p, {{DNNL_ARG_SRC, pd.bwd_weights.src_desc(), plain(xd, tag::nchw), const_cast<float*>(x.data<float>()), false},
                         {DNNL_ARG_DIFF_DST, pd.bwd_weights.diff_dst_desc(), plain(yd, tag::nchw), g, false},
                         {DNNL_ARG_DIFF_WEIGHTS, pd.bwd_weights.diff_weights_desc(), plain(wd, wtag), dw.data<float>(), true}});
  return {dx, dw};
}

}  // namespace

std::vector<paddle::Tensor> ConvForward(const paddle::Tensor& x_in, const paddle::Tensor& w_in, int stride, int padding,
                                        int need_x, int need_w) {
  check(x_in, w_in);
  auto x = dense(x_in), w = dense(w_in);
  auto xd = dims_of(x), wd = dims_of(w);
  return {forward(pds<Conv>(xd, wd, stride, padding), x, w, Conv::out(xd, wd, stride, padding), wd, tag::oihw)};
}

std::vector<paddle::Tensor> ConvBackward(const paddle::Tensor& x_in, const paddle::Tensor& w_in, const paddle::Tensor& dy_in,
                                         int stride, int padding, int need_x, int need_w) {
  auto x = dense(x_in), w = dense(w_in), dy = dense(dy_in);
  auto wd = dims_of(w);
  return backward(pds<Conv>(dims_of(x), wd, stride, padding), x, w, dy, wd, tag::oihw, need_x, need_w);
}

std::vector<paddle::Tensor> DeconvForward(const paddle::Tensor& x_in, const paddle::Tensor& w_in, int stride,
                                          int padding, int need_x, int need_w) {
  check(x_in, w_in);
  auto x = dense(x_in), w = dense(w_in);
  auto xd = dims_of(x), wd = dims_of(w);
  return {forward(pds<Deconv>(xd, wd, stride, padding), x, w, Deconv::out(xd, wd, stride, padding), Deconv::weights(wd),
                  tag::iohw)};
}

std::vector<paddle::Tensor> DeconvBackward(const paddle::Tensor& x_in, const paddle::Tensor& w_in,
                                           const paddle::Tensor& dy_in, int stride, int padding, int need_x,
                                           int need_w) {
  auto x = dense(x_in), w = dense(w_in), dy = dense(dy_in);
  auto wd = dims_of(w);
  return backward(pds<Deconv>(dims_of(x), wd, stride, padding), x, w, dy, Deconv::weights(wd), tag::iohw, need_x, need_w);
}

std::vector<std::vector<int64_t>> ConvShape(const std::vector<int64_t>& x, const std::vector<int64_t>& w, int s, int p,
                                            int, int) {
  return {Conv::out(x, w, s, p)};
}
std::vector<std::vector<int64_t>> DeconvShape(const std::vector<int64_t>& x, const std::vector<int64_t>& w, int s, int p,
                                              int, int) {
  return {Deconv::out(x, w, s, p)};
}
std::vector<paddle::DataType> SameType(const paddle::DataType& x, const paddle::DataType& w) { return {x}; }

PD_BUILD_OP(onednn_conv2d)
    .Inputs({"X", "W"}).Outputs({"Y"}).Attrs({"stride: int", "padding: int", "need_x: int", "need_w: int"})
    .SetKernelFn(PD_KERNEL(ConvForward)).SetInferShapeFn(PD_INFER_SHAPE(ConvShape))
    .SetInferDtypeFn(PD_INFER_DTYPE(SameType));
PD_BUILD_GRAD_OP(onednn_conv2d)
    .Inputs({"X", "W", paddle::Grad("Y")}).Outputs({paddle::Grad("X"), paddle::Grad("W")})
    .Attrs({"stride: int", "padding: int", "need_x: int", "need_w: int"}).SetKernelFn(PD_KERNEL(ConvBackward));

PD_BUILD_OP(onednn_conv2d_transpose)
    .Inputs({"X", "W"}).Outputs({"Y"}).Attrs({"stride: int", "padding: int", "need_x: int", "need_w: int"})
    .SetKernelFn(PD_KERNEL(DeconvForward)).SetInferShapeFn(PD_INFER_SHAPE(DeconvShape))
    .SetInferDtypeFn(PD_INFER_DTYPE(SameType));
PD_BUILD_GRAD_OP(onednn_conv2d_transpose)
    .Inputs({"X", "W", paddle::Grad("Y")}).Outputs({paddle::Grad("X"), paddle::Grad("W")})
    .Attrs({"stride: int", "padding: int", "need_x: int", "need_w: int"}).SetKernelFn(PD_KERNEL(DeconvBackward));
