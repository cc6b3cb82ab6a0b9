//===- Executor.h - one interface over the CPU and CUDA runs ----*- C++ -*-===//
//
// CPUExecutor and CUDAExecutor run the same plan and have the same methods,
// but no common base class: the runtime keeps them independent, and the
// CPU build has no CUDA code at all. Tools that can drive either
// (mixq-run, mixq-bench) hold an `Executor` instead, made by wrapping the
// concrete one in `ExecutorAdapter`.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_RUNTIME_EXECUTOR_H
#define MIXQ_RUNTIME_EXECUTOR_H

#include "runtime/Plan.h"
#include "support/Expected.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace mixq::runtime {

/// A loaded model that generates: logits of the last token after a prefill
/// or a decode step, with the KV cache position kept inside.
class Executor {
public:
  virtual ~Executor() = default;
  /// Runs `tokens` from the current position; the last token's logits.
  virtual Expected<const float *> prefill(const std::vector<int32_t> &t) = 0;
  /// Runs one token at the current position; its logits.
  virtual Expected<const float *> decode(int32_t token) = 0;
  /// Empties the KV cache (position 0).
  virtual void reset() = 0;
  virtual int64_t position() const = 0;
  virtual int64_t contextLength() const = 0;
  virtual int64_t vocabSize() const = 0;
  /// A multi-width package's decode widths (mixq-compile --widths), the
  /// default first; empty (the default) for one decode plan.
  virtual const std::vector<DecodeWidthInfo> &decodeWidths() const {
    static const std::vector<DecodeWidthInfo> none;
    return none;
  }
  /// Makes the following decode() calls run the plan of `width`. Every
  /// width reads the same weights and the same KV cache, so a switch costs
  /// nothing; an error names the package's widths.
  virtual Status setDecodeWidth(int width) {
    return findDecodeWidth(decodeWidths(), width).status();
  }
  /// The width decode() runs at; 0 for a package with one decode plan.
  virtual int decodeWidth() const { return 0; }
};

/// `Executor` over a concrete executor it owns.
template <typename Impl> class ExecutorAdapter : public Executor {
public:
  explicit ExecutorAdapter(std::unique_ptr<Impl> impl)
      : impl_(std::move(impl)) {}
  Expected<const float *> prefill(const std::vector<int32_t> &t) override {
    return impl_->prefill(t);
  }
  Expected<const float *> decode(int32_t token) override {
    return impl_->decode(token);
  }
  void reset() override { impl_->reset(); }
  int64_t position() const override { return impl_->position(); }
  int64_t contextLength() const override { return impl_->contextLength(); }
  int64_t vocabSize() const override { return impl_->vocabSize(); }
  const std::vector<DecodeWidthInfo> &decodeWidths() const override {
    return impl_->decodeWidths();
  }
  Status setDecodeWidth(int width) override {
    return impl_->setDecodeWidth(width);
  }
  int decodeWidth() const override { return impl_->decodeWidth(); }
  /// The concrete executor, for what only it offers (profiles, device).
  Impl &impl() { return *impl_; }

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace mixq::runtime

#endif // MIXQ_RUNTIME_EXECUTOR_H
