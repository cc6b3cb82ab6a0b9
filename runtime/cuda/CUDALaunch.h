//===- CUDALaunch.h - the CUDA executor's pure bookkeeping ------*- C++ -*-===//
//
// Everything the CUDA executor decides without a device, kept apart so that
// it is unit-tested without one: the manifest's `targets.cuda` section, the
// PTX chip choice, grid sizes, kernel parameter packing (kernel ABI
// "mixq-cuda-1", docs/cuda.md), the device memory layout, the staging of
// weights into upload chunks, and which decode-graph nodes need new
// parameters at a new position.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_RUNTIME_CUDA_CUDALAUNCH_H
#define MIXQ_RUNTIME_CUDA_CUDALAUNCH_H

#include "runtime/Package.h"
#include "runtime/Plan.h"
#include "support/Expected.h"

#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace mixq::runtime::cuda {

/// The kernel ABI this runtime implements.
inline constexpr const char *kCUDAKernelABI = "mixq-cuda-1";
/// The oldest chip the kernels support (sm_80: cp.async, bf16 mma).
inline constexpr int kMinComputeCapability = 80;

/// One grid dimension: count * ceil(S / tokensPerBlock), or count when
/// tokensPerBlock is 0.
struct GridDim {
  int64_t count = 1;
  int64_t tokensPerBlock = 0;
};

/// One entry of targets.cuda.kernels.
struct KernelLaunchSpec {
  std::string name;  ///< the plan step's `kernel`
  std::string entry; ///< the PTX .entry
  std::array<int64_t, 3> block = {1, 1, 1};
  std::array<GridDim, 3> grid;
  int64_t sharedBytes = 0; ///< static; informational (no dynamic smem)
  /// Device scratch passed before S to every entry of the kernel; 0: none.
  int64_t workspaceBytes = 0;
};

/// targets.cuda.
struct CUDATarget {
  std::map<std::string, std::string> ptx; ///< chip ("sm_86") -> blob name
  /// The chips whose PTX kernels wait in griddepcontrol.wait before
  /// reading anything (targets.cuda.programmatic_launch), so that the
  /// decode graph may join them with programmatic edges.
  std::set<std::string> programmaticLaunch;
  /// By name: the kernel's entries in launch order (split decode attention
  /// has two), all with the same parameters.
  std::map<std::string, std::vector<KernelLaunchSpec>> kernels;
  /// The largest workspace any kernel needs (one buffer serves them all:
  /// kernels run one after another).
  int64_t workspaceBytes() const;
};

/// Parses and checks targets.cuda: the ABI, every PTX blob present, every
/// kernel's launch description. "the package has no CUDA kernels" when the
/// section is missing.
Expected<CUDATarget> parseCUDATarget(const Package &package);

/// The grid of `spec` for a call of `tokens` tokens; an error when a
/// dimension is 0 or beyond the device limits (2^31-1, 65535, 65535).
Expected<std::array<unsigned, 3>> gridFor(const KernelLaunchSpec &spec,
                                          int64_t tokens);

/// The PTX to load on a device of compute capability major.minor: the
/// newest plain chip at or below it (PTX JITs forward), or an arch-specific
/// one ("sm_90a") when it matches exactly. Errors name the device's chip and
/// the chips the package has.
Expected<std::string>
selectPTXChip(const std::map<std::string, std::string> &ptx, int major,
              int minor, const std::string &deviceName);

/// Device addresses of what a plan binds.
struct DeviceBindings {
  std::map<std::string, uint64_t> weights; ///< by blob name
  std::vector<uint64_t> caches;
  std::vector<uint64_t> buffers; ///< of the plan being bound
  uint64_t tokens = 0;
  uint64_t workspace = 0;
};

/// One step's kernel parameters: an 8-byte value per binding (a device
/// pointer, or the int64 start_pos), the workspace pointer when the kernel
/// has one, then the int64 token count S.
struct StepParams {
  std::vector<uint64_t> values;
  std::vector<size_t> startPosSlots; ///< indices into values
  /// Fills in the per-call values (start_pos slots and the trailing S).
  void set(int64_t startPos, int64_t tokens);
  /// The kernelParams array cuLaunchKernel takes: &values[i] (valid until
  /// values is resized).
  std::vector<void *> pointers();
};

/// The parameters of `step` with every address filled in; start_pos and S
/// are set by StepParams::set.
Expected<StepParams> bindStepParams(const PlanStep &step,
                                    const DeviceBindings &device,
                                    bool withWorkspace = false);

/// Where everything lives in the executor's one device allocation. Plan
/// buffers are sized for the most tokens a call can have (prefill: the
/// context length) and share memory when their lifetimes within a call do
/// not overlap; prefill and decode never run at once, so their buffers
/// share one region too.
struct DeviceLayout {
  static constexpr uint64_t kAlignment = 256;
  std::map<std::string, uint64_t> weightOffsets; ///< by blob name
  std::vector<uint64_t> cacheOffsets;
  std::vector<uint64_t> prefillBufferOffsets;
  /// Per decode plan (decodePlans(): one per width of a multi-width
  /// package); all share one region, since one plan runs at a time.
  std::vector<std::vector<uint64_t>> decodeBufferOffsets;
  uint64_t tokensOffset = 0;
  uint64_t workspaceOffset = 0;
  uint64_t weightBytes = 0, cacheBytes = 0, bufferBytes = 0;
  uint64_t totalBytes = 0;
};

/// Lays out the weights (each blob once, in first-use order), the caches,
/// the buffers of the prefill and every decode plan and the token ids. Buffer b
/// of a plan is live from the first step that binds it to the last (the logits
/// buffer to the end of the call).
DeviceLayout planDeviceLayout(const PackagePlans &plans,
                              uint64_t workspaceBytes = 0);

/// The offsets of a plan's buffers, packed by lifetime; returns the bytes
/// of the region (a multiple of DeviceLayout::kAlignment).
uint64_t packBuffers(const ParsedPlan &plan, int64_t maxTokens,
                     std::vector<uint64_t> &offsets);

/// A blob's bytes and where they go in the weight region.
struct UploadPiece {
  const uint8_t *data = nullptr;
  uint64_t size = 0;
  uint64_t offset = 0;
};

/// Copies bytes [begin, begin + size) of the weight region, as described by
/// `pieces` (sorted by offset, not overlapping), into `out`; the gaps
/// between pieces (alignment padding) are zero. Lets the upload move whole
/// staging buffers, not one copy per blob.
void fillUploadChunk(const std::vector<UploadPiece> &pieces, uint64_t begin,
                     uint64_t size, uint8_t *out);

/// The decode graph's kernel-node parameters as last given to the driver,
/// and which nodes need new ones for a new position: start_pos is a
/// by-value parameter, so each decode step updates exactly the nodes that
/// take it (nothing else changes: S is 1, every address is fixed).
class GraphParamTracker {
public:
  /// `nodes[i]` is node i's parameters as captured (at `capturedStartPos`).
  GraphParamTracker(std::vector<StepParams> nodes, int64_t capturedStartPos);

  /// Sets start_pos to `startPos` in the recorded parameters; returns the
  /// nodes whose parameters changed (none when it already was startPos).
  std::vector<size_t> retarget(int64_t startPos);

  /// Forgets what the driver holds (after a failed update), so that the
  /// next retarget() updates every start_pos node.
  void invalidate() { startPos_ = -1; }

  StepParams &node(size_t i) { return nodes_[i]; }
  const StepParams &node(size_t i) const { return nodes_[i]; }
  size_t size() const { return nodes_.size(); }
  int64_t startPos() const { return startPos_; }

private:
  std::vector<StepParams> nodes_;
  std::vector<size_t> withStartPos_;
  int64_t startPos_;
};

/// "12.34 GiB".
std::string formatGiB(uint64_t bytes);

} // namespace mixq::runtime::cuda

#endif // MIXQ_RUNTIME_CUDA_CUDALAUNCH_H
