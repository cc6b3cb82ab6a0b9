//===- Plan.h - the host plan of a package, parsed and validated -*- C++
//-*-===//
//
// What every executor needs to know about a package's `plan` (the format is
// in docs/runtime.md): the KV caches, and per entry point (prefill, decode)
// its buffers, steps and their bindings, and the logits buffer. Parsing
// checks everything that does not depend on the target (blob sizes against
// dtype x shape, buffer and cache indices, dtypes); whether a step's kernel
// exists is asked of the executor through a callback, so that the error
// names the target.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_RUNTIME_PLAN_H
#define MIXQ_RUNTIME_PLAN_H

#include "runtime/Package.h"
#include "support/Expected.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mixq::runtime {

/// Element size of a dtype a plan may bind; 0 for an unknown dtype.
int64_t dtypeBytes(const std::string &dtype);

/// A shape whose -1 entries stand for the number of tokens S of the call.
struct SymbolicShape {
  std::vector<int64_t> dims;
  std::vector<int64_t> resolve(int64_t tokens) const;
  bool isStatic() const;
};

Expected<SymbolicShape> parseShape(const nlohmann::json &j,
                                   const std::string &where);

int64_t numElements(const std::vector<int64_t> &dims);

/// One argument of a step.
struct PlanBinding {
  enum Kind { Weight, Buffer, Tokens, StartPos, Cache } kind = Buffer;
  int64_t index = 0;      ///< buffer or cache index
  std::string weightName; ///< for Weight: the blob name
  Blob weight;            ///< for Weight: its bytes in the package
  /// For Weight: false when the kernel binds the component but never loads
  /// it (a narrow bitplane width's lower planes); byte counts skip it.
  bool read = true;
  SymbolicShape shape;    ///< empty for StartPos
};

struct PlanStep {
  std::string kernel;
  std::vector<PlanBinding> args;
};

/// One entry point's plan.
struct ParsedPlan {
  std::string name;
  std::vector<SymbolicShape> bufferShapes;
  std::vector<int64_t> bufferElementBytes;
  std::vector<PlanStep> steps;
  int64_t logitsBuffer = -1;
  int64_t staticTokens = -1; ///< decode: 1; prefill: -1 (any)
};

struct CacheSpec {
  SymbolicShape shape; ///< static, 2-D
  int64_t elementBytes = 0;
  int64_t bytes() const { return numElements(shape.dims) * elementBytes; }
};

/// What the manifest's "widths" says of one decode width of a multi-width
/// package (mixq-compile --widths).
struct DecodeWidthInfo {
  int width = 0;
  /// The bits per weight its quantized matrices read.
  double bitsPerWeight = 0;
  /// The weight bytes one decode step reads.
  int64_t bytesPerStep = 0;
};

/// One decode plan of a multi-width package.
struct DecodeWidthPlan {
  DecodeWidthInfo info;
  ParsedPlan plan;
};

/// Both entry points and what they share.
struct PackagePlans {
  std::vector<CacheSpec> caches;
  int64_t contextLength = 0;
  int64_t vocabSize = 0;
  ParsedPlan prefill, decode;
  /// A multi-width package's decode plans, the default (`decode`) first;
  /// empty for a package with one decode plan.
  std::vector<DecodeWidthPlan> decodeWidths;
  /// The width the prefill plan decodes nested weights at (0: unknown).
  int prefillWidth = 0;
};

/// Every decode plan: a multi-width package's, default first, or `decode`.
std::vector<const ParsedPlan *> decodePlans(const PackagePlans &plans);

/// The width of `widths` the next switch to `width` selects, with an error
/// naming the package's widths when it has none such, or no widths at all.
Expected<size_t> findDecodeWidth(const std::vector<DecodeWidthInfo> &widths,
                                 int width);

/// "4, 3 and 2" for error messages and reports.
std::string formatWidthList(const std::vector<DecodeWidthInfo> &widths);

/// Says whether the target has `kernel`; `where` locates the step for the
/// message.
using KernelCheck =
    std::function<Status(const std::string &kernel, const std::string &where)>;

/// Parses and validates the model config's vocabulary size, the caches and
/// both plans of `package`.
Expected<PackagePlans> parsePackagePlans(const Package &package,
                                         const KernelCheck &checkKernel);

/// The checks every call makes before anything runs: a token count the plan
/// takes, no context overflow, every id inside the vocabulary.
Status checkCallTokens(const ParsedPlan &plan,
                       const std::vector<int32_t> &tokens, int64_t position,
                       int64_t contextLength, int64_t vocabSize);

} // namespace mixq::runtime

#endif // MIXQ_RUNTIME_PLAN_H
