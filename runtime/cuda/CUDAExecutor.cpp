//===- CUDAExecutor.cpp - run a package's host plan on an NVIDIA GPU ------===//
#include "runtime/cuda/CUDAExecutor.h"

#include "runtime/Plan.h"
#include "runtime/cuda/CUDALaunch.h"
#include "runtime/cuda/UtilityKernels.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <tuple>

namespace mixq::runtime {

using namespace cuda;

namespace {

/// Bytes of each JIT log buffer (the driver truncates longer logs).
constexpr size_t kJitLogBytes = 64 * 1024;

/// One step of a plan, ready to launch: its kernel's entries in order (all
/// take the same parameters).
struct Launch {
  std::vector<const KernelLaunchSpec *> specs;
  std::vector<CUfunction> functions;
  StepParams params;
};

/// One decode plan (one per width of a multi-width package): its launches,
/// and its CUDA graph, instantiated once and updated in place per position.
struct DecodeGraph {
  const ParsedPlan *plan = nullptr;
  const std::vector<uint64_t> *bufferOffsets = nullptr;
  std::vector<Launch> launches;
  CUgraph graph = nullptr;
  CUgraphExec exec = nullptr;
  std::vector<CUgraphNode> nodes;
  /// Node i launches entry nodeEntries[i].second of step .first.
  std::vector<std::pair<size_t, size_t>> nodeEntries;
  std::unique_ptr<GraphParamTracker> tracker;
};

} // namespace

struct CUDAExecutor::State {
  State(const CUDADriverAPI &driver, const CUDAExecutorOptions &options)
      : cu(driver), options(options) {}
  ~State();

  /// `what` failed with `result` (success passes through).
  Status check(CUresult result, const std::string &what) const {
    if (result == CUDA_SUCCESS)
      return Status::success();
    return makeError(what, ": ", errorText(cu, result));
  }

  const CUDADriverAPI &cu;
  CUDAExecutorOptions options;
  std::string path; ///< the package, for messages
  CUDATarget target;
  PackagePlans plans; ///< weight views are not used after create()
  /// A multi-width package's decode widths (only the default runs here).
  std::vector<DecodeWidthInfo> widths;
  DeviceLayout layout;

  CUdevice device = 0;
  CUcontext context = nullptr;
  CUstream stream = nullptr;
  CUmodule module = nullptr;
  /// The utility kernels (UtilityKernels.h), loaded when first needed.
  CUmodule utilityModule = nullptr;
  CUfunction fillFunction = nullptr;
  CUdeviceptr arena = 0;
  void *tokensHost = nullptr;
  void *logitsHost = nullptr;
  std::string deviceName, chip, jitLog;
  /// The decode graphs' edges are programmatic (see the option).
  bool programmaticEdges = false;

  std::vector<Launch> prefill;
  /// One per decode plan (decodePlans()); `current` runs.
  std::vector<DecodeGraph> decodes;
  size_t current = 0;
  /// Timing events for profilePrefill/profileDecode, made on first use.
  std::vector<CUevent> timingEvents;
};

CUDAExecutor::State::~State() {
  if (!context)
    return;
  // Teardown errors are not actionable; every handle is released anyway.
  (void)cu.cuCtxSetCurrent(context);
  if (stream)
    (void)cu.cuStreamSynchronize(stream);
  for (DecodeGraph &d : decodes) {
    if (d.exec)
      (void)cu.cuGraphExecDestroy(d.exec);
    if (d.graph)
      (void)cu.cuGraphDestroy(d.graph);
  }
  for (CUevent event : timingEvents)
    (void)cu.cuEventDestroy(event);
  for (CUmodule loaded : {module, utilityModule})
    if (loaded)
      (void)cu.cuModuleUnload(loaded);
  if (arena)
    (void)cu.cuMemFree(arena);
  for (void *host : {tokensHost, logitsHost})
    if (host)
      (void)cu.cuMemFreeHost(host);
  if (stream)
    (void)cu.cuStreamDestroy(stream);
  (void)cu.cuDevicePrimaryCtxRelease(device);
}

namespace {

using State = CUDAExecutor::State;

Status initDevice(State &s) {
  const CUDADriverAPI &cu = s.cu;
  if (Status st = s.check(cu.cuInit(0), "no usable NVIDIA GPU (cuInit)"); !st)
    return st;
  int count = 0;
  if (Status st = s.check(cu.cuDeviceGetCount(&count), "cuDeviceGetCount"); !st)
    return st;
  if (count == 0)
    return makeError("the NVIDIA driver sees no CUDA device");
  if (s.options.device < 0 || s.options.device >= count)
    return makeError("no CUDA device ", s.options.device, " (the driver sees ",
                     count, ")");
  if (Status st =
          s.check(cu.cuDeviceGet(&s.device, s.options.device), "cuDeviceGet");
      !st)
    return st;
  char name[256] = {};
  if (Status st = s.check(cu.cuDeviceGetName(name, sizeof(name) - 1, s.device),
                          "cuDeviceGetName");
      !st)
    return st;
  s.deviceName = name;
  return Status::success();
}

Status selectChip(State &s) {
  int major = 0, minor = 0;
  const CUDADriverAPI &cu = s.cu;
  if (Status st = s.check(
          cu.cuDeviceGetAttribute(
              &major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, s.device),
          "cuDeviceGetAttribute");
      !st)
    return st;
  if (Status st = s.check(
          cu.cuDeviceGetAttribute(
              &minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, s.device),
          "cuDeviceGetAttribute");
      !st)
    return st;
  auto chip = selectPTXChip(s.target.ptx, major, minor, s.deviceName);
  if (!chip)
    return makeError(s.path, ": ", chip.message());
  s.chip = *chip;
  s.programmaticEdges = s.options.programmaticLaunch &&
                        s.target.programmaticLaunch.count(s.chip) &&
                        s.cu.cuGraphAddDependencies != nullptr;
  return Status::success();
}

Status openContext(State &s) {
  const CUDADriverAPI &cu = s.cu;
  CUcontext context = nullptr;
  if (Status st = s.check(cu.cuDevicePrimaryCtxRetain(&context, s.device),
                          "cuDevicePrimaryCtxRetain");
      !st)
    return st;
  s.context = context; // from now on ~State releases it
  if (Status st = s.check(cu.cuCtxSetCurrent(context), "cuCtxSetCurrent"); !st)
    return st;
  return s.check(cu.cuStreamCreate(&s.stream, CU_STREAM_NON_BLOCKING),
                 "cuStreamCreate");
}

/// The text of a JIT log buffer, of which the driver wrote `written` bytes.
std::string logText(const std::vector<char> &buffer, void *written) {
  size_t n =
      std::min(size_t(reinterpret_cast<uintptr_t>(written)), buffer.size());
  std::string text(buffer.data(), strnlen(buffer.data(), n));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0'))
    text.pop_back();
  return text;
}

Status loadModule(State &s, const Package &package) {
  const std::string &blobName = s.target.ptx.at(s.chip);
  auto blob = package.blob(blobName);
  if (!blob)
    return blob.status();
  // The driver reads PTX as a NUL-terminated string; the blob is not.
  std::string ptx(reinterpret_cast<const char *>(blob->data), blob->size);
  std::vector<char> info(kJitLogBytes, 0), error(kJitLogBytes, 0);
  CUjit_option options[] = {
      CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
      CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
      CU_JIT_LOG_VERBOSE};
  void *values[] = {info.data(), reinterpret_cast<void *>(info.size() - 1),
                    error.data(), reinterpret_cast<void *>(error.size() - 1),
                    reinterpret_cast<void *>(uintptr_t(1))};
  CUresult result =
      s.cu.cuModuleLoadDataEx(&s.module, ptx.c_str(), 5, options, values);
  s.jitLog = logText(info, values[1]);
  if (result == CUDA_SUCCESS)
    return Status::success();
  s.module = nullptr;
  std::string log = logText(error, values[3]);
  return makeError(s.path, ": the CUDA driver could not compile ", blobName,
                   " for ", s.chip, " (", s.deviceName,
                   "): ", errorText(s.cu, result), "\nJIT log:\n",
                   log.empty() ? "(empty)" : log);
}

/// The functions of every kernel the plans use, and each plan's launches
/// (parameters bound later, once memory exists).
Status resolveKernels(State &s) {
  std::map<std::string, CUfunction> functions;
  std::vector<std::pair<const ParsedPlan *, std::vector<Launch> *>> plans = {
      {&s.plans.prefill, &s.prefill}};
  for (DecodeGraph &d : s.decodes)
    plans.push_back({d.plan, &d.launches});
  for (auto [plan, launches] : plans) {
    for (const PlanStep &step : plan->steps) {
      Launch launch;
      for (const KernelLaunchSpec &spec : s.target.kernels.at(step.kernel)) {
        auto [it, inserted] = functions.emplace(spec.entry, nullptr);
        if (inserted) {
          CUresult result = s.cu.cuModuleGetFunction(&it->second, s.module,
                                                     spec.entry.c_str());
          if (result != CUDA_SUCCESS)
            return makeError(s.path, ": PTX entry '", spec.entry,
                             "' of kernel '", spec.name, "' is not in ",
                             s.target.ptx.at(s.chip), ": ",
                             errorText(s.cu, result));
        }
        launch.specs.push_back(&spec);
        launch.functions.push_back(it->second);
      }
      launches->push_back(std::move(launch));
    }
  }
  return Status::success();
}

Status allocate(State &s) {
  s.layout = planDeviceLayout(s.plans, uint64_t(s.target.workspaceBytes()));
  const DeviceLayout &l = s.layout;
  size_t freeBytes = 0, totalBytes = 0;
  if (Status st =
          s.check(s.cu.cuMemGetInfo(&freeBytes, &totalBytes), "cuMemGetInfo");
      !st)
    return st;
  auto tooLarge = [&]() {
    return makeError(
        "not enough device memory: the package needs ", formatGiB(l.totalBytes),
        ", the device has ", formatGiB(freeBytes), " free (weights ",
        formatGiB(l.weightBytes), ", KV caches ", formatGiB(l.cacheBytes),
        ", activations ", formatGiB(l.bufferBytes), "; ", l.totalBytes, " of ",
        uint64_t(freeBytes), " bytes; ", s.deviceName, ")");
  };
  if (l.totalBytes > freeBytes)
    return tooLarge();
  CUresult result = s.cu.cuMemAlloc(&s.arena, l.totalBytes);
  if (result == CUDA_ERROR_OUT_OF_MEMORY) {
    s.arena = 0;
    return tooLarge();
  }
  if (Status st = s.check(result, "cuMemAlloc"); !st) {
    s.arena = 0;
    return st;
  }
  size_t tokenBytes = size_t(std::max<int64_t>(s.plans.contextLength, 1)) * 4;
  if (Status st = s.check(s.cu.cuMemHostAlloc(&s.tokensHost, tokenBytes, 0),
                          "cuMemHostAlloc");
      !st)
    return st;
  return s.check(
      s.cu.cuMemHostAlloc(&s.logitsHost, size_t(s.plans.vocabSize) * 4, 0),
      "cuMemHostAlloc");
}

/// Two pinned buffers, freed after the stream has drained.
struct Staging {
  State &s;
  void *buffers[2] = {nullptr, nullptr};
  CUevent events[2] = {nullptr, nullptr};
  bool pending[2] = {false, false};
  ~Staging() {
    (void)s.cu.cuStreamSynchronize(s.stream);
    for (int k = 0; k < 2; ++k) {
      if (buffers[k])
        (void)s.cu.cuMemFreeHost(buffers[k]);
      if (events[k])
        (void)s.cu.cuEventDestroy(events[k]);
    }
  }
};

/// Every weight blob the plans bind, sorted by device offset, with its
/// name at the same index of `names`.
std::vector<UploadPiece> uploadPieces(const State &s,
                                      std::vector<std::string> &names) {
  std::vector<std::pair<UploadPiece, std::string>> named;
  std::map<std::string, bool> seen;
  std::vector<const ParsedPlan *> plans = decodePlans(s.plans);
  plans.push_back(&s.plans.prefill);
  for (const ParsedPlan *plan : plans)
    for (const PlanStep &step : plan->steps)
      for (const PlanBinding &b : step.args)
        if (b.kind == PlanBinding::Weight && !seen[b.weightName]) {
          seen[b.weightName] = true;
          named.push_back({{b.weight.data, b.weight.size,
                            s.layout.weightOffsets.at(b.weightName)},
                           b.weightName});
        }
  std::sort(named.begin(), named.end(), [](const auto &a, const auto &b) {
    return a.first.offset < b.first.offset;
  });
  std::vector<UploadPiece> pieces;
  for (auto &[piece, name] : named) {
    pieces.push_back(piece);
    names.push_back(std::move(name));
  }
  return pieces;
}

/// Launches mixq_fill_random over `size` bytes at `dst`: whole 32-bit words
/// get masked random bits, a tail of size % 4 bytes is zeroed.
Status fillRandomOnDevice(State &s, CUdeviceptr dst, uint64_t size,
                          const DeviceRandomFill &fill) {
  const CUDADriverAPI &cu = s.cu;
  if (!s.fillFunction)
    if (Status st = loadUtilityKernel(cu, kFillRandomEntry, s.utilityModule,
                                      s.fillFunction);
        !st)
      return st;
  uint64_t words = size / 4;
  uint64_t seed = fill.seed;
  uint64_t mask = fill.mask;
  if (words > 0) {
    // A grid-stride loop: enough blocks to fill any GPU, few enough that
    // each thread writes many words.
    uint64_t blocks =
        std::min<uint64_t>((words + kUtilityBlock - 1) / kUtilityBlock, 65535);
    void *params[] = {&dst, &words, &seed, &mask};
    if (Status st = s.check(cu.cuLaunchKernel(s.fillFunction, unsigned(blocks),
                                              1, 1, kUtilityBlock, 1, 1, 0,
                                              s.stream, params, nullptr),
                            "generating weights on the GPU (cuLaunchKernel)");
        !st)
      return st;
  }
  if (size % 4 == 0)
    return Status::success();
  return s.check(cu.cuMemsetD8Async(dst + words * 4, 0, size % 4, s.stream),
                 "cuMemsetD8Async (weight tail)");
}

/// Generated weights instead of the package's (options.fillWeight): each
/// blob options.deviceFill claims is made by a kernel on the GPU; every
/// other blob is made on the host by fillWeight and copied, one at a time.
Status generateWeights(State &s) {
  std::vector<std::string> names;
  std::vector<UploadPiece> pieces = uploadPieces(s, names);
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const UploadPiece &piece = pieces[i];
    CUdeviceptr dst = s.arena + piece.offset;
    std::optional<DeviceRandomFill> fill;
    if (s.options.deviceFill)
      fill = s.options.deviceFill(names[i]);
    if (fill) {
      if (Status st = fillRandomOnDevice(s, dst, piece.size, *fill); !st)
        return st;
      continue;
    }
    bytes.assign(piece.size, 0);
    if (Status st = s.options.fillWeight(names[i], bytes.data(), piece.size);
        !st)
      return makeError("filling weight '", names[i], "': ", st.message());
    // Waited for, so that `bytes` can hold the next blob (these are small:
    // row pointers, column indices, bit maps).
    if (Status st = s.check(
            s.cu.cuMemcpyHtoDAsync(dst, bytes.data(), piece.size, s.stream),
            "uploading generated weights (cuMemcpyHtoDAsync)");
        !st)
      return st;
    if (Status st = s.check(s.cu.cuStreamSynchronize(s.stream),
                            "uploading generated weights");
        !st)
      return st;
  }
  return s.check(s.cu.cuStreamSynchronize(s.stream),
                 "generating weights on the GPU (cuStreamSynchronize)");
}

/// Copies the weight region to the device chunk by chunk: while the DMA
/// engine reads one staging buffer, the CPU fills the other from the mapped
/// package (which also pages the file in).
Status uploadWeights(State &s) {
  uint64_t total = s.layout.weightBytes;
  if (total == 0)
    return Status::success();
  const CUDADriverAPI &cu = s.cu;
  if (s.options.fillWeight)
    return generateWeights(s);
  std::vector<std::string> names;
  std::vector<UploadPiece> pieces = uploadPieces(s, names);
  for (size_t i = 0; i < pieces.size(); ++i)
    if (!pieces[i].data && pieces[i].size > 0)
      return makeError(s.path, ": weight blob '", names[i],
                       "' has no bytes (a weightless package): only generated "
                       "weights can run it (CUDAExecutorOptions::fillWeight, "
                       "mixq-bench --dummy-weights)");
  uint64_t chunk = std::min<uint64_t>(
      std::max<size_t>(s.options.stagingBytes, DeviceLayout::kAlignment),
      total);
  Staging staging{s};
  for (int k = 0; k < 2; ++k) {
    if (Status st = s.check(cu.cuMemHostAlloc(&staging.buffers[k], chunk,
                                              kMemHostAllocWriteCombined),
                            "cuMemHostAlloc (weight staging)");
        !st)
      return st;
    if (Status st = s.check(
            cu.cuEventCreate(&staging.events[k], CU_EVENT_DISABLE_TIMING),
            "cuEventCreate");
        !st)
      return st;
  }
  int k = 0;
  for (uint64_t begin = 0; begin < total; begin += chunk, k ^= 1) {
    uint64_t n = std::min(chunk, total - begin);
    if (staging.pending[k])
      if (Status st = s.check(cu.cuEventSynchronize(staging.events[k]),
                              "uploading the weights (cuEventSynchronize)");
          !st)
        return st;
    fillUploadChunk(pieces, begin, n,
                    static_cast<uint8_t *>(staging.buffers[k]));
    if (Status st =
            s.check(cu.cuMemcpyHtoDAsync(s.arena + begin, staging.buffers[k], n,
                                         s.stream),
                    "uploading the weights (cuMemcpyHtoDAsync)");
        !st)
      return st;
    if (Status st = s.check(cu.cuEventRecord(staging.events[k], s.stream),
                            "cuEventRecord");
        !st)
      return st;
    staging.pending[k] = true;
  }
  return s.check(cu.cuStreamSynchronize(s.stream),
                 "uploading the weights (cuStreamSynchronize)");
}

/// Zeroes the caches (and the buffers, so that nothing ever reads stale
/// bytes), uploads the weights.
Status fillDevice(State &s) {
  const DeviceLayout &l = s.layout;
  if (Status st =
          s.check(s.cu.cuMemsetD8Async(s.arena + l.weightBytes, 0,
                                       l.totalBytes - l.weightBytes, s.stream),
                  "zeroing the KV caches (cuMemsetD8Async)");
      !st)
    return st;
  return uploadWeights(s);
}

Status bindLaunches(State &s) {
  DeviceBindings device;
  for (const auto &[name, offset] : s.layout.weightOffsets)
    device.weights[name] = s.arena + offset;
  for (uint64_t offset : s.layout.cacheOffsets)
    device.caches.push_back(s.arena + offset);
  device.tokens = s.arena + s.layout.tokensOffset;
  device.workspace = s.arena + s.layout.workspaceOffset;
  std::vector<std::tuple<const ParsedPlan *, std::vector<Launch> *,
                         const std::vector<uint64_t> *>>
      plans = {{&s.plans.prefill, &s.prefill, &s.layout.prefillBufferOffsets}};
  for (size_t i = 0; i < s.decodes.size(); ++i) {
    DecodeGraph &d = s.decodes[i];
    d.bufferOffsets = &s.layout.decodeBufferOffsets.at(i);
    plans.push_back({d.plan, &d.launches, d.bufferOffsets});
  }
  for (auto [plan, launches, offsets] : plans) {
    device.buffers.clear();
    for (uint64_t offset : *offsets)
      device.buffers.push_back(s.arena + offset);
    for (size_t i = 0; i < plan->steps.size(); ++i) {
      bool withWorkspace = (*launches)[i].specs.front()->workspaceBytes > 0;
      auto params = bindStepParams(plan->steps[i], device, withWorkspace);
      if (!params)
        return params.status();
      (*launches)[i].params = params.take();
    }
  }
  return Status::success();
}

/// "decode step 7 (kernel decode_k18_attention)", plus the PTX entry when
/// it is named differently.
std::string stepName(const std::string &plan, size_t index,
                     const KernelLaunchSpec &spec) {
  std::string text =
      plan + " step " + std::to_string(index) + " (kernel " + spec.name;
  if (spec.entry != spec.name)
    text += ", PTX entry " + spec.entry;
  return text + ")";
}

CUDA_KERNEL_NODE_PARAMS nodeParams(const Launch &launch, size_t entry,
                                   const std::array<unsigned, 3> &grid,
                                   void **kernelParams) {
  CUDA_KERNEL_NODE_PARAMS p{};
  p.func = launch.functions[entry];
  p.gridDimX = grid[0];
  p.gridDimY = grid[1];
  p.gridDimZ = grid[2];
  p.blockDimX = unsigned(launch.specs[entry]->block[0]);
  p.blockDimY = unsigned(launch.specs[entry]->block[1]);
  p.blockDimZ = unsigned(launch.specs[entry]->block[2]);
  p.sharedMemBytes = 0; // static shared memory only (kernel ABI)
  p.kernelParams = kernelParams;
  return p;
}

int64_t decodeTokens(const ParsedPlan &plan) {
  return plan.staticTokens > 0 ? plan.staticTokens : 1;
}

/// Adds kernel node `p` to `d`'s graph after its last node: by an ordinary
/// edge, or by a programmatic one (the node's blocks may start once every
/// block of the previous kernel has executed griddepcontrol.launch_dependents;
/// the kernel's griddepcontrol.wait then holds it until that kernel is
/// complete).
Status addChainedNode(State &s, DecodeGraph &d,
                      const CUDA_KERNEL_NODE_PARAMS &p, CUgraphNode &node,
                      const std::string &what) {
  const CUDADriverAPI &cu = s.cu;
  CUgraphNode *previous = d.nodes.empty() ? nullptr : &d.nodes.back();
  if (!previous || !s.programmaticEdges)
    return s.check(
        cu.cuGraphAddKernelNode(&node, d.graph, previous, previous ? 1 : 0, &p),
        what + ": cuGraphAddKernelNode");
  if (Status st =
          s.check(cu.cuGraphAddKernelNode(&node, d.graph, nullptr, 0, &p),
                  what + ": cuGraphAddKernelNode");
      !st)
    return st;
  CUgraphEdgeData edge;
  edge.from_port = kGraphKernelNodePortProgrammatic;
  edge.type = CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC;
  return s.check(cu.cuGraphAddDependencies(d.graph, previous, &node, &edge, 1),
                 what + ": cuGraphAddDependencies (programmatic edge)");
}

/// A decode plan as one graph of kernel nodes, each depending on the
/// previous. Built node by node rather than by stream capture so that the
/// node handles, which the per-position updates need, are known without
/// recovering the capture order.
Status buildDecodeGraph(State &s, DecodeGraph &d) {
  const CUDADriverAPI &cu = s.cu;
  if (Status st = s.check(cu.cuGraphCreate(&d.graph, 0), "cuGraphCreate"); !st)
    return st;
  std::vector<StepParams> params;
  int64_t tokens = decodeTokens(*d.plan);
  for (size_t i = 0; i < d.launches.size(); ++i) {
    Launch &launch = d.launches[i];
    for (size_t e = 0; e < launch.specs.size(); ++e) {
      params.push_back(launch.params);
      params.back().set(0, tokens);
      auto grid = gridFor(*launch.specs[e], tokens);
      if (!grid)
        return grid.status();
      std::vector<void *> pointers = params.back().pointers();
      CUDA_KERNEL_NODE_PARAMS p = nodeParams(launch, e, *grid, pointers.data());
      CUgraphNode node = nullptr;
      if (Status st =
              addChainedNode(s, d, p, node,
                             "building the " + d.plan->name + " graph: " +
                                 stepName(d.plan->name, i, *launch.specs[e]));
          !st)
        return st;
      d.nodes.push_back(node);
      d.nodeEntries.push_back({i, e});
    }
  }
  if (Status st = s.check(cu.cuGraphInstantiate(&d.exec, d.graph, 0),
                          "instantiating the " + d.plan->name + " graph");
      !st)
    return st;
  d.tracker = std::make_unique<GraphParamTracker>(std::move(params), 0);
  return Status::success();
}

/// One graph per decode plan, all instantiated now: a width switch only
/// picks another graph (the weights are shared).
Status buildDecodeGraphs(State &s) {
  for (DecodeGraph &d : s.decodes)
    if (Status st = buildDecodeGraph(s, d); !st)
      return st;
  return Status::success();
}

/// Host-side checks the parser cannot make: the logits are one static row,
/// every grid is valid for the largest and the smallest call.
Status validatePlans(const State &s) {
  std::vector<std::pair<const ParsedPlan *, int64_t>> plans = {
      {&s.plans.prefill, s.plans.contextLength}};
  for (const ParsedPlan *plan : decodePlans(s.plans))
    plans.push_back({plan, decodeTokens(*plan)});
  for (auto [plan, maxTokens] : plans) {
    const SymbolicShape &logits = plan->bufferShapes[plan->logitsBuffer];
    if (!logits.isStatic() || numElements(logits.dims) != s.plans.vocabSize)
      return makeError(s.path, ": plan '", plan->name,
                       "': the logits must be a static buffer of vocab_size (",
                       s.plans.vocabSize, ") floats");
    for (size_t i = 0; i < plan->steps.size(); ++i)
      for (const KernelLaunchSpec &spec :
           s.target.kernels.at(plan->steps[i].kernel))
        for (int64_t tokens : {int64_t(1), std::max<int64_t>(maxTokens, 1)})
          if (auto grid = gridFor(spec, tokens); !grid)
            return makeError(s.path, ": plan '", plan->name, "' step ", i, ": ",
                             grid.message());
  }
  return Status::success();
}

Status parsePackage(State &s, const Package &package) {
  s.path = package.path();
  auto target = parseCUDATarget(package);
  if (!target)
    return target.status();
  s.target = target.take();
  auto plans = parsePackagePlans(
      package,
      [&](const std::string &kernel, const std::string &where) -> Status {
        if (!s.target.kernels.count(kernel))
          return makeError(where, ": kernel '", kernel,
                           "' is not in the package's CUDA kernels");
        return Status::success();
      });
  if (!plans)
    return plans.status();
  s.plans = plans.take();
  for (const DecodeWidthPlan &width : s.plans.decodeWidths)
    s.widths.push_back(width.info);
  for (const ParsedPlan *plan : decodePlans(s.plans))
    s.decodes.emplace_back().plan = plan;
  return validatePlans(s);
}

/// At least `count` timing events (made once, kept for later calls).
Status timingEvents(State &s, size_t count) {
  while (s.timingEvents.size() < count) {
    CUevent event = nullptr;
    if (Status st = s.check(s.cu.cuEventCreate(&event, CU_EVENT_DEFAULT),
                            "cuEventCreate (timing)");
        !st)
      return st;
    s.timingEvents.push_back(event);
  }
  return Status::success();
}

/// Records timing event `i` on the stream.
Status recordTiming(State &s, size_t i) {
  return s.check(s.cu.cuEventRecord(s.timingEvents[i], s.stream),
                 "cuEventRecord (timing)");
}

/// Launches every step of a plan on the stream, eagerly; with `timed`, a
/// timing event before the first step and after every step.
Status launchSteps(State &s, const std::string &plan,
                   std::vector<Launch> &launches, int64_t startPos,
                   int64_t tokens, bool timed = false) {
  if (timed) {
    if (Status st = timingEvents(s, launches.size() + 1); !st)
      return st;
    if (Status st = recordTiming(s, 0); !st)
      return st;
  }
  for (size_t i = 0; i < launches.size(); ++i) {
    Launch &launch = launches[i];
    launch.params.set(startPos, tokens);
    std::vector<void *> pointers = launch.params.pointers();
    for (size_t e = 0; e < launch.specs.size(); ++e) {
      const KernelLaunchSpec &spec = *launch.specs[e];
      auto grid = gridFor(spec, tokens);
      if (!grid)
        return makeError(stepName(plan, i, spec), ": ", grid.message());
      const auto &block = spec.block;
      CUresult result = s.cu.cuLaunchKernel(
          launch.functions[e], (*grid)[0], (*grid)[1], (*grid)[2],
          unsigned(block[0]), unsigned(block[1]), unsigned(block[2]), 0,
          s.stream, pointers.data(), nullptr);
      if (result == CUDA_SUCCESS && s.options.synchronizeEveryStep)
        result = s.cu.cuStreamSynchronize(s.stream);
      if (Status st = s.check(result, stepName(plan, i, spec)); !st)
        return st;
    }
    if (timed)
      if (Status st = recordTiming(s, i + 1); !st)
        return st;
  }
  return Status::success();
}

/// The milliseconds between consecutive timing events, after the stream
/// has drained: one value per step.
Expected<std::vector<double>> stepTimes(State &s, size_t steps) {
  std::vector<double> times;
  for (size_t i = 0; i < steps; ++i) {
    float ms = 0;
    if (Status st = s.check(s.cu.cuEventElapsedTime(&ms, s.timingEvents[i],
                                                    s.timingEvents[i + 1]),
                            "cuEventElapsedTime");
        !st)
      return st;
    times.push_back(double(ms));
  }
  return times;
}

/// Points the graph's start_pos parameters at `startPos`, then launches it.
Status launchDecodeGraph(State &s, DecodeGraph &d, int64_t startPos) {
  int64_t tokens = decodeTokens(*d.plan);
  for (size_t i : d.tracker->retarget(startPos)) {
    auto [step, entry] = d.nodeEntries[i];
    Launch &launch = d.launches[step];
    auto grid = gridFor(*launch.specs[entry], tokens);
    if (!grid)
      return grid.status();
    std::vector<void *> pointers = d.tracker->node(i).pointers();
    CUDA_KERNEL_NODE_PARAMS p =
        nodeParams(launch, entry, *grid, pointers.data());
    if (Status st =
            s.check(s.cu.cuGraphExecKernelNodeSetParams(d.exec, d.nodes[i], &p),
                    "updating the " + d.plan->name + " graph: " +
                        stepName(d.plan->name, step, *launch.specs[entry]) +
                        ": cuGraphExecKernelNodeSetParams");
        !st) {
      d.tracker->invalidate();
      return st;
    }
  }
  return s.check(s.cu.cuGraphLaunch(d.exec, s.stream),
                 d.plan->name + ": cuGraphLaunch");
}

} // namespace

Expected<std::unique_ptr<CUDAExecutor>>
CUDAExecutor::create(const Package &package, const CUDADriverAPI &driver,
                     const CUDAExecutorOptions &options) {
  auto state = std::make_unique<State>(driver, options);
  State &s = *state;
  if (Status st = parsePackage(s, package); !st)
    return st;
  for (auto step : {initDevice, selectChip, openContext})
    if (Status st = step(s); !st)
      return st;
  if (Status st = loadModule(s, package); !st)
    return st;
  for (auto step : {resolveKernels, allocate, fillDevice, bindLaunches})
    if (Status st = step(s); !st)
      return st;
  if (!options.synchronizeEveryStep)
    if (Status st = buildDecodeGraphs(s); !st)
      return st;
  std::unique_ptr<CUDAExecutor> executor(new CUDAExecutor(std::move(state)));
  executor->contextLength_ = executor->state_->plans.contextLength;
  executor->vocabSize_ = executor->state_->plans.vocabSize;
  return executor;
}

CUDAExecutor::CUDAExecutor(std::unique_ptr<State> state)
    : state_(std::move(state)) {}

CUDAExecutor::~CUDAExecutor() = default;

const std::string &CUDAExecutor::deviceName() const {
  return state_->deviceName;
}
const std::vector<DecodeWidthInfo> &CUDAExecutor::decodeWidths() const {
  return state_->widths;
}

int CUDAExecutor::decodeWidth() const {
  return state_->widths.empty() ? 0 : state_->widths[state_->current].width;
}

Status CUDAExecutor::setDecodeWidth(int width) {
  auto index = findDecodeWidth(state_->widths, width);
  if (!index)
    return index.status();
  state_->current = *index;
  return Status::success();
}

const std::string &CUDAExecutor::chip() const { return state_->chip; }
const std::string &CUDAExecutor::jitLog() const { return state_->jitLog; }
bool CUDAExecutor::programmaticLaunch() const {
  return state_->programmaticEdges;
}
uint64_t CUDAExecutor::deviceBytes() const { return state_->layout.totalBytes; }
CUcontext CUDAExecutor::context() const { return state_->context; }
CUstream CUDAExecutor::stream() const { return state_->stream; }

Expected<const float *>
CUDAExecutor::prefill(const std::vector<int32_t> &tokens) {
  return run(/*isDecode=*/false, tokens);
}

Expected<const float *> CUDAExecutor::decode(int32_t token) {
  return run(/*isDecode=*/true, {token});
}

Expected<std::vector<double>>
CUDAExecutor::profilePrefill(const std::vector<int32_t> &tokens) {
  std::vector<double> times;
  if (auto logits = run(/*isDecode=*/false, tokens, &times); !logits)
    return logits.status();
  return times;
}

Expected<std::vector<double>> CUDAExecutor::profileDecode(int32_t token) {
  std::vector<double> times;
  if (auto logits = run(/*isDecode=*/true, {token}, &times); !logits)
    return logits.status();
  return times;
}

Expected<const float *>
CUDAExecutor::run(bool isDecode, const std::vector<int32_t> &tokens,
                  std::vector<double> *stepMilliseconds) {
  State &s = *state_;
  DecodeGraph &decode = s.decodes[s.current];
  const ParsedPlan &plan = isDecode ? *decode.plan : s.plans.prefill;
  if (Status st =
          checkCallTokens(plan, tokens, position_, contextLength_, vocabSize_);
      !st)
    return st;
  auto count = int64_t(tokens.size());
  const CUDADriverAPI &cu = s.cu;
  if (Status st = s.check(cu.cuCtxSetCurrent(s.context), "cuCtxSetCurrent");
      !st)
    return st;
  std::memcpy(s.tokensHost, tokens.data(), tokens.size() * sizeof(int32_t));
  if (Status st = s.check(
          cu.cuMemcpyHtoDAsync(s.arena + s.layout.tokensOffset, s.tokensHost,
                               tokens.size() * sizeof(int32_t), s.stream),
          plan.name + ": copying the tokens to the device");
      !st)
    return st;
  // Profiling times every kernel, so decode runs without its graph then.
  Status launched =
      isDecode && decode.exec && !stepMilliseconds
          ? launchDecodeGraph(s, decode, position_)
          : launchSteps(s, plan.name, isDecode ? decode.launches : s.prefill,
                        position_, count, stepMilliseconds != nullptr);
  if (!launched)
    return launched;
  const std::vector<uint64_t> &offsets =
      isDecode ? *decode.bufferOffsets : s.layout.prefillBufferOffsets;
  uint64_t logits = offsets[plan.logitsBuffer];
  CUresult result = cu.cuMemcpyDtoHAsync(s.logitsHost, s.arena + logits,
                                         size_t(vocabSize_) * 4, s.stream);
  if (result == CUDA_SUCCESS)
    result = cu.cuStreamSynchronize(s.stream);
  if (Status st = s.check(
          result, plan.name + ": running " + std::to_string(plan.steps.size()) +
                      " kernels" +
                      (s.options.synchronizeEveryStep
                           ? ""
                           : " (an asynchronous error; MIXQ_CUDA_SYNC=1 "
                             "names the kernel)"));
      !st)
    return st;
  if (stepMilliseconds) {
    auto times = stepTimes(s, plan.steps.size());
    if (!times)
      return times.status();
    *stepMilliseconds = times.take();
  }
  position_ += count;
  return static_cast<const float *>(s.logitsHost);
}

} // namespace mixq::runtime
