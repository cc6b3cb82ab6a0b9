//===- CUDAExecutor.h - run a package's host plan on an NVIDIA GPU -*- C++ -*-//
//
// The CUDA counterpart of CPUExecutor, with the same interface. It loads the
// package's PTX for the device's chip (the driver JITs it, and caches the
// result per chip in its compute cache), uploads the weights once through
// pinned staging buffers, allocates the KV caches and the plan's buffers
// once at the largest call, and runs @prefill kernel by kernel on a stream
// and @decode as one CUDA graph, updated in place for each position (one
// graph per decode width of a multi-width package).
//
// Every driver call goes through a CUDADriverAPI table, so tests run the
// whole executor against a fake driver without a GPU.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_RUNTIME_CUDA_CUDAEXECUTOR_H
#define MIXQ_RUNTIME_CUDA_CUDAEXECUTOR_H

#include "runtime/Package.h"
#include "runtime/Plan.h"
#include "runtime/cuda/CUDADriver.h"
#include "support/Expected.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mixq::runtime {

/// How one weight blob is generated on the GPU: random 32-bit words AND-ed
/// with `mask` (cuda::finiteMaskFor keeps floats finite).
struct DeviceRandomFill {
  uint64_t seed = 0;
  uint32_t mask = 0xFFFFFFFFu;
};

struct CUDAExecutorOptions {
  /// The CUDA device ordinal.
  int device = 0;
  /// Synchronize after every kernel and run decode without the graph, so
  /// that an asynchronous fault is reported with the kernel that caused it
  /// (mixq-run: MIXQ_CUDA_SYNC=1). Slow.
  bool synchronizeEveryStep = false;
  /// Join the decode graph's kernel nodes with programmatic edges where the
  /// package's PTX for the loaded chip supports it (its manifest's
  /// targets.cuda.programmatic_launch) and the driver has
  /// cuGraphAddDependencies_v2 (CUDA 12.3): each kernel's blocks then start
  /// while its predecessor finishes. false: ordinary edges (mixq-bench
  /// --no-programmatic-launch, for the comparison).
  bool programmaticLaunch = true;
  /// Bytes of each of the two pinned buffers the weights are staged through.
  size_t stagingBytes = size_t(16) << 20;
  /// When set, the device bytes of every weight blob are generated instead
  /// of copied from the package (which may then be weightless): blobs that
  /// `deviceFill` claims are filled on the GPU by a kernel; `fillWeight`
  /// fills the others' `bytes` (`size` bytes, the blob's size) on the host,
  /// one blob at a time in upload order, and they are copied. mixq-bench
  /// --dummy-weights uses both to time 7B shapes with random weights: the
  /// bulk (codes, fp16 matrices) on the GPU, index structure (row pointers,
  /// column indices, bit maps) on the host. An error stops create().
  std::function<Status(const std::string &blob, uint8_t *bytes, size_t size)>
      fillWeight;
  std::function<std::optional<DeviceRandomFill>(const std::string &blob)>
      deviceFill;
};

class CUDAExecutor {
public:
  /// Everything is copied to the device: `package` need not outlive the
  /// executor, `driver` must. Fails with a message naming the problem: no
  /// device, a chip below sm_80, no PTX for the chip, a JIT failure (with
  /// its log), a missing PTX entry, not enough device memory, an
  /// inconsistent plan.
  static Expected<std::unique_ptr<CUDAExecutor>>
  create(const Package &package, const cuda::CUDADriverAPI &driver,
         const CUDAExecutorOptions &options = {});
  ~CUDAExecutor();

  /// Runs the prompt `tokens` from the current position; returns the logits
  /// of the last token (vocabSize() floats in pinned host memory, valid
  /// until the next call).
  Expected<const float *> prefill(const std::vector<int32_t> &tokens);
  /// Runs one token at the current position (one graph launch).
  Expected<const float *> decode(int32_t token);
  /// Forgets the context (the next prefill starts at position 0).
  void reset() { position_ = 0; }

  /// prefill() and decode(), but kernel by kernel (decode without the
  /// graph) with a timing event recorded between consecutive launches;
  /// returns each plan step's milliseconds, in plan order (the position
  /// advances as usual). For mixq-bench's per-kernel table: the events and
  /// eager launches cost a little, so end-to-end speed is prefill()'s and
  /// decode()'s.
  Expected<std::vector<double>>
  profilePrefill(const std::vector<int32_t> &tokens);
  Expected<std::vector<double>> profileDecode(int32_t token);

  int64_t position() const { return position_; }
  int64_t contextLength() const { return contextLength_; }
  int64_t vocabSize() const { return vocabSize_; }

  /// A multi-width package's decode widths, the default first (see
  /// Executor). Each width has its own decode graph, instantiated at
  /// create(); setDecodeWidth() picks the graph the next decode() launches.
  const std::vector<DecodeWidthInfo> &decodeWidths() const;
  Status setDecodeWidth(int width);
  int decodeWidth() const;

  /// The device's name, the chip whose PTX was loaded, and the JIT's info
  /// log (register and spill counts when the driver reports them).
  const std::string &deviceName() const;
  const std::string &chip() const;
  const std::string &jitLog() const;
  /// Whether the decode graphs' kernel nodes are joined by programmatic
  /// edges (CUDAExecutorOptions::programmaticLaunch).
  bool programmaticLaunch() const;
  /// The bytes of device memory the executor holds.
  uint64_t deviceBytes() const;
  /// The context (current on this thread after create() and every call)
  /// and the stream the plans run on, for tools that time their own work
  /// beside the executor's (mixq-bench's copy bandwidth and cuBLAS).
  cuda::CUcontext context() const;
  cuda::CUstream stream() const;

  struct State;

private:
  explicit CUDAExecutor(std::unique_ptr<State> state);
  Expected<const float *> run(bool isDecode, const std::vector<int32_t> &tokens,
                              std::vector<double> *stepMilliseconds = nullptr);

  std::unique_ptr<State> state_;
  int64_t position_ = 0;
  int64_t contextLength_ = 0;
  int64_t vocabSize_ = 0;
};

} // namespace mixq::runtime

#endif // MIXQ_RUNTIME_CUDA_CUDAEXECUTOR_H
