// What both kernel files need of paddle's tensors (onednn_conv.cc, fused_norm.cc).
#pragma once

#include "paddle/extension.h"

namespace paddle_dcgan {

// The kernels read plain row-major buffers: views (a slice of a batch) are copied first.
inline paddle::Tensor dense(const paddle::Tensor& t) { return t.is_contiguous() ? t : t.contiguous(); }

}  // namespace paddle_dcgan
