// The DCGAN's strided convolutions on oneDNN, with gradients, as paddle custom operators.
//
// Paddle 3's dygraph runs Conv2D / Conv2DTranspose on CPU as im2col plus one GEMM per image;
// oneDNN's direct convolution is about 1.6-1.8x faster for the 4x4 stride-2 layers of the DCGAN
// (docs/performance.md). paddle_dcgan/kernels/build.py builds this file with paddle.utils.cpp_extension
// against the oneDNN library paddle itself ships (paddle/libs/libdnnl.so.3) and the oneDNN headers
// of the onednn-devel package of the same version; kernels/layers.py (OneDNNConv2D, OneDNNConvTranspose2D)
// call the operators below.
//
// onednn_conv2d(X [N, C, H, W], W [O, C, K, K], stride, padding, need_x, need_w, bf16, x_nhwc, y_nhwc) -> Y,
// as F.conv2d; onednn_conv2d_transpose(X [N, C, H, W], W [C, O, K, K], ...) -> Y, as F.conv2d_transpose.
// need_x / need_w (0 or 1): whether backward computes X's / W's gradient. x_nhwc / y_nhwc (0 or 1): X / Y
// are stored channels-last, [N, H, W, C] (the layout of a chain of these layers, kernels/__init__.py);
// the weights are always paddle's. Both take float32 CPU tensors without bias, groups or dilation; their
// gradient operators return the gradients of X and W (in X's and W's layouts). Each call reorders its
// tensors to and from the layouts the chosen primitive wants, where they differ from the tensors' own.
//
// Everything is a convolution problem (src -> dst through weights [O, C, K, K]) run in one of three
// directions: forward, backward_data, backward_weights. A transposed convolution is the convolution
// from its output back to its input, with the directions swapped: its forward is that convolution's
// backward_data, its backward_data that convolution's forward, its weight gradient that convolution's
// backward_weights; paddle's [C, O, K, K] weight is already that convolution's [O, C, K, K] layout. So
// G's 128 -> 64 layer and D's 64 -> 128 layer are one problem, and so are G's last and D's first.
//
// Which implementation: oneDNN lists several per problem and direction (JIT direct kernels in
// blocked or NHWC layouts, GEMM-based ones) and picks the first that applies, which is not always the
// fastest: a weight gradient with a single image channel is ~7x faster on its GEMM-based kernel on an
// AVX2 CPU. With a tuning file named (paddle_dcgan_set_tuning_file, called by build.py with one file
// per oneDNN version and CPU in its cache), the first process that meets a problem times every implementation (reorders
// included) and appends the fastest to that file under a lock; every later process reads it, so runs
// and resumes repeat bit for bit. No file named (empty): oneDNN's own first choice, as is a file that
// cannot be opened. The key of a line holds the shapes, the direction, the thread count and the ISA.
//
// bfloat16 (the ops' bf16 attribute, train.conv_precision): the direction's two inputs are reordered
// into bfloat16 and the primitive sums in float32 and writes float32, so paddle's tensors, the weights and
// their gradients stay float32 ("bfloat16 products, float32 sums", as AVX512_BF16's and AMX's instructions).
#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

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

// A convolution src [N, C, H, W] -> dst [N, O, Ho, Wo] through weights [O, C, K, K], stride s, padding p
// (dims always in that logical order). bf16: the convolution reads its two inputs rounded to bfloat16 (it
// accumulates and writes float32). src_nhwc / dst_nhwc: the caller's src- and dst-shaped tensors are stored
// channels-last.
struct Problem {
  memory::dims src, weights, dst;
  int64_t s, p;
  bool bf16, src_nhwc = false, dst_nhwc = false;

  static Problem conv(const memory::dims& x, const memory::dims& w, int64_t s, int64_t p, bool bf16,
                      bool x_nhwc = false, bool y_nhwc = false) {
    return {x, w, {x[0], w[0], (x[2] + 2 * p - w[2]) / s + 1, (x[3] + 2 * p - w[3]) / s + 1}, s, p, bf16,
            x_nhwc, y_nhwc};
  }
  // the transposed convolution of x [N, C, H, W] by w [C, O, K, K]: the convolution from its output to x
  static Problem deconv(const memory::dims& x, const memory::dims& w, int64_t s, int64_t p, bool bf16,
                        bool x_nhwc = false, bool y_nhwc = false) {
    return {{x[0], w[1], (x[2] - 1) * s - 2 * p + w[2], (x[3] - 1) * s - 2 * p + w[3]}, w, x, s, p, bf16,
            y_nhwc, x_nhwc};
  }
  tag src_tag() const { return src_nhwc ? tag::nhwc : tag::nchw; }
  tag dst_tag() const { return dst_nhwc ? tag::nhwc : tag::nchw; }
  // the tuning file's key: shapes, stride and padding, then bf16 and the caller's layouts where not the plain ones
  std::string key() const {
    std::string k = "conv";
    for (const auto* d : {&src, &weights, &dst}) {
      k += d == &src ? " " : "|";
      for (size_t i = 0; i < d->size(); ++i) k += (i ? "," : "") + std::to_string((*d)[i]);
    }
    return k + "|s" + std::to_string(s) + "p" + std::to_string(p) + (bf16 ? "|bf16" : "");
  }
  std::string layouts() const {
    if (!src_nhwc && !dst_nhwc) return "";
    return std::string("|src_") + (src_nhwc ? "nhwc" : "nchw") + "_dst_" + (dst_nhwc ? "nhwc" : "nchw");
  }
};

// Logical NCHW dims of a tensor stored as [N, C, H, W] or, channels-last, [N, H, W, C].
memory::dims logical(const memory::dims& d, bool nhwc) { return nhwc ? memory::dims{d[0], d[3], d[1], d[2]} : d; }
// The stored shape of logical dims d [N, C, H, W].
std::vector<int64_t> stored(const memory::dims& d, bool nhwc) {
  return nhwc ? std::vector<int64_t>{d[0], d[2], d[3], d[1]} : std::vector<int64_t>(d.begin(), d.end());
}

enum Direction { kForward, kBackwardData, kBackwardWeights };
const char* const kDirectionName[] = {"forward", "backward_data", "backward_weights"};

// One implementation of a problem in one direction, made: the primitive and the layouts it wants its
// src-, weights- and dst-shaped tensors in (the diff_ tensors in the backward directions).
struct Choice {
  dnnl::primitive primitive;
  memory::desc src, weights, dst;
};

// One implementation oneDNN offers, not yet made: the activation layout asked for and its place in
// oneDNN's list for that layout. name: "<layout>:<oneDNN's implementation name>", with a count appended where a
// name repeats.
struct Candidate {
  tag act;
  bool bf16;
  int index;
  std::string name;
};

// Walk oneDNN's implementations of `pb` in direction `dir` with the activations in layout `act`,
// calling visit(primitive_desc, src, weights, dst layouts, implementation name, index) on each until it
// returns true. A layout oneDNN cannot do is no implementation.
//
// oneDNN's primitive cache is off meanwhile: with a primitive of the same problem in it, a new
// primitive_desc does not step through the list (next_impl reports success and stays on the cached
// implementation) and a primitive made from a stepped one can come back as the cached implementation.
// Turning it off empties it; it is on again, at its old capacity, on return.
template <class Visit>
void walk(const Problem& pb, Direction dir, tag act, bool bf16, Visit visit) {
  struct CacheOff {
    int capacity = dnnl::get_primitive_cache_capacity();
    CacheOff() { dnnl::set_primitive_cache_capacity(0); }
    ~CacheOff() { dnnl::set_primitive_cache_capacity(capacity); }
  } cache_off;
  memory::dims st{pb.s, pb.s}, pad{pb.p, pb.p};
  const auto alg = dnnl::algorithm::convolution_direct;
  // the direction's two inputs in bfloat16 where asked, its output in float32; a backward direction's
  // forward hint all in the inputs' type
  const dt low = bf16 ? dt::bf16 : dt::f32;
  auto type = [&](Direction output) { return dir == output ? dt::f32 : low; };
  memory::desc src(pb.src, type(kBackwardData), act), dst(pb.dst, type(kForward), act),
      w(pb.weights, type(kBackwardWeights), tag::any);
  memory::desc hint_src(pb.src, low, act), hint_dst(pb.dst, low, act), hint_w(pb.weights, low, tag::any);
  auto each = [&](auto& pd, auto layouts) {
    int index = 0;
    do {
      auto l = layouts(pd);
      if (visit(pd, l[0], l[1], l[2], std::string(pd.impl_info_str()), index++)) return;
    } while (pd.next_impl());
  };
  try {
    dnnl::convolution_forward::primitive_desc fwd(cpu(), dnnl::prop_kind::forward_training, alg,
                                                  dir == kForward ? src : hint_src, dir == kForward ? w : hint_w,
                                                  dir == kForward ? dst : hint_dst, st, pad, pad);
    if (dir == kForward) {
      each(fwd, [](auto& d) { return std::vector<memory::desc>{d.src_desc(), d.weights_desc(), d.dst_desc()}; });
    } else if (dir == kBackwardData) {
      dnnl::convolution_backward_data::primitive_desc bwd(cpu(), alg, src, w, dst, st, pad, pad, fwd);
      each(bwd, [](auto& d) { return std::vector<memory::desc>{d.diff_src_desc(), d.weights_desc(), d.diff_dst_desc()}; });
    } else {
      dnnl::convolution_backward_weights::primitive_desc bwd(cpu(), alg, src, w, dst, st, pad, pad, fwd);
      each(bwd, [](auto& d) { return std::vector<memory::desc>{d.src_desc(), d.diff_weights_desc(), d.diff_dst_desc()}; });
    }
  } catch (const dnnl::error&) {
  }
}

// Every implementation oneDNN offers for `pb` in direction `dir`, activations in "any" layout (oneDNN's
// choice, a blocked one) or in NHWC, in oneDNN's order; its reference kernels (10-100x slower) only
// where there is nothing else. A bfloat16 problem lists its bfloat16 implementations first, then the
// float32 ones (names prefixed "bf16/" and "f32/"): where bfloat16 is slower for a shape (a single image
// channel is), the tuning keeps that layer in float32.
std::vector<Candidate> candidates(const Problem& pb, Direction dir) {
  std::vector<Candidate> fast, reference;
  std::unordered_map<std::string, int> seen;
  for (bool bf16 : pb.bf16 ? std::vector<bool>{true, false} : std::vector<bool>{false}) {
    for (tag act : {tag::any, tag::nhwc}) {
      walk(pb, dir, act, bf16, [&](auto&, auto&, auto&, auto&, const std::string& impl, int index) {
        std::string name = std::string(pb.bf16 ? (bf16 ? "bf16/" : "f32/") : "") +
                           (act == tag::any ? "any:" : "nhwc:") + impl;
        if (int n = ++seen[name]; n > 1) name += "#" + std::to_string(n);
        (impl.rfind("ref", 0) == 0 ? reference : fast).push_back({act, bf16, index, name});
        return false;
      });
    }
  }
  return fast.empty() ? reference : fast;
}

// The primitive of candidate `c`; checked to be the implementation `c` names.
Choice make(const Problem& pb, Direction dir, const Candidate& c) {
  std::vector<Choice> made;
  walk(pb, dir, c.act, c.bf16, [&](auto& pd, auto& src, auto& weights, auto& dst, const std::string& impl, int index) {
    if (index != c.index) return false;
    PD_CHECK(c.name.rfind(impl) != std::string::npos, "oneDNN listed ", impl, " where ", c.name, " was");
    made.push_back({dnnl::primitive(pd), src, weights, dst});
    return true;
  });
  PD_CHECK(!made.empty(), "oneDNN no longer offers ", c.name);
  return made[0];
}

// Run `c` on plain buffers: src and dst NCHW or NHWC (pb's layouts), weights OIHW; the one `dir` writes
// (dst, src, weights) is the output. Inputs are reordered into the layouts `c` wants and the output back.
void execute(const Choice& c, Direction dir, const Problem& pb, float* src, float* weights, float* dst) {
  struct Arg { int id; const memory::desc& want; memory::desc user; float* data; bool output; };
  const Arg args[] = {
      {dir == kBackwardData ? DNNL_ARG_DIFF_SRC : DNNL_ARG_SRC, c.src, memory::desc(pb.src, dt::f32, pb.src_tag()), src,
       dir == kBackwardData},
      {dir == kBackwardWeights ? DNNL_ARG_DIFF_WEIGHTS : DNNL_ARG_WEIGHTS, c.weights,
       memory::desc(pb.weights, dt::f32, tag::oihw), weights, dir == kBackwardWeights},
      {dir == kForward ? DNNL_ARG_DST : DNNL_ARG_DIFF_DST, c.dst, memory::desc(pb.dst, dt::f32, pb.dst_tag()), dst,
       dir == kForward}};
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
  c.primitive.execute(queue(), bind);
  for (auto& p : copy_back) dnnl::reorder(p.first, p.second).execute(queue(), p.first, p.second);
  queue().wait();
}

// Median milliseconds of candidate `c` on scratch data, reorders included; stops early once clearly
// slower than `best`. Infinite where it cannot be made or run.
double time_ms(const Candidate& c, Direction dir, const Problem& pb, double best) {
  auto count = [](const memory::dims& d) { size_t n = 1; for (auto v : d) n *= v; return n; };
  std::vector<float> src(count(pb.src)), weights(count(pb.weights)), dst(count(pb.dst));
  for (auto* v : {&src, &weights, &dst})
    for (size_t i = 0; i < v->size(); ++i) (*v)[i] = 0.01f * static_cast<float>(i % 97) - 0.48f;
  std::vector<double> ms;
  try {
    Choice made = make(pb, dir, c);
    execute(made, dir, pb, src.data(), weights.data(), dst.data());  // warm-up: first touch, caches
    for (int rep = 0; rep < 5; ++rep) {
      auto start = std::chrono::steady_clock::now();
      execute(made, dir, pb, src.data(), weights.data(), dst.data());
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      if (rep == 0 && ms[0] > 2 * best) break;
    }
  } catch (const std::exception&) {
    return INFINITY;
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// The tuning file, opened and locked for as long as this lives (processes started together, as by a
// distributed launch, take turns); read-only where it cannot be written.
struct TuningFile {
  int fd = -1;
  bool writable = true;
  explicit TuningFile(const std::string& path) {
    fd = open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) { fd = open(path.c_str(), O_RDONLY | O_CLOEXEC); writable = false; }
    if (fd >= 0) while (flock(fd, writable ? LOCK_EX : LOCK_SH) != 0 && errno == EINTR) {}
  }
  ~TuningFile() { if (fd >= 0) close(fd); }  // closing releases the lock
  std::string text() const {
    std::string all;
    char buf[65536];
    for (ssize_t n; (n = pread(fd, buf, sizeof buf, static_cast<off_t>(all.size()))) > 0;) all.append(buf, n);
    return all;
  }
};

// The candidate the tuning file names for `key` (its last complete line for the key whose name is
// offered here); if none, all candidates are timed and the fastest is appended to the file. -1 where
// the file cannot be used: oneDNN's first choice then.
int tuned(const std::string& path, const std::string& key, const Problem& pb, Direction dir,
          const std::vector<Candidate>& cands) {
  TuningFile file(path);
  if (file.fd < 0) return -1;
  std::string text = file.text();
  int pick = -1;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> fields;
    std::istringstream split(line);
    for (std::string f; std::getline(split, f, '\t');) fields.push_back(f);
    if (fields.size() < 3 || fields[0] != key) continue;  // a line cut short by a failed write has < 3
    for (size_t i = 0; i < cands.size(); ++i)
      if (cands[i].name == fields[1]) pick = static_cast<int>(i);
  }
  if (pick >= 0 || !file.writable) return pick;
  std::string timings;
  double best = INFINITY;
  for (size_t i = 0; i < cands.size(); ++i) {
    double ms = time_ms(cands[i], dir, pb, best);
    timings += (i ? " " : "") + cands[i].name + "=" + std::to_string(ms);
    if (ms < best) { best = ms; pick = static_cast<int>(i); }
  }
  if (pick < 0) return -1;  // none could run
  std::string line = (text.empty() || text.back() == '\n' ? "" : "\n") + key + "\t" + cands[pick].name + "\t" +
                     timings + "\n";
  if (write(file.fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return -1;
  return pick;
}

std::mutex tuning_lock;
std::string tuning_path;  // "" = oneDNN's first choice

std::string tuning_file() {
  std::lock_guard<std::mutex> g(tuning_lock);
  return tuning_path;
}

// The implementation of `pb` in direction `dir` for this process: chosen and made once per problem,
// direction and tuning file, then cached.
const Choice& chosen(const Problem& pb, Direction dir) {
  static std::unordered_map<std::string, Choice> cache;
  static std::mutex lock;
  std::lock_guard<std::mutex> g(lock);
  std::string file = tuning_file();
  std::string key = pb.key() + "|" + kDirectionName[dir] + "|threads" + std::to_string(omp_get_max_threads()) +
                    "|isa" + std::to_string(static_cast<int>(dnnl::get_effective_cpu_isa())) + pb.layouts();
  auto it = cache.find(key + "|" + file);
  if (it != cache.end()) return it->second;
  auto cands = candidates(pb, dir);
  PD_CHECK(!cands.empty(), "oneDNN has no implementation for ", key);
  int pick = file.empty() ? 0 : tuned(file, key, pb, dir, cands);
  return cache.emplace(key + "|" + file, make(pb, dir, cands[std::max(pick, 0)])).first->second;
}

float* data(const paddle::Tensor& t) { return const_cast<float*>(t.data<float>()); }

void check(const paddle::Tensor& x, const paddle::Tensor& w) {
  PD_CHECK(x.is_cpu() && w.is_cpu(), "onednn conv ops run on CPU tensors only");
  PD_CHECK(x.dtype() == paddle::DataType::FLOAT32 && w.dtype() == paddle::DataType::FLOAT32, "float32 only");
  PD_CHECK(x.shape().size() == 4 && w.shape().size() == 4, "4-D input and weight expected");
}

paddle::Tensor empty(const memory::dims& d, const paddle::Tensor& like) {
  return paddle::empty(std::vector<int64_t>(d.begin(), d.end()), like.dtype(), like.place());
}

}  // namespace

// A convolution's output is its problem's dst (forward); a transposed convolution's is its problem's src
// (backward_data). Backward: a gradient nobody asked for (need_x / need_w = 0: the input or the weight had
// stop_gradient set, as D's weights in the G step and the images D reads) is left uncomputed: paddle
// discards it.
std::vector<paddle::Tensor> ConvForward(const paddle::Tensor& x_in, const paddle::Tensor& w_in, int stride, int padding,
                                        int, int, int bf16, int x_nhwc, int y_nhwc) {
  check(x_in, w_in);
  auto x = dense(x_in), w = dense(w_in);
  auto pb = Problem::conv(logical(dims_of(x), x_nhwc), dims_of(w), stride, padding, bf16, x_nhwc, y_nhwc);
  auto y = empty(stored(pb.dst, y_nhwc), x);
  execute(chosen(pb, kForward), kForward, pb, data(x), data(w), y.data<float>());
  return {y};
}

std::vector<paddle::Tensor> ConvBackward(const paddle::Tensor& x_in, const paddle::Tensor& w_in, const paddle::Tensor& dy_in,
                                         int stride, int padding, int need_x, int need_w, int bf16, int x_nhwc,
                                         int y_nhwc) {
  auto x = dense(x_in), w = dense(w_in), dy = dense(dy_in);
  auto pb = Problem::conv(logical(dims_of(x), x_nhwc), dims_of(w), stride, padding, bf16, x_nhwc, y_nhwc);
  auto dx = empty(stored(pb.src, x_nhwc), x), dw = empty(stored(pb.weights, false), w);
  if (need_x) execute(chosen(pb, kBackwardData), kBackwardData, pb, dx.data<float>(), data(w), data(dy));
  if (need_w) execute(chosen(pb, kBackwardWeights), kBackwardWeights, pb, data(x), dw.data<float>(), data(dy));
  return {dx, dw};
}

std::vector<paddle::Tensor> DeconvForward(const paddle::Tensor& x_in, const paddle::Tensor& w_in, int stride,
                                          int padding, int, int, int bf16, int x_nhwc, int y_nhwc) {
  check(x_in, w_in);
  auto x = dense(x_in), w = dense(w_in);
  auto pb = Problem::deconv(logical(dims_of(x), x_nhwc), dims_of(w), stride, padding, bf16, x_nhwc, y_nhwc);
  auto y = empty(stored(pb.src, y_nhwc), x);
  execute(chosen(pb, kBackwardData), kBackwardData, pb, y.data<float>(), data(w), data(x));
  return {y};
}

std::vector<paddle::Tensor> DeconvBackward(const paddle::Tensor& x_in, const paddle::Tensor& w_in,
                                           const paddle::Tensor& dy_in, int stride, int padding, int need_x,
                                           int need_w, int bf16, int x_nhwc, int y_nhwc) {
  auto x = dense(x_in), w = dense(w_in), dy = dense(dy_in);
  auto pb = Problem::deconv(logical(dims_of(x), x_nhwc), dims_of(w), stride, padding, bf16, x_nhwc, y_nhwc);
  auto dx = empty(stored(pb.dst, x_nhwc), x), dw = empty(stored(pb.weights, false), w);
  if (need_x) execute(chosen(pb, kForward), kForward, pb, data(dy), data(w), dx.data<float>());
  if (need_w) execute(chosen(pb, kBackwardWeights), kBackwardWeights, pb, data(dy), dw.data<float>(), data(x));
  return {dx, dw};
}

std::vector<std::vector<int64_t>> ConvShape(const std::vector<int64_t>& x, const std::vector<int64_t>& w, int s, int p,
                                            int, int, int, int x_nhwc, int y_nhwc) {
  return {stored(Problem::conv(logical(x, x_nhwc), w, s, p, false).dst, y_nhwc)};
}
std::vector<std::vector<int64_t>> DeconvShape(const std::vector<int64_t>& x, const std::vector<int64_t>& w, int s, int p,
                                              int, int, int, int x_nhwc, int y_nhwc) {
  return {stored(Problem::deconv(logical(x, x_nhwc), w, s, p, false).src, y_nhwc)};
}
std::vector<paddle::DataType> SameType(const paddle::DataType& x, const paddle::DataType& w) { return {x}; }

PD_BUILD_OP(onednn_conv2d)
    .Inputs({"X", "W"}).Outputs({"Y"}).Attrs({"stride: int", "padding: int", "need_x: int", "need_w: int", "bf16: int",
             "x_nhwc: int", "y_nhwc: int"})
    .SetKernelFn(PD_KERNEL(ConvForward)).SetInferShapeFn(PD_INFER_SHAPE(ConvShape))
    .SetInferDtypeFn(PD_INFER_DTYPE(SameType));
PD_BUILD_GRAD_OP(onednn_conv2d)
    .Inputs({"X", "W", paddle::Grad("Y")}).Outputs({paddle::Grad("X"), paddle::Grad("W")})
    .Attrs({"stride: int", "padding: int", "need_x: int", "need_w: int", "bf16: int",
             "x_nhwc: int", "y_nhwc: int"}).SetKernelFn(PD_KERNEL(ConvBackward));

PD_BUILD_OP(onednn_conv2d_transpose)
    .Inputs({"X", "W"}).Outputs({"Y"}).Attrs({"stride: int", "padding: int", "need_x: int", "need_w: int", "bf16: int",
             "x_nhwc: int", "y_nhwc: int"})
    .SetKernelFn(PD_KERNEL(DeconvForward)).SetInferShapeFn(PD_INFER_SHAPE(DeconvShape))
    .SetInferDtypeFn(PD_INFER_DTYPE(SameType));
PD_BUILD_GRAD_OP(onednn_conv2d_transpose)
    .Inputs({"X", "W", paddle::Grad("Y")}).Outputs({paddle::Grad("X"), paddle::Grad("W")})
    .Attrs({"stride: int", "padding: int", "need_x: int", "need_w: int", "bf16: int",
             "x_nhwc: int", "y_nhwc: int"}).SetKernelFn(PD_KERNEL(DeconvBackward));

// The tuning file the layers met from now on read and extend ("" = oneDNN's first choice). Called by
// build.py through ctypes right after loading: the one channel from Python's settings to this file.
extern "C" void paddle_dcgan_set_tuning_file(const char* path) {
  std::lock_guard<std::mutex> g(tuning_lock);
  tuning_path = path ? path : "";
}
