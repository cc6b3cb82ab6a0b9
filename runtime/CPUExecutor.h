//===- CPUExecutor.h - run a package's host plan on the CPU -----*- C++ -*-===//
//
// Loads the package's CPU kernels (a shared object, dlopen'ed from an
// in-memory file), binds the packed weights in place (the package is
// mmapped), allocates the KV caches and the plan's buffers, and runs the
// @prefill and @decode plans step by step. Every kernel is called through
// `void _mixq_<kernel>(void **args)` with memref descriptors built here (see
// codegen/cpu/CPUBackend.h); nothing about schemes or ops is known here.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_RUNTIME_CPUEXECUTOR_H
#define MIXQ_RUNTIME_CPUEXECUTOR_H

#include "runtime/Package.h"
#include "runtime/Plan.h"
#include "support/Expected.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace mixq::runtime {

class CPUExecutor {
public:
  /// `package` must outlive the executor. Fails, naming the kernel, blob or
  /// plan entry, on a package without CPU code or with an inconsistent plan.
  static Expected<std::unique_ptr<CPUExecutor>> create(const Package &package);
  ~CPUExecutor();

  /// Runs the prompt `tokens` from the current position; returns the logits
  /// of the last token (vocabSize() floats, valid until the next call).
  Expected<const float *> prefill(const std::vector<int32_t> &tokens);
  /// Runs one token at the current position.
  Expected<const float *> decode(int32_t token);
  /// Forgets the context (the next prefill starts at position 0).
  void reset() { position_ = 0; }

  int64_t position() const { return position_; }
  int64_t contextLength() const { return contextLength_; }
  int64_t vocabSize() const { return vocabSize_; }

  /// A multi-width package's decode widths, the default first (empty for
  /// one decode plan); see Executor.
  const std::vector<DecodeWidthInfo> &decodeWidths() const { return widths_; }
  /// Runs the following decode() calls at `width`; the error names the
  /// package's widths.
  Status setDecodeWidth(int width);
  /// 0 for a package with one decode plan.
  int decodeWidth() const {
    return widths_.empty() ? 0 : widths_[widthIndex_].width;
  }

  struct Plan;

private:
  CPUExecutor() = default;
  Expected<const float *> run(Plan &plan, const std::vector<int32_t> &tokens);

  std::unique_ptr<Plan> prefill_;
  /// One decode plan per width (one in all for a single-width package).
  std::vector<std::unique_ptr<Plan>> decodes_;
  std::vector<DecodeWidthInfo> widths_;
  size_t widthIndex_ = 0;
  std::vector<std::unique_ptr<uint8_t[]>> caches_;
  void *library_ = nullptr;
  int libraryFd_ = -1;
  int64_t position_ = 0;
  int64_t contextLength_ = 0;
  int64_t vocabSize_ = 0;
};

} // namespace mixq::runtime

#endif // MIXQ_RUNTIME_CPUEXECUTOR_H
