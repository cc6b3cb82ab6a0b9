//===- CUDAExecutorTest.cpp - the CUDA executor against a fake driver -----===//
//
// No GPU is needed: a fake CUDADriverAPI hands out "device" pointers into
// host memory, copies synchronously, parses the PTX it is given for its
// .entry parameter lists, and records every launch, graph node and graph
// update. The packages are written here with PackageWriter (hand-written
// manifest, fake PTX), plus, when mixq-compile was built alongside, a real
// stories260K package compiled by the test.
//===----------------------------------------------------------------------===//

#include "runtime/cuda/CUDAExecutor.h"
#include "runtime/Package.h"
#include "runtime/Plan.h"
#include "runtime/cuda/CUDADriver.h"
#include "runtime/cuda/CUDALaunch.h"
#include "runtime/cuda/UtilityKernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

using namespace mixq;
using namespace mixq::runtime;
using namespace mixq::runtime::cuda;
using json = nlohmann::json;

namespace {

bool contains(const std::string &text, const std::string &piece) {
  return text.find(piece) != std::string::npos;
}

#define EXPECT_CONTAINS(text, piece)                                           \
  EXPECT_TRUE(contains(text, piece)) << "in: " << (text)

//===----------------------------------------------------------------------===//
// The fake driver
//===----------------------------------------------------------------------===//

struct LaunchRecord {
  std::string entry;
  std::array<unsigned, 3> grid{}, block{};
  unsigned sharedBytes = 0;
  std::vector<uint64_t> params;
  bool fromGraph = false;
};

struct FakeGPU {
  // What the device looks like; tests change these before create().
  int major = 8, minor = 6;
  std::string name = "Fake RTX A6000";
  int deviceCount = 1;
  size_t freeBytes = size_t(8) << 30;
  CUresult initResult = CUDA_SUCCESS;
  CUresult jitResult = CUDA_SUCCESS;
  std::string jitErrorLog, jitInfoLog = "ptxas info: 0 bytes spill stores";
  std::string failLaunchOf; ///< cuLaunchKernel of this entry fails

  // What happened.
  std::vector<std::string> calls;
  std::string loadedPTX;
  std::vector<std::string> functions;  ///< CUfunction i+1 -> entry
  std::map<std::string, size_t> arity; ///< entry -> .param count
  std::map<uintptr_t, size_t> memory;  ///< live allocations -> size
  std::vector<LaunchRecord> launches;
  std::vector<LaunchRecord> nodes; ///< the graph's nodes, as updated
  std::vector<std::vector<CUgraphNode>> nodeDependencies;
  /// Edges added after their nodes (cuGraphAddDependencies): from, to, data.
  struct Edge {
    CUgraphNode from, to;
    CUgraphEdgeData data;
  };
  std::vector<Edge> edges;
  std::vector<size_t> nodeGraph; ///< node i belongs to graph nodeGraph[i]
  size_t graphsCreated = 0;
  std::vector<size_t> launchedGraphs; ///< the graph of each cuGraphLaunch
  std::vector<std::pair<size_t, std::vector<uint64_t>>> nodeUpdates;
  size_t graphLaunches = 0;
  bool contextRetained = false;
  /// Milliseconds: each kernel launch (eager or in the graph) advances it
  /// by its entry's cost, each timing event records it.
  double clock = 0;
  std::map<std::string, double> kernelMs = {
      {"k_embed_entry", 1}, {"k_rope", 2}, {"k_logits", 4}};
  std::map<CUevent, double> eventTimes;

  size_t count(const std::string &call) const {
    return size_t(std::count(calls.begin(), calls.end(), call));
  }
  uintptr_t allocate(size_t bytes) {
    void *p = std::aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
    std::memset(p, 0xAB, bytes); // not zero: the executor must zero
    memory[reinterpret_cast<uintptr_t>(p)] = bytes;
    return reinterpret_cast<uintptr_t>(p);
  }
  bool release(uintptr_t p) {
    if (!memory.erase(p))
      return false;
    std::free(reinterpret_cast<void *>(p));
    return true;
  }
  ~FakeGPU() {
    for (auto &[p, size] : memory)
      std::free(reinterpret_cast<void *>(p));
  }
};

FakeGPU *gpu = nullptr;

/// The .param count of every .entry in `ptx`.
std::map<std::string, size_t> parseEntries(const std::string &ptx) {
  std::map<std::string, size_t> out;
  for (size_t at = ptx.find(".entry "); at != std::string::npos;
       at = ptx.find(".entry ", at + 1)) {
    size_t open = ptx.find('(', at), close = ptx.find(')', open);
    std::string name = ptx.substr(at + 7, open - at - 7);
    while (!name.empty() && std::isspace((unsigned char)name.back()))
      name.pop_back();
    std::string params = ptx.substr(open, close - open);
    size_t n = 0;
    for (size_t p = params.find(".param"); p != std::string::npos;
         p = params.find(".param", p + 1))
      ++n;
    out[name] = n;
  }
  return out;
}

std::vector<uint64_t> readParams(const std::string &entry, void **params) {
  std::vector<uint64_t> values(gpu->arity.at(entry));
  for (size_t i = 0; i < values.size(); ++i)
    std::memcpy(&values[i], params[i], 8);
  return values;
}

template <typename T> T handle(uintptr_t value) {
  return reinterpret_cast<T>(value);
}

CUresult fakeErrorName(CUresult r, const char **out) {
  static const std::map<CUresult, const char *> names = {
      {0, "CUDA_SUCCESS"},
      {1, "CUDA_ERROR_INVALID_VALUE"},
      {2, "CUDA_ERROR_OUT_OF_MEMORY"},
      {100, "CUDA_ERROR_NO_DEVICE"},
      {218, "CUDA_ERROR_INVALID_PTX"},
      {500, "CUDA_ERROR_NOT_FOUND"},
      {700, "CUDA_ERROR_ILLEGAL_ADDRESS"}};
  auto it = names.find(r);
  if (it == names.end())
    return 1;
  *out = it->second;
  return 0;
}

CUresult fakeErrorString(CUresult r, const char **out) {
  static const std::map<CUresult, const char *> texts = {
      {1, "invalid argument"},
      {2, "out of memory"},
      {100, "no CUDA-capable device is detected"},
      {218, "a PTX JIT compilation failed"},
      {500, "named symbol not found"},
      {700, "an illegal memory access was encountered"}};
  auto it = texts.find(r);
  if (it == texts.end())
    return 1;
  *out = it->second;
  return 0;
}

CUresult fakeModuleLoad(CUmodule *module, const void *image, unsigned n,
                        CUjit_option *options, void **values) {
  gpu->calls.push_back("cuModuleLoadDataEx");
  gpu->loadedPTX = static_cast<const char *>(image);
  for (unsigned i = 0; i < n; ++i) {
    const std::string *log =
        options[i] == CU_JIT_INFO_LOG_BUFFER    ? &gpu->jitInfoLog
        : options[i] == CU_JIT_ERROR_LOG_BUFFER ? &gpu->jitErrorLog
                                                : nullptr;
    if (!log)
      continue;
    // The size option follows its buffer; the driver writes back the bytes
    // it used.
    EXPECT_EQ(options[i + 1], options[i] + 1);
    size_t room = reinterpret_cast<uintptr_t>(values[i + 1]);
    size_t used = std::min(room, log->size());
    std::memcpy(values[i], log->data(), used);
    static_cast<char *>(values[i])[used] = '\0';
    values[i + 1] = reinterpret_cast<void *>(uintptr_t(used + 1));
  }
  if (gpu->jitResult != CUDA_SUCCESS)
    return gpu->jitResult;
  // Modules accumulate: the package's, then the utility kernels'.
  for (const auto &[entry, n] : parseEntries(gpu->loadedPTX))
    gpu->arity[entry] = n;
  *module = handle<CUmodule>(0x1000);
  return CUDA_SUCCESS;
}

CUresult fakeGetFunction(CUfunction *f, CUmodule, const char *name) {
  gpu->calls.push_back("cuModuleGetFunction");
  if (!gpu->arity.count(name))
    return CUDA_ERROR_NOT_FOUND;
  gpu->functions.push_back(name);
  *f = handle<CUfunction>(gpu->functions.size());
  return CUDA_SUCCESS;
}

const std::string &entryOf(CUfunction f) {
  return gpu->functions.at(reinterpret_cast<uintptr_t>(f) - 1);
}

LaunchRecord record(const CUDA_KERNEL_NODE_PARAMS &p) {
  LaunchRecord r;
  r.entry = entryOf(p.func);
  r.grid = {p.gridDimX, p.gridDimY, p.gridDimZ};
  r.block = {p.blockDimX, p.blockDimY, p.blockDimZ};
  r.sharedBytes = p.sharedMemBytes;
  r.params = readParams(r.entry, p.kernelParams);
  r.fromGraph = true;
  return r;
}

/// mixq_fill_random as UtilityKernels.h specifies it: word i of dst is
/// splitmix64(seed + i * 0x9E3779B97F4A7C15) & mask.
void runFillRandom(const std::vector<uint64_t> &params) {
  auto *dst = reinterpret_cast<uint32_t *>(params[0]);
  for (uint64_t i = 0; i < params[1]; ++i) {
    uint64_t z = params[2] + i * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    dst[i] = uint32_t(z ^ (z >> 31)) & uint32_t(params[3]);
  }
}

CUresult fakeLaunch(CUfunction f, unsigned gx, unsigned gy, unsigned gz,
                    unsigned bx, unsigned by, unsigned bz, unsigned shared,
                    CUstream, void **params, void **extra) {
  gpu->calls.push_back("cuLaunchKernel");
  EXPECT_EQ(extra, nullptr);
  LaunchRecord r;
  r.entry = entryOf(f);
  if (r.entry == gpu->failLaunchOf)
    return 1;
  r.grid = {gx, gy, gz};
  r.block = {bx, by, bz};
  r.sharedBytes = shared;
  r.params = readParams(r.entry, params);
  if (r.entry == "k_logits") // the synthetic model's logits: 0, 1, ..., 7
    for (int i = 0; i < 8; ++i)
      reinterpret_cast<float *>(r.params[3])[i] = float(i);
  if (r.entry == kFillRandomEntry)
    runFillRandom(r.params);
  gpu->clock += gpu->kernelMs.count(r.entry) ? gpu->kernelMs[r.entry] : 0.0;
  gpu->launches.push_back(r);
  return CUDA_SUCCESS;
}

/// Graph g's handle is 0x5000 + g, its executable's 0x6000 + g.
size_t graphIndex(const void *handle, uintptr_t base) {
  return size_t(reinterpret_cast<uintptr_t>(handle) - base);
}

CUresult fakeAddNode(CUgraphNode *node, CUgraph graph, const CUgraphNode *deps,
                     size_t n, const CUDA_KERNEL_NODE_PARAMS *p) {
  gpu->calls.push_back("cuGraphAddKernelNode");
  EXPECT_EQ(p->extra, nullptr);
  EXPECT_EQ(p->kern, nullptr);
  gpu->nodes.push_back(record(*p));
  gpu->nodeDependencies.emplace_back(deps, deps + n);
  gpu->nodeGraph.push_back(graphIndex(graph, 0x5000));
  *node = handle<CUgraphNode>(gpu->nodes.size());
  return CUDA_SUCCESS;
}

CUresult fakeAddDependencies(CUgraph, const CUgraphNode *from,
                             const CUgraphNode *to, const CUgraphEdgeData *data,
                             size_t n) {
  gpu->calls.push_back("cuGraphAddDependencies");
  for (size_t i = 0; i < n; ++i)
    gpu->edges.push_back({from[i], to[i], data[i]});
  return CUDA_SUCCESS;
}

CUresult fakeSetNodeParams(CUgraphExec, CUgraphNode node,
                           const CUDA_KERNEL_NODE_PARAMS *p) {
  gpu->calls.push_back("cuGraphExecKernelNodeSetParams");
  size_t index = reinterpret_cast<uintptr_t>(node) - 1;
  LaunchRecord r = record(*p);
  // Only parameters may change in an instantiated graph's kernel node.
  EXPECT_EQ(r.entry, gpu->nodes.at(index).entry);
  EXPECT_EQ(r.grid, gpu->nodes[index].grid);
  gpu->nodes[index] = r;
  gpu->nodeUpdates.push_back({index, r.params});
  return CUDA_SUCCESS;
}

CUresult fakeGraphLaunch(CUgraphExec exec, CUstream) {
  gpu->calls.push_back("cuGraphLaunch");
  ++gpu->graphLaunches;
  size_t graph = graphIndex(exec, 0x6000);
  gpu->launchedGraphs.push_back(graph);
  for (size_t i = 0; i < gpu->nodes.size(); ++i)
    if (gpu->nodeGraph[i] == graph)
      gpu->launches.push_back(gpu->nodes[i]);
  return CUDA_SUCCESS;
}

CUresult fakeMemAlloc(CUdeviceptr *p, size_t bytes) {
  gpu->calls.push_back("cuMemAlloc");
  if (bytes > gpu->freeBytes)
    return CUDA_ERROR_OUT_OF_MEMORY;
  *p = gpu->allocate(bytes);
  return CUDA_SUCCESS;
}

CUresult fakeHostAlloc(void **p, size_t bytes, unsigned) {
  gpu->calls.push_back("cuMemHostAlloc");
  *p = reinterpret_cast<void *>(gpu->allocate(bytes));
  return CUDA_SUCCESS;
}

/// A driver table of test functions; every entry is set.
CUDADriverAPI fakeDriver() {
  CUDADriverAPI d;
  d.cuGetErrorName = fakeErrorName;
  d.cuGetErrorString = fakeErrorString;
  d.cuInit = [](unsigned) {
    gpu->calls.push_back("cuInit");
    return gpu->initResult;
  };
  d.cuDriverGetVersion = [](int *v) {
    *v = 12040;
    return CUDA_SUCCESS;
  };
  d.cuDeviceGetCount = [](int *n) {
    *n = gpu->deviceCount;
    return CUDA_SUCCESS;
  };
  d.cuDeviceGet = [](CUdevice *dev, int ordinal) {
    *dev = ordinal;
    return CUDA_SUCCESS;
  };
  d.cuDeviceGetAttribute = [](int *v, CUdevice_attribute a, CUdevice) {
    if (a == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
      *v = gpu->major;
    else if (a == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)
      *v = gpu->minor;
    else
      return 1;
    return CUDA_SUCCESS;
  };
  d.cuDeviceGetName = [](char *out, int n, CUdevice) {
    std::snprintf(out, size_t(n), "%s", gpu->name.c_str());
    return CUDA_SUCCESS;
  };
  d.cuDevicePrimaryCtxRetain = [](CUcontext *c, CUdevice) {
    gpu->contextRetained = true;
    *c = handle<CUcontext>(0x2000);
    return CUDA_SUCCESS;
  };
  d.cuDevicePrimaryCtxRelease = [](CUdevice) {
    gpu->contextRetained = false;
    return CUDA_SUCCESS;
  };
  d.cuCtxSetCurrent = [](CUcontext c) {
    EXPECT_EQ(c, handle<CUcontext>(0x2000));
    return CUDA_SUCCESS;
  };
  d.cuModuleLoadDataEx = fakeModuleLoad;
  d.cuModuleUnload = [](CUmodule) {
    gpu->calls.push_back("cuModuleUnload");
    return CUDA_SUCCESS;
  };
  d.cuModuleGetFunction = fakeGetFunction;
  d.cuMemGetInfo = [](size_t *free, size_t *total) {
    *free = gpu->freeBytes;
    *total = gpu->freeBytes * 2;
    return CUDA_SUCCESS;
  };
  d.cuMemAlloc = fakeMemAlloc;
  d.cuMemFree = [](CUdeviceptr p) {
    gpu->calls.push_back("cuMemFree");
    return gpu->release(p) ? CUDA_SUCCESS : 1;
  };
  d.cuMemHostAlloc = fakeHostAlloc;
  d.cuMemFreeHost = [](void *p) {
    gpu->calls.push_back("cuMemFreeHost");
    return gpu->release(reinterpret_cast<uintptr_t>(p)) ? CUDA_SUCCESS : 1;
  };
  d.cuMemcpyHtoDAsync = [](CUdeviceptr dst, const void *src, size_t n,
                           CUstream) {
    gpu->calls.push_back("cuMemcpyHtoDAsync");
    std::memcpy(reinterpret_cast<void *>(dst), src, n);
    return CUDA_SUCCESS;
  };
  d.cuMemcpyDtoHAsync = [](void *dst, CUdeviceptr src, size_t n, CUstream) {
    gpu->calls.push_back("cuMemcpyDtoHAsync");
    std::memcpy(dst, reinterpret_cast<const void *>(src), n);
    return CUDA_SUCCESS;
  };
  d.cuMemsetD8Async = [](CUdeviceptr dst, unsigned char v, size_t n, CUstream) {
    gpu->calls.push_back("cuMemsetD8Async");
    std::memset(reinterpret_cast<void *>(dst), v, n);
    return CUDA_SUCCESS;
  };
  d.cuStreamCreate = [](CUstream *s, unsigned flags) {
    EXPECT_EQ(flags, CU_STREAM_NON_BLOCKING);
    *s = handle<CUstream>(0x3000);
    return CUDA_SUCCESS;
  };
  d.cuStreamDestroy = [](CUstream) {
    gpu->calls.push_back("cuStreamDestroy");
    return CUDA_SUCCESS;
  };
  d.cuStreamSynchronize = [](CUstream) {
    gpu->calls.push_back("cuStreamSynchronize");
    return CUDA_SUCCESS;
  };
  d.cuEventCreate = [](CUevent *e, unsigned) {
    static uintptr_t next = 0x4000;
    *e = handle<CUevent>(++next);
    return CUDA_SUCCESS;
  };
  d.cuEventRecord = [](CUevent e, CUstream) {
    gpu->calls.push_back("cuEventRecord");
    gpu->eventTimes[e] = gpu->clock;
    return CUDA_SUCCESS;
  };
  d.cuEventElapsedTime = [](float *ms, CUevent start, CUevent stop) {
    gpu->calls.push_back("cuEventElapsedTime");
    *ms = float(gpu->eventTimes.at(stop) - gpu->eventTimes.at(start));
    return CUDA_SUCCESS;
  };
  d.cuMemcpyDtoDAsync = [](CUdeviceptr dst, CUdeviceptr src, size_t n,
                           CUstream) {
    gpu->calls.push_back("cuMemcpyDtoDAsync");
    std::memcpy(reinterpret_cast<void *>(dst),
                reinterpret_cast<const void *>(src), n);
    return CUDA_SUCCESS;
  };
  d.cuEventSynchronize = [](CUevent) {
    gpu->calls.push_back("cuEventSynchronize");
    return CUDA_SUCCESS;
  };
  d.cuEventDestroy = [](CUevent) {
    gpu->calls.push_back("cuEventDestroy");
    return CUDA_SUCCESS;
  };
  d.cuLaunchKernel = fakeLaunch;
  d.cuGraphCreate = [](CUgraph *g, unsigned) {
    *g = handle<CUgraph>(0x5000 + gpu->graphsCreated++);
    return CUDA_SUCCESS;
  };
  d.cuGraphAddKernelNode = fakeAddNode;
  d.cuGraphAddDependencies = fakeAddDependencies;
  d.cuGraphInstantiate = [](CUgraphExec *e, CUgraph g, unsigned long long) {
    gpu->calls.push_back("cuGraphInstantiate");
    *e = handle<CUgraphExec>(0x6000 + graphIndex(g, 0x5000));
    return CUDA_SUCCESS;
  };
  d.cuGraphExecKernelNodeSetParams = fakeSetNodeParams;
  d.cuGraphLaunch = fakeGraphLaunch;
  d.cuGraphExecDestroy = [](CUgraphExec) {
    gpu->calls.push_back("cuGraphExecDestroy");
    return CUDA_SUCCESS;
  };
  d.cuGraphDestroy = [](CUgraph) {
    gpu->calls.push_back("cuGraphDestroy");
    return CUDA_SUCCESS;
  };
  return d;
}

//===----------------------------------------------------------------------===//
// A synthetic package
//===----------------------------------------------------------------------===//

/// PTX text declaring `entries` (name -> parameter count) for `chip`.
std::string fakePTX(const std::string &chip,
                    const std::map<std::string, size_t> &entries) {
  std::string ptx = ".version 8.0\n.target " + chip + "\n.address_size 64\n";
  for (const auto &[name, n] : entries) {
    ptx += ".visible .entry " + name + "(\n";
    for (size_t i = 0; i < n; ++i)
      ptx += "\t.param .u64 " + name + "_param_" + std::to_string(i) +
             (i + 1 < n ? ",\n" : "\n");
    ptx += ")\n{\n\tret;\n}\n";
  }
  return ptx;
}

json gridJson(std::vector<std::pair<int64_t, int64_t>> dims) {
  json grid = json::array();
  for (auto [count, perBlock] : dims)
    grid.push_back({{"count", count}, {"tokens_per_block", perBlock}});
  return grid;
}

/// A 3-step model: embed (weight, tokens -> b0), rope (b0, start_pos,
/// cache 0 -> b1, writes the cache), logits (b1, weight, start_pos -> b2).
/// Vocabulary 8, context 16, width 4. The embed kernel's PTX entry is named
/// differently from the kernel.
struct SyntheticPackage {
  json manifest;
  std::map<std::string, std::vector<uint8_t>> blobs;
  std::map<std::string, size_t> entries = {
      {"k_embed_entry", 4}, {"k_rope", 5}, {"k_logits", 5}};

  SyntheticPackage() {
    std::vector<uint8_t> embed(8 * 4 * 4), head(8 * 4 * 2);
    for (size_t i = 0; i < embed.size(); ++i)
      embed[i] = uint8_t(i * 7 + 1);
    for (size_t i = 0; i < head.size(); ++i)
      head[i] = uint8_t(200 - i);
    blobs["tok_embed"] = embed;
    blobs["head:codes"] = head;
    for (const char *chip : {"sm_80", "sm_86", "sm_90"}) {
      std::string text = fakePTX(chip, entries);
      blobs[std::string("cuda/") + chip + ".ptx"] =
          std::vector<uint8_t>(text.begin(), text.end());
    }
    manifest["model"] = {{"vocab_size", 8}, {"max_seq_len", 16}};
    manifest["targets"]["cuda"] = {
        {"abi", "mixq-cuda-1"},
        {"ptx",
         {{"sm_80", "cuda/sm_80.ptx"},
          {"sm_86", "cuda/sm_86.ptx"},
          {"sm_90", "cuda/sm_90.ptx"}}},
        {"kernels",
         {kernel("k_embed", "k_embed_entry",
                 gridJson({{1, 1}, {1, 0}, {1, 0}})),
          kernel("k_rope", "k_rope", gridJson({{2, 0}, {1, 4}, {1, 0}})),
          kernel("k_logits", "k_logits", gridJson({{3, 0}, {1, 0}, {1, 0}}))}}};
    manifest["plan"]["prefill"] = plan(-1);
    manifest["plan"]["decode"] = plan(1);
  }

  static json kernel(const std::string &name, const std::string &entry,
                     json grid) {
    return {{"name", name},
            {"entry", entry},
            {"block", {128, 1, 1}},
            {"grid", grid},
            {"shared_bytes", 64}};
  }

  static json plan(int64_t tokens) {
    json weight = {
        {"weight", "tok_embed"}, {"dtype", "f32"}, {"shape", {8, 4}}};
    json head = {{"weight", "head:codes"}, {"dtype", "f16"}, {"shape", {8, 4}}};
    return {
        {"inputs", {{"tokens", {{"dtype", "i32"}, {"shape", {tokens}}}}}},
        {"caches", {{{"dtype", "f32"}, {"shape", {16, 4}}}}},
        {"buffers",
         {{{"dtype", "f32"}, {"shape", {tokens, 4}}},
          {{"dtype", "f32"}, {"shape", {tokens, 4}}},
          {{"dtype", "f32"}, {"shape", {1, 8}}}}},
        {"steps",
         {{{"kernel", "k_embed"},
           {"args", {weight, {{"tokens", true}}, {{"buffer", 0}}}}},
          {{"kernel", "k_rope"},
           {"args",
            {{{"buffer", 0}},
             {{"start_pos", true}},
             {{"cache", 0}},
             {{"buffer", 1}}}}},
          {{"kernel", "k_logits"},
           {"args",
            {{{"buffer", 1}}, head, {{"start_pos", true}}, {{"buffer", 2}}}}}}},
        {"logits", {{"buffer", 2}}}};
  }

  /// The package; with `weightless`, the weight blobs (not the PTX) are
  /// recorded as absent, as mixq-compile --weights=none writes them.
  Package write(bool weightless = false) const {
    PackageWriter writer;
    for (const auto &[name, bytes] : blobs)
      EXPECT_TRUE((weightless && name.rfind("cuda/", 0) != 0
                       ? writer.addAbsentBlob(name, bytes.size())
                       : writer.addBlob(name, bytes))
                      .ok());
    static int counter = 0;
    std::string path = ::testing::TempDir() + "/mixq-cuda-test-" +
                       std::to_string(::getpid()) + "-" +
                       std::to_string(counter++) + ".mixq";
    Status s = writer.write(path, manifest);
    EXPECT_TRUE(s.ok()) << s.message();
    PackageOpenOptions options;
    options.allowAbsentBlobs = weightless;
    options.verifyBlobs = !weightless;
    auto package = Package::open(path, options);
    ::unlink(path.c_str()); // the mapping stays valid
    EXPECT_TRUE(package.ok()) << package.message();
    return package.take();
  }
};

class CUDAExecutorTest : public ::testing::Test {
protected:
  void SetUp() override { gpu = &fake; }
  void TearDown() override { gpu = nullptr; }

  Expected<std::unique_ptr<CUDAExecutor>>
  create(const Package &package, CUDAExecutorOptions options = {}) {
    return CUDAExecutor::create(package, driver, options);
  }
  std::string createError(const Package &package,
                          CUDAExecutorOptions options = {}) {
    auto executor = create(package, options);
    EXPECT_FALSE(executor.ok());
    return executor.ok() ? "" : executor.message();
  }

  FakeGPU fake;
  CUDADriverAPI driver = fakeDriver();
  SyntheticPackage synthetic;
};

const uint8_t *at(uint64_t address) {
  return reinterpret_cast<const uint8_t *>(address);
}

//===----------------------------------------------------------------------===//
// The executor against the fake driver
//===----------------------------------------------------------------------===//

TEST_F(CUDAExecutorTest, PrefillLaunchesEveryStepWithPackedArguments) {
  Package package = synthetic.write();
  auto executor = create(package);
  ASSERT_TRUE(executor.ok()) << executor.message();
  EXPECT_EQ((*executor)->chip(), "sm_86");
  EXPECT_EQ((*executor)->deviceName(), "Fake RTX A6000");
  EXPECT_EQ((*executor)->contextLength(), 16);
  EXPECT_EQ((*executor)->vocabSize(), 8);
  EXPECT_CONTAINS((*executor)->jitLog(), "0 bytes spill stores");
  EXPECT_CONTAINS(fake.loadedPTX, ".target sm_86");

  std::vector<int32_t> tokens = {1, 7, 3, 2, 5};
  auto logits = (*executor)->prefill(tokens);
  ASSERT_TRUE(logits.ok()) << logits.message();
  ASSERT_EQ(fake.launches.size(), 3u);
  const LaunchRecord &embed = fake.launches[0], &rope = fake.launches[1],
                     &head = fake.launches[2];
  EXPECT_EQ(embed.entry, "k_embed_entry");
  EXPECT_EQ(rope.entry, "k_rope");
  EXPECT_EQ(head.entry, "k_logits");
  for (const LaunchRecord &l : fake.launches) {
    EXPECT_FALSE(l.fromGraph);
    EXPECT_EQ(l.block, (std::array<unsigned, 3>{128, 1, 1}));
    EXPECT_EQ(l.sharedBytes, 0u); // static shared memory only
    EXPECT_EQ(l.params.back(), 5u) << "the trailing S";
  }
  // Grids: count * ceil(S / tokens_per_block), or count.
  EXPECT_EQ(embed.grid, (std::array<unsigned, 3>{5, 1, 1}));
  EXPECT_EQ(rope.grid, (std::array<unsigned, 3>{2, 2, 1}));
  EXPECT_EQ(head.grid, (std::array<unsigned, 3>{3, 1, 1}));

  // Pointers lead to the uploaded weights and the copied token ids.
  const std::vector<uint8_t> &embedBlob = synthetic.blobs["tok_embed"];
  EXPECT_EQ(
      std::memcmp(at(embed.params[0]), embedBlob.data(), embedBlob.size()), 0);
  EXPECT_EQ(std::memcmp(at(embed.params[1]), tokens.data(), 5 * 4), 0);
  const std::vector<uint8_t> &headBlob = synthetic.blobs["head:codes"];
  EXPECT_EQ(std::memcmp(at(head.params[1]), headBlob.data(), headBlob.size()),
            0);
  // Buffers chain from step to step; start_pos is an int64 by value.
  EXPECT_EQ(embed.params[2], rope.params[0]);
  EXPECT_EQ(rope.params[1], 0u);
  EXPECT_EQ(rope.params[3], head.params[0]);
  EXPECT_EQ(head.params[2], 0u);
  EXPECT_NE(rope.params[0], rope.params[3]);
  // The cache was zeroed.
  for (size_t i = 0; i < 16 * 4 * 4; ++i)
    ASSERT_EQ(at(rope.params[2])[i], 0) << i;
  // The logits come back from the logits buffer.
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ((*logits)[i], float(i));
  EXPECT_EQ((*executor)->position(), 5);
}

TEST_F(CUDAExecutorTest, DecodeIsOneGraphUpdatedAtEachPosition) {
  Package package = synthetic.write();
  auto executor = create(package);
  ASSERT_TRUE(executor.ok()) << executor.message();
  // The graph was built at create: one node per decode step, a chain.
  ASSERT_EQ(fake.nodes.size(), 3u);
  EXPECT_TRUE(fake.nodeDependencies[0].empty());
  EXPECT_EQ(fake.nodeDependencies[1],
            std::vector<CUgraphNode>{reinterpret_cast<CUgraphNode>(1)});
  EXPECT_EQ(fake.nodeDependencies[2],
            std::vector<CUgraphNode>{reinterpret_cast<CUgraphNode>(2)});
  EXPECT_EQ(fake.count("cuGraphInstantiate"), 1u);
  EXPECT_EQ(fake.nodes[0].grid, (std::array<unsigned, 3>{1, 1, 1}));
  EXPECT_EQ(fake.nodes[1].grid, (std::array<unsigned, 3>{2, 1, 1}));

  ASSERT_TRUE((*executor)->prefill({1, 2, 3}).ok());
  size_t eager = fake.count("cuLaunchKernel");
  fake.launches.clear();

  for (int64_t position = 3; position < 6; ++position) {
    fake.nodeUpdates.clear();
    auto logits = (*executor)->decode(int32_t(position));
    ASSERT_TRUE(logits.ok()) << logits.message();
    // Exactly the nodes that take start_pos (rope, logits), set to the
    // position; nothing else is touched.
    ASSERT_EQ(fake.nodeUpdates.size(), 2u);
    EXPECT_EQ(fake.nodeUpdates[0].first, 1u);
    EXPECT_EQ(fake.nodeUpdates[1].first, 2u);
    EXPECT_EQ(fake.nodeUpdates[0].second[1], uint64_t(position));
    EXPECT_EQ(fake.nodeUpdates[1].second[2], uint64_t(position));
    EXPECT_EQ((*executor)->position(), position + 1);
  }
  EXPECT_EQ(fake.graphLaunches, 3u);
  EXPECT_EQ(fake.count("cuLaunchKernel"), eager) << "decode launched eagerly";
  // What the graph ran: S = 1, the decode token on the device.
  ASSERT_EQ(fake.launches.size(), 9u);
  for (const LaunchRecord &l : fake.launches)
    EXPECT_EQ(l.params.back(), 1u);
  int32_t token = 0;
  std::memcpy(&token, at(fake.launches[6].params[1]), 4);
  EXPECT_EQ(token, 5);
}

/// Node i's handle (fakeAddNode): i + 1.
CUgraphNode nodeHandle(size_t i) {
  return reinterpret_cast<CUgraphNode>(i + 1);
}

TEST_F(CUDAExecutorTest, ProgrammaticLaunchChainsTheGraphByProgrammaticEdges) {
  synthetic.manifest["targets"]["cuda"]["programmatic_launch"] = {"sm_90"};
  Package package = synthetic.write();
  fake.major = 9;
  fake.minor = 0;
  auto executor = create(package);
  ASSERT_TRUE(executor.ok()) << executor.message();
  EXPECT_EQ((*executor)->chip(), "sm_90");
  EXPECT_TRUE((*executor)->programmaticLaunch());
  // Nodes come without dependencies; each but the first gets one
  // programmatic edge from the node before it.
  ASSERT_EQ(fake.nodes.size(), 3u);
  for (const auto &deps : fake.nodeDependencies)
    EXPECT_TRUE(deps.empty());
  ASSERT_EQ(fake.edges.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(fake.edges[i].from, nodeHandle(i));
    EXPECT_EQ(fake.edges[i].to, nodeHandle(i + 1));
    EXPECT_EQ(fake.edges[i].data.from_port, 1); // ..._PORT_PROGRAMMATIC
    EXPECT_EQ(fake.edges[i].data.to_port, 0);
    EXPECT_EQ(fake.edges[i].data.type, 1); // ..._TYPE_PROGRAMMATIC
    for (unsigned char byte : fake.edges[i].data.reserved)
      EXPECT_EQ(byte, 0);
  }
  ASSERT_TRUE((*executor)->prefill({1, 2}).ok());
  EXPECT_TRUE((*executor)->decode(3).ok());
  EXPECT_EQ(fake.graphLaunches, 1u);
}

TEST_F(CUDAExecutorTest, OrdinaryEdgesWhereProgrammaticLaunchDoesNotApply) {
  synthetic.manifest["targets"]["cuda"]["programmatic_launch"] = {"sm_90"};
  Package package = synthetic.write();
  auto expectOrdinaryChain = [&](const char *why) {
    ASSERT_EQ(fake.nodes.size(), 3u) << why;
    EXPECT_TRUE(fake.edges.empty()) << why;
    EXPECT_EQ(fake.count("cuGraphAddDependencies"), 0u) << why;
    EXPECT_EQ(fake.nodeDependencies[2], std::vector<CUgraphNode>{nodeHandle(1)})
        << why;
    fake.nodes.clear();
    fake.nodeDependencies.clear();
  };
  {
    // An sm_86 device loads the sm_86 PTX, which has no griddepcontrol.
    auto executor = create(package);
    ASSERT_TRUE(executor.ok()) << executor.message();
    EXPECT_FALSE((*executor)->programmaticLaunch());
    expectOrdinaryChain("sm_86");
  }
  fake.major = 9;
  fake.minor = 0;
  {
    CUDAExecutorOptions options;
    options.programmaticLaunch = false;
    auto executor = create(package, options);
    ASSERT_TRUE(executor.ok()) << executor.message();
    EXPECT_FALSE((*executor)->programmaticLaunch());
    expectOrdinaryChain("turned off");
  }
  {
    // A driver older than CUDA 12.3 has no cuGraphAddDependencies_v2.
    driver.cuGraphAddDependencies = nullptr;
    auto executor = create(package);
    ASSERT_TRUE(executor.ok()) << executor.message();
    EXPECT_FALSE((*executor)->programmaticLaunch());
    expectOrdinaryChain("old driver");
  }
  {
    // A package without the list: its kernels do not wait.
    SyntheticPackage plain;
    driver.cuGraphAddDependencies = fakeAddDependencies;
    auto executor = create(plain.write());
    ASSERT_TRUE(executor.ok()) << executor.message();
    EXPECT_FALSE((*executor)->programmaticLaunch());
    expectOrdinaryChain("no programmatic_launch");
  }
}

TEST_F(CUDAExecutorTest, ProgrammaticLaunchListMustNameChipsWithPTX) {
  {
    SyntheticPackage p;
    p.manifest["targets"]["cuda"]["programmatic_launch"] = {"sm_100"};
    EXPECT_CONTAINS(createError(p.write()),
                    ": targets.cuda.programmatic_launch names sm_100, which "
                    "has no PTX in targets.cuda.ptx");
  }
  {
    SyntheticPackage p;
    p.manifest["targets"]["cuda"]["programmatic_launch"] = "sm_90";
    EXPECT_CONTAINS(createError(p.write()),
                    ": targets.cuda.programmatic_launch must be an array of "
                    "chips");
  }
  EXPECT_TRUE(fake.calls.empty()) << "the driver was called";
}

TEST_F(CUDAExecutorTest,
       KernelsWithTwoEntriesShareTheirParametersAndWorkspace) {
  // k_rope as split decode attention is compiled: two entries of one kernel,
  // in launch order, both taking a workspace pointer before S.
  json &kernels = synthetic.manifest["targets"]["cuda"]["kernels"];
  json second = SyntheticPackage::kernel("k_rope", "k_rope_combine",
                                         gridJson({{2, 0}, {1, 0}, {1, 0}}));
  kernels[1]["workspace_bytes"] = 1000;
  second["workspace_bytes"] = 1000;
  kernels.insert(kernels.begin() + 2, second);
  synthetic.entries["k_rope"] = 6; // 4 bindings, the workspace, S
  synthetic.entries["k_rope_combine"] = 6;
  for (const char *chip : {"sm_80", "sm_86", "sm_90"}) {
    std::string text = fakePTX(chip, synthetic.entries);
    synthetic.blobs[std::string("cuda/") + chip + ".ptx"] =
        std::vector<uint8_t>(text.begin(), text.end());
  }
  Package package = synthetic.write();
  auto executor = create(package);
  ASSERT_TRUE(executor.ok()) << executor.message();
  ASSERT_TRUE((*executor)->prefill({1, 2, 3}).ok());
  ASSERT_EQ(fake.launches.size(), 4u);
  const LaunchRecord &partial = fake.launches[1], &combine = fake.launches[2];
  EXPECT_EQ(partial.entry, "k_rope");
  EXPECT_EQ(combine.entry, "k_rope_combine");
  EXPECT_EQ(combine.grid, (std::array<unsigned, 3>{2, 1, 1}));
  // Same bindings, then the workspace (inside the arena), then S.
  ASSERT_EQ(partial.params.size(), combine.params.size());
  EXPECT_EQ(partial.params, combine.params);
  uint64_t workspace = partial.params[partial.params.size() - 2];
  EXPECT_NE(workspace, 0u);
  EXPECT_EQ(workspace % 256, 0u);
  EXPECT_EQ(partial.params.back(), 3u);
  EXPECT_EQ(fake.launches[3].params.size(), synthetic.entries["k_logits"])
      << "kernels without a workspace get none";
  // Decode: one graph node per entry; both take start_pos.
  EXPECT_EQ(fake.nodes.size(), 4u);
  fake.nodeUpdates.clear();
  ASSERT_TRUE((*executor)->decode(4).ok());
  ASSERT_EQ(fake.nodeUpdates.size(), 3u);
  EXPECT_EQ(fake.nodeUpdates[0].first, 1u);
  EXPECT_EQ(fake.nodeUpdates[1].first, 2u);
  EXPECT_EQ(fake.nodeUpdates[0].second[1], 3u);
  EXPECT_EQ(fake.nodeUpdates[1].second[1], 3u);
}

TEST_F(CUDAExecutorTest, EntriesOfOneKernelMustAgreeOnTheWorkspace) {
  json &kernels = synthetic.manifest["targets"]["cuda"]["kernels"];
  json second = SyntheticPackage::kernel("k_rope", "k_rope_combine",
                                         gridJson({{2, 0}, {1, 0}, {1, 0}}));
  second["workspace_bytes"] = 8;
  kernels.push_back(second);
  EXPECT_CONTAINS(createError(synthetic.write()),
                  "targets.cuda.kernels[3]: the entries of kernel 'k_rope' "
                  "disagree on \"workspace_bytes\"");
  kernels[3]["workspace_bytes"] = 0;
  kernels[3]["entry"] = "k_rope";
  EXPECT_CONTAINS(createError(synthetic.write()),
                  "targets.cuda.kernels has entry 'k_rope' of kernel 'k_rope' "
                  "twice");
}

TEST_F(CUDAExecutorTest, SynchronousModeDecodesEagerlyWithoutAGraph) {
  Package package = synthetic.write();
  CUDAExecutorOptions options;
  options.synchronizeEveryStep = true;
  auto executor = create(package, options);
  ASSERT_TRUE(executor.ok()) << executor.message();
  EXPECT_TRUE(fake.nodes.empty());
  ASSERT_TRUE((*executor)->prefill({1}).ok());
  size_t syncs = fake.count("cuStreamSynchronize");
  ASSERT_TRUE((*executor)->decode(2).ok());
  EXPECT_EQ(fake.graphLaunches, 0u);
  ASSERT_EQ(fake.launches.size(), 6u);
  EXPECT_EQ(fake.launches[4].params[1], 1u) << "start_pos";
  // One synchronize per kernel, one for the logits.
  EXPECT_EQ(fake.count("cuStreamSynchronize") - syncs, 4u);
}

TEST_F(CUDAExecutorTest, WeightsAreUploadedOnceThroughTwoStagingBuffers) {
  // Blobs of 128 and 64 bytes at 256-aligned offsets: a 512-byte region,
  // moved in chunks of at least 256 bytes.
  Package package = synthetic.write();
  CUDAExecutorOptions options;
  options.stagingBytes = 1; // raised to the 256-byte minimum
  auto executor = create(package, options);
  ASSERT_TRUE(executor.ok()) << executor.message();
  // The weights region is 512 bytes (two blobs, each 256-aligned).
  EXPECT_EQ(fake.count("cuMemcpyHtoDAsync"), 2u);
  EXPECT_EQ(fake.count("cuEventRecord"), 2u);
  EXPECT_EQ(fake.count("cuEventSynchronize"), 0u) << "no buffer reused yet";
  EXPECT_EQ(fake.count("cuMemsetD8Async"), 1u);
  // Staging is freed after the upload; what stays: arena, tokens, logits.
  EXPECT_EQ(fake.memory.size(), 3u);
  ASSERT_TRUE((*executor)->prefill({1}).ok());
  EXPECT_EQ(std::memcmp(at(fake.launches[0].params[0]),
                        synthetic.blobs["tok_embed"].data(), 128),
            0);
  EXPECT_EQ(std::memcmp(at(fake.launches[2].params[1]),
                        synthetic.blobs["head:codes"].data(), 64),
            0);
  EXPECT_EQ(fake.launches[2].params[1] - fake.launches[0].params[0], 256u);
}

TEST_F(CUDAExecutorTest, StagingBuffersAreReusedOnlyAfterTheirCopy) {
  // Bigger weights: 8 chunks of 256 bytes through 2 buffers.
  synthetic.blobs["tok_embed"].assign(8 * 4 * 4 * 16, 3);
  synthetic.manifest["plan"]["prefill"]["steps"][0]["args"][0]["shape"] = {128,
                                                                           4};
  synthetic.manifest["plan"]["decode"]["steps"][0]["args"][0]["shape"] = {128,
                                                                          4};
  Package package = synthetic.write();
  CUDAExecutorOptions options;
  options.stagingBytes = 256;
  auto executor = create(package, options);
  ASSERT_TRUE(executor.ok()) << executor.message();
  // 2048 + 256 bytes of region in 256-byte chunks.
  EXPECT_EQ(fake.count("cuMemcpyHtoDAsync"), 9u);
  EXPECT_EQ(fake.count("cuEventSynchronize"), 7u);
  ASSERT_TRUE((*executor)->prefill({1}).ok());
  EXPECT_EQ(std::memcmp(at(fake.launches[0].params[0]),
                        synthetic.blobs["tok_embed"].data(), 2048),
            0);
}

TEST_F(CUDAExecutorTest, FillWeightReplacesThePackagesBytes) {
  // 2048 + 64 bytes of weights through 256-byte chunks: each blob is made
  // once, when the upload reaches it.
  synthetic.blobs["tok_embed"].assign(8 * 4 * 4 * 16, 3);
  for (const char *plan : {"prefill", "decode"})
    synthetic.manifest["plan"][plan]["steps"][0]["args"][0]["shape"] = {128, 4};
  Package package = synthetic.write();
  std::vector<std::pair<std::string, size_t>> filled;
  CUDAExecutorOptions options;
  options.stagingBytes = 256;
  options.fillWeight = [&](const std::string &blob, uint8_t *bytes,
                           size_t size) {
    filled.push_back({blob, size});
    for (size_t i = 0; i < size; ++i)
      bytes[i] = uint8_t(blob.size() + i);
    return Status::success();
  };
  auto executor = create(package, options);
  ASSERT_TRUE(executor.ok()) << executor.message();
  EXPECT_EQ(filled, (std::vector<std::pair<std::string, size_t>>{
                        {"tok_embed", 2048}, {"head:codes", 64}}));
  ASSERT_TRUE((*executor)->prefill({1}).ok());
  const uint8_t *embed = at(fake.launches[0].params[0]);
  const uint8_t *head = at(fake.launches[2].params[1]);
  for (size_t i = 0; i < 2048; ++i)
    ASSERT_EQ(embed[i], uint8_t(9 + i)) << i;
  for (size_t i = 0; i < 64; ++i)
    ASSERT_EQ(head[i], uint8_t(10 + i)) << i;
}

TEST_F(CUDAExecutorTest, DeviceFillGeneratesBlobsOnTheGPU) {
  // tok_embed (128 bytes) is made by mixq_fill_random on the device; the
  // other blob by fillWeight on the host. The package is weightless.
  Package package = synthetic.write(/*weightless=*/true);
  std::vector<std::string> hostFilled;
  CUDAExecutorOptions options;
  options.fillWeight = [&](const std::string &blob, uint8_t *bytes,
                           size_t size) {
    hostFilled.push_back(blob);
    std::memset(bytes, 0x11, size);
    return Status::success();
  };
  options.deviceFill =
      [](const std::string &blob) -> std::optional<DeviceRandomFill> {
    if (blob == "tok_embed")
      return DeviceRandomFill{7, kFiniteF32Mask};
    return std::nullopt;
  };
  auto executor = create(package, options);
  ASSERT_TRUE(executor.ok()) << executor.message();
  EXPECT_EQ(hostFilled, std::vector<std::string>{"head:codes"});
  ASSERT_EQ(fake.launches.size(), 1u);
  const LaunchRecord &fill = fake.launches[0];
  EXPECT_EQ(fill.entry, kFillRandomEntry);
  EXPECT_EQ(fill.params[1], 32u) << "128 bytes = 32 words";
  EXPECT_EQ(fill.params[2], 7u);
  EXPECT_EQ(fill.params[3], kFiniteF32Mask);
  EXPECT_EQ(fill.block, (std::array<unsigned, 3>{kUtilityBlock, 1, 1}));
  // The f32 mask keeps every word a finite float (top exponent bit clear).
  const auto *words = reinterpret_cast<const uint32_t *>(fill.params[0]);
  for (int i = 0; i < 32; ++i)
    EXPECT_EQ(words[i] & 0x40000000u, 0u) << i;
  ASSERT_TRUE((*executor)->prefill({1}).ok());
  EXPECT_EQ(fake.launches[1].params[0], fill.params[0])
      << "the embedding reads the generated blob";
  EXPECT_EQ(at(fake.launches[3].params[1])[0], 0x11);
}

TEST_F(CUDAExecutorTest, DeviceFillWordsMatchSplitmix64) {
  // Seed 0: word i is the (i+1)-th output of the textbook splitmix64 from
  // state 0, whose first output is 0xE220A8397B1DCDAF; word 0 is
  // splitmix64's finalizer of 0, which is 0.
  Package package = synthetic.write(/*weightless=*/true);
  CUDAExecutorOptions options;
  options.fillWeight = [](const std::string &, uint8_t *bytes, size_t size) {
    std::memset(bytes, 0, size);
    return Status::success();
  };
  options.deviceFill =
      [](const std::string &blob) -> std::optional<DeviceRandomFill> {
    if (blob == "tok_embed")
      return DeviceRandomFill{0, 0xFFFFFFFFu};
    return std::nullopt;
  };
  auto executor = create(package, options);
  ASSERT_TRUE(executor.ok()) << executor.message();
  const auto *words =
      reinterpret_cast<const uint32_t *>(fake.launches.at(0).params[0]);
  EXPECT_EQ(words[0], 0u);
  EXPECT_EQ(words[1], 0x7B1DCDAFu);
}

TEST_F(CUDAExecutorTest, WeightlessPackageNeedsGeneratedWeights) {
  Package package = synthetic.write(/*weightless=*/true);
  EXPECT_CONTAINS(createError(package),
                  "' has no bytes (a weightless package): only generated "
                  "weights can run it");
  EXPECT_FALSE(fake.contextRetained);
  EXPECT_TRUE(fake.memory.empty());
}

TEST_F(CUDAExecutorTest, FillWeightErrorsStopCreate) {
  Package package = synthetic.write();
  CUDAExecutorOptions options;
  options.fillWeight = [](const std::string &, uint8_t *, size_t) {
    return Status::failure("no such component");
  };
  EXPECT_EQ(createError(package, options),
            "filling weight 'tok_embed': no such component");
  EXPECT_TRUE(fake.memory.empty());
  EXPECT_FALSE(fake.contextRetained);
}

TEST_F(CUDAExecutorTest, ProfilesTimeEveryStepEagerly) {
  Package package = synthetic.write();
  auto executor = create(package);
  ASSERT_TRUE(executor.ok()) << executor.message();
  CUDAExecutor &e = **executor;
  auto prefill = e.profilePrefill({1, 2, 3});
  ASSERT_TRUE(prefill.ok()) << prefill.message();
  EXPECT_EQ(*prefill, (std::vector<double>{1, 2, 4}));
  EXPECT_EQ(e.position(), 3);
  // Decode without the graph: three eager launches, no node update.
  size_t records = fake.count("cuEventRecord");
  auto decode = e.profileDecode(4);
  ASSERT_TRUE(decode.ok()) << decode.message();
  EXPECT_EQ(*decode, (std::vector<double>{1, 2, 4}));
  EXPECT_EQ(fake.count("cuEventRecord") - records, 4u) << "steps + 1";
  EXPECT_EQ(fake.graphLaunches, 0u);
  EXPECT_TRUE(fake.nodeUpdates.empty());
  ASSERT_EQ(fake.launches.size(), 6u);
  EXPECT_EQ(fake.launches[4].params[1], 3u) << "start_pos";
  EXPECT_EQ(fake.launches[4].params.back(), 1u) << "S";
  EXPECT_EQ(e.position(), 4);
  // The graph still runs decode afterwards, at the right position.
  ASSERT_TRUE(e.decode(5).ok());
  EXPECT_EQ(fake.graphLaunches, 1u);
  ASSERT_EQ(fake.nodeUpdates.size(), 2u);
  EXPECT_EQ(fake.nodeUpdates[0].second[1], 4u);
  // Rejected calls are rejected as in decode().
  e.reset();
  EXPECT_EQ(e.profilePrefill({9}).message(),
            "token id 9 at position 0 is outside the vocabulary (0..7)");
  size_t destroyed = fake.count("cuEventDestroy"); // the staging events
  executor = Status::failure("released");
  EXPECT_EQ(fake.count("cuEventDestroy") - destroyed, 4u)
      << "the timing events";
}

TEST_F(CUDAExecutorTest, EverythingIsReleasedWithTheExecutor) {
  Package package = synthetic.write();
  {
    auto executor = create(package);
    ASSERT_TRUE(executor.ok()) << executor.message();
    ASSERT_TRUE((*executor)->prefill({1, 2}).ok());
    EXPECT_TRUE(fake.contextRetained);
  }
  EXPECT_TRUE(fake.memory.empty());
  EXPECT_FALSE(fake.contextRetained);
  EXPECT_EQ(fake.count("cuModuleUnload"), 1u);
  EXPECT_EQ(fake.count("cuGraphExecDestroy"), 1u);
  EXPECT_EQ(fake.count("cuGraphDestroy"), 1u);
  EXPECT_EQ(fake.count("cuStreamDestroy"), 1u);
}

TEST_F(CUDAExecutorTest, BadTokensAndOverflowAreRejectedBeforeAnyLaunch) {
  Package package = synthetic.write();
  auto executor = create(package);
  ASSERT_TRUE(executor.ok()) << executor.message();
  CUDAExecutor &e = **executor;
  auto bad = e.prefill({1, 8});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.message(),
            "token id 8 at position 1 is outside the vocabulary (0..7)");
  EXPECT_FALSE(e.decode(-1).ok());
  EXPECT_FALSE(e.prefill({}).ok());
  EXPECT_TRUE(fake.launches.empty());
  EXPECT_EQ(e.position(), 0);

  ASSERT_TRUE(e.prefill(std::vector<int32_t>(16, 1)).ok());
  size_t launched = fake.launches.size();
  auto overflow = e.decode(1);
  ASSERT_FALSE(overflow.ok());
  EXPECT_EQ(overflow.message(),
            "context overflow: 16 tokens in the cache + 1 new ones exceed the "
            "context length of 16 (compile with a larger --max-seq-len)");
  EXPECT_EQ(fake.launches.size(), launched);
  EXPECT_EQ(e.position(), 16);
  e.reset();
  EXPECT_EQ(e.position(), 0);
  EXPECT_TRUE(e.decode(1).ok());
}

TEST_F(CUDAExecutorTest, LaunchErrorsNameThePlanStepAndKernel) {
  Package package = synthetic.write();
  CUDAExecutorOptions options;
  options.synchronizeEveryStep = true; // decode launches eagerly too
  auto executor = create(package, options);
  ASSERT_TRUE(executor.ok()) << executor.message();
  fake.failLaunchOf = "k_rope";
  auto prefill = (*executor)->prefill({1});
  ASSERT_FALSE(prefill.ok());
  EXPECT_EQ(prefill.message(), "prefill step 1 (kernel k_rope): "
                               "CUDA_ERROR_INVALID_VALUE (invalid argument)");
  fake.failLaunchOf = "k_embed_entry";
  auto decode = (*executor)->decode(1);
  ASSERT_FALSE(decode.ok());
  EXPECT_EQ(decode.message(),
            "decode step 0 (kernel k_embed, PTX entry k_embed_entry): "
            "CUDA_ERROR_INVALID_VALUE (invalid argument)");
  EXPECT_EQ((*executor)->position(), 0);
}

TEST_F(CUDAExecutorTest, ChipBelowSm80IsAnError) {
  Package package = synthetic.write();
  fake.major = 7;
  fake.minor = 5;
  fake.name = "Tesla T4";
  std::string error = createError(package);
  EXPECT_CONTAINS(error, "the GPU (Tesla T4) is sm_75 (compute capability "
                         "7.5); mixq's CUDA kernels need sm_80 or newer");
  EXPECT_EQ(fake.count("cuModuleLoadDataEx"), 0u);
}

TEST_F(CUDAExecutorTest, NewerChipLoadsTheNewestOlderPTX) {
  Package package = synthetic.write();
  fake.major = 8;
  fake.minor = 9;
  auto executor = create(package);
  ASSERT_TRUE(executor.ok()) << executor.message();
  EXPECT_EQ((*executor)->chip(), "sm_86");
  EXPECT_CONTAINS(fake.loadedPTX, ".target sm_86");
}

TEST_F(CUDAExecutorTest, NoPTXForTheChipIsAnError) {
  synthetic.manifest["targets"]["cuda"]["ptx"] = {{"sm_90", "cuda/sm_90.ptx"}};
  Package package = synthetic.write();
  std::string error = createError(package);
  EXPECT_CONTAINS(error, "the package has no PTX this GPU (Fake RTX A6000, "
                         "sm_86) can run: it has sm_90 (recompile with "
                         "--gpu-arch=sm_86)");
}

TEST_F(CUDAExecutorTest, NotEnoughDeviceMemoryGivesBothSizes) {
  Package package = synthetic.write();
  fake.freeBytes = 1000;
  std::string error = createError(package);
  EXPECT_CONTAINS(error, "not enough device memory: the package needs 0.00 "
                         "GiB, the device has 0.00 GiB free (weights ");
  EXPECT_CONTAINS(error, " of 1000 bytes; Fake RTX A6000)");
  EXPECT_EQ(fake.count("cuMemAlloc"), 0u);
  EXPECT_TRUE(fake.memory.empty());
  EXPECT_FALSE(fake.contextRetained);
}

TEST_F(CUDAExecutorTest, JitFailureCarriesTheLog) {
  Package package = synthetic.write();
  fake.jitResult = CUDA_ERROR_INVALID_PTX;
  fake.jitErrorLog = "ptxas application ptx input, line 9; error   : "
                     "Unknown symbol 'foo'";
  std::string error = createError(package);
  EXPECT_CONTAINS(error, ": the CUDA driver could not compile "
                         "cuda/sm_86.ptx for sm_86 (Fake RTX A6000): "
                         "CUDA_ERROR_INVALID_PTX (a PTX JIT compilation "
                         "failed)\nJIT log:\nptxas application ptx input, "
                         "line 9; error   : Unknown symbol 'foo'");
}

TEST_F(CUDAExecutorTest, MissingPTXEntryIsNamed) {
  synthetic.entries.erase("k_rope");
  std::string text = fakePTX("sm_86", synthetic.entries);
  synthetic.blobs["cuda/sm_86.ptx"].assign(text.begin(), text.end());
  Package package = synthetic.write();
  std::string error = createError(package);
  EXPECT_CONTAINS(error, ": PTX entry 'k_rope' of kernel 'k_rope' is not in "
                         "cuda/sm_86.ptx: CUDA_ERROR_NOT_FOUND (named symbol "
                         "not found)");
}

TEST_F(CUDAExecutorTest, PackageProblemsAreReportedBeforeTheDevice) {
  {
    SyntheticPackage p;
    p.manifest["targets"].erase("cuda");
    EXPECT_CONTAINS(createError(p.write()),
                    ": the package has no CUDA kernels (compile it with "
                    "--target=cuda)");
  }
  {
    SyntheticPackage p;
    p.manifest["targets"]["cuda"]["abi"] = "mixq-cuda-0";
    EXPECT_CONTAINS(createError(p.write()), "the CUDA kernels use ABI "
                                            "'mixq-cuda-0', but this runtime "
                                            "implements mixq-cuda-1");
  }
  {
    SyntheticPackage p;
    p.manifest["plan"]["decode"]["steps"][1]["kernel"] = "k_gone";
    EXPECT_CONTAINS(createError(p.write()),
                    ": plan 'decode': kernel 'k_gone' is not in the "
                    "package's CUDA kernels");
  }
  {
    SyntheticPackage p;
    p.manifest["targets"]["cuda"]["kernels"][1]["block"] = {1024, 2, 1};
    EXPECT_CONTAINS(createError(p.write()),
                    "targets.cuda.kernels[1] ('k_rope'): \"block\" must be 3 "
                    "positive integers with a product of at most 1024");
  }
  {
    SyntheticPackage p;
    p.manifest["targets"]["cuda"]["kernels"][1]["grid"][1] = {
        {"count", 70000}, {"tokens_per_block", 0}};
    EXPECT_CONTAINS(createError(p.write()),
                    ": plan 'prefill' step 1: kernel 'k_rope': grid dimension "
                    "1 is 70000 blocks for 1 tokens (the device allows 1 to "
                    "65535)");
  }
  EXPECT_TRUE(fake.calls.empty()) << "the driver was called";
}

TEST_F(CUDAExecutorTest, DeviceErrorsAreNamed) {
  Package package = synthetic.write();
  fake.initResult = CUDA_ERROR_NO_DEVICE;
  EXPECT_EQ(createError(package),
            "no usable NVIDIA GPU (cuInit): CUDA_ERROR_NO_DEVICE (no "
            "CUDA-capable device is detected)");
  fake.initResult = CUDA_SUCCESS;
  fake.deviceCount = 0;
  EXPECT_EQ(createError(package), "the NVIDIA driver sees no CUDA device");
  fake.deviceCount = 1;
  CUDAExecutorOptions options;
  options.device = 1;
  EXPECT_EQ(createError(package, options),
            "no CUDA device 1 (the driver sees 1)");
}

//===----------------------------------------------------------------------===//
// The pure pieces
//===----------------------------------------------------------------------===//

TEST(CUDALaunchTest, ChipSelection) {
  std::map<std::string, std::string> ptx = {
      {"sm_80", "a"}, {"sm_86", "b"}, {"sm_89", "c"}, {"sm_90", "d"}};
  auto pick = [&](int major, int minor) {
    auto chip = selectPTXChip(ptx, major, minor, "gpu");
    return chip.ok() ? *chip : "error: " + chip.message();
  };
  EXPECT_EQ(pick(8, 0), "sm_80");
  EXPECT_EQ(pick(8, 6), "sm_86");
  EXPECT_EQ(pick(8, 7), "sm_86");
  EXPECT_EQ(pick(8, 9), "sm_89");
  EXPECT_EQ(pick(9, 0), "sm_90");
  EXPECT_EQ(pick(10, 0), "sm_90");
  EXPECT_EQ(pick(12, 0), "sm_90");
  EXPECT_EQ(pick(7, 5), "error: the GPU (gpu) is sm_75 (compute capability "
                        "7.5); mixq's CUDA kernels need sm_80 or newer");
  // Arch-specific PTX only on its own chip, preferred there.
  ptx["sm_90a"] = "e";
  EXPECT_EQ(pick(9, 0), "sm_90a");
  EXPECT_EQ(pick(10, 0), "sm_90");
  auto none = selectPTXChip({{"sm_89", "c"}, {"sm_90", "d"}}, 8, 6, "gpu");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.message(),
            "the package has no PTX this GPU (gpu, sm_86) can run: it has "
            "sm_89, sm_90 (recompile with --gpu-arch=sm_86)");
}

TEST(CUDALaunchTest, GridFollowsTheLaunchRule) {
  KernelLaunchSpec spec;
  spec.name = "k";
  spec.grid = {GridDim{16, 0}, GridDim{1, 8}, GridDim{3, 1}};
  auto grid = gridFor(spec, 17);
  ASSERT_TRUE(grid.ok());
  EXPECT_EQ(*grid, (std::array<unsigned, 3>{16, 3, 51}));
  grid = gridFor(spec, 1);
  ASSERT_TRUE(grid.ok());
  EXPECT_EQ(*grid, (std::array<unsigned, 3>{16, 1, 3}));
  spec.grid[2] = {1, 1};
  auto tooBig = gridFor(spec, 70000);
  ASSERT_FALSE(tooBig.ok());
  EXPECT_EQ(tooBig.message(), "kernel 'k': grid dimension 2 is 70000 blocks "
                              "for 70000 tokens (the device allows 1 to "
                              "65535)");
}

TEST(CUDALaunchTest, ParametersArePackedInBindingOrderThenS) {
  PlanStep step;
  step.kernel = "k";
  PlanBinding buffer, pos, weight, cache, tokens;
  buffer.kind = PlanBinding::Buffer;
  buffer.index = 1;
  pos.kind = PlanBinding::StartPos;
  weight.kind = PlanBinding::Weight;
  weight.weightName = "w:codes";
  cache.kind = PlanBinding::Cache;
  cache.index = 0;
  tokens.kind = PlanBinding::Tokens;
  step.args = {buffer, pos, weight, cache, tokens, pos};
  DeviceBindings device;
  device.buffers = {0x1000, 0x2000};
  device.caches = {0x3000};
  device.weights["w:codes"] = 0x4000;
  device.tokens = 0x5000;
  auto params = bindStepParams(step, device);
  ASSERT_TRUE(params.ok()) << params.message();
  EXPECT_EQ(params->startPosSlots, (std::vector<size_t>{1, 5}));
  params->set(-1, 7); // int64 values, two's complement
  EXPECT_EQ(params->values,
            (std::vector<uint64_t>{0x2000, ~uint64_t(0), 0x4000, 0x3000, 0x5000,
                                   ~uint64_t(0), 7}));
  std::vector<void *> pointers = params->pointers();
  ASSERT_EQ(pointers.size(), 7u);
  for (size_t i = 0; i < 7; ++i)
    EXPECT_EQ(pointers[i], &params->values[i]);

  device.weights.clear();
  auto missing = bindStepParams(step, device);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.message(),
            "kernel 'k': weight 'w:codes' is not on the device");
}

TEST(CUDALaunchTest, GraphTrackerUpdatesExactlyTheStartPosNodes) {
  StepParams a, b, c;
  a.values = {0x10, 0x20, 1};
  b.values = {0x30, 0, 0x40, 1};
  b.startPosSlots = {1};
  c.values = {0, 0x50, 0, 1};
  c.startPosSlots = {0, 2};
  GraphParamTracker tracker({a, b, c}, 0);
  EXPECT_TRUE(tracker.retarget(0).empty()) << "captured at 0";
  EXPECT_EQ(tracker.retarget(9), (std::vector<size_t>{1, 2}));
  EXPECT_EQ(tracker.node(0).values, (std::vector<uint64_t>{0x10, 0x20, 1}));
  EXPECT_EQ(tracker.node(1).values, (std::vector<uint64_t>{0x30, 9, 0x40, 1}));
  EXPECT_EQ(tracker.node(2).values, (std::vector<uint64_t>{9, 0x50, 9, 1}));
  EXPECT_TRUE(tracker.retarget(9).empty());
  EXPECT_EQ(tracker.retarget(10).size(), 2u);
  EXPECT_EQ(tracker.startPos(), 10);
  tracker.invalidate(); // an update failed: the driver's copy is unknown
  EXPECT_EQ(tracker.retarget(10), (std::vector<size_t>{1, 2}));
}

TEST(CUDALaunchTest, BuffersShareMemoryOnlyWhenTheirLifetimesDoNotOverlap) {
  // b0 -> k -> b1 -> k -> b2 -> k -> b3 (the logits, read after the end).
  ParsedPlan plan;
  plan.name = "prefill";
  for (int i = 0; i < 4; ++i) {
    plan.bufferShapes.push_back({{-1, 64}});
    plan.bufferElementBytes.push_back(4);
  }
  plan.bufferShapes[3] = {{1, 8}};
  for (int i = 0; i < 3; ++i) {
    PlanStep step;
    PlanBinding in, out;
    in.index = i;
    out.index = i + 1;
    step.args = {in, out};
    plan.steps.push_back(step);
  }
  plan.logitsBuffer = 3;
  std::vector<uint64_t> offsets;
  uint64_t bytes = packBuffers(plan, 10, offsets);
  ASSERT_EQ(offsets.size(), 4u);
  auto overlaps = [&](size_t x, size_t y, uint64_t size) {
    return offsets[x] < offsets[y] + size && offsets[y] < offsets[x] + size;
  };
  // Each step's input and output are live together...
  EXPECT_FALSE(overlaps(0, 1, 2560));
  EXPECT_FALSE(overlaps(1, 2, 2560));
  EXPECT_FALSE(overlaps(2, 3, 256));
  EXPECT_EQ(offsets[0] % 256, 0u);
  // ...but b0/b2 and b1/b3 never are: two buffers' worth in all.
  EXPECT_EQ(bytes, 2 * 2560u);
}

TEST(CUDALaunchTest, UploadChunksCoverPiecesAndZeroTheGaps) {
  std::vector<uint8_t> a(300, 1), b(10, 2);
  std::vector<UploadPiece> pieces = {{a.data(), 300, 0}, {b.data(), 10, 512}};
  std::vector<uint8_t> chunk(256, 0xFF);
  fillUploadChunk(pieces, 256, 256, chunk.data());
  for (size_t i = 0; i < 256; ++i)
    ASSERT_EQ(chunk[i], i < 44 ? 1 : 0) << i;
  fillUploadChunk(pieces, 512, 16, chunk.data());
  for (size_t i = 0; i < 16; ++i)
    ASSERT_EQ(chunk[i], i < 10 ? 2 : 0) << i;
}

TEST(CUDADriverTest, NoDriverAndMissingSymbolsAreNamed) {
  auto none = loadCUDADriverFrom("libmixq-no-such-driver.so.1");
  ASSERT_FALSE(none.ok());
  EXPECT_CONTAINS(none.message(), "no NVIDIA driver (libmixq-no-such-driver."
                                  "so.1 cannot be loaded: ");
  auto wrong = loadCUDADriverFrom("libm.so.6");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.message(), "the NVIDIA driver libm.so.6 has no "
                             "cuGetErrorName (mixq needs a driver for CUDA "
                             "12.0 or newer)");
}

#ifdef MIXQ_CUDA_STUB_LIBRARY
TEST(CUDADriverTest, EverySymbolResolvesInTheToolkitsStubDriver) {
  auto stub = loadCUDADriverFrom(MIXQ_CUDA_STUB_LIBRARY);
  ASSERT_TRUE(stub.ok()) << stub.message();
  // Optional entries too: the toolkit's driver is newer than CUDA 12.3.
  EXPECT_NE(stub->cuGraphAddDependencies, nullptr);
  // The stub fails every call, so the executor stops at cuInit.
  SyntheticPackage synthetic;
  Package package = synthetic.write();
  auto executor = CUDAExecutor::create(package, *stub);
  ASSERT_FALSE(executor.ok());
  EXPECT_CONTAINS(executor.message(), "no usable NVIDIA GPU (cuInit): ");
}
#endif

TEST(CUDADriverTest, ErrorTextUsesTheDriversNames) {
  CUDADriverAPI d;
  d.cuGetErrorName = fakeErrorName;
  d.cuGetErrorString = fakeErrorString;
  EXPECT_EQ(errorText(d, 2), "CUDA_ERROR_OUT_OF_MEMORY (out of memory)");
  EXPECT_EQ(errorText(d, 12345), "CUDA error 12345");
  EXPECT_EQ(errorText(CUDADriverAPI(), 2), "CUDA error 2");
}

//===----------------------------------------------------------------------===//
// A real package
//===----------------------------------------------------------------------===//

/// stories260K compiled for CUDA by the real mixq-compile, or the package
/// $MIXQ_CUDA_TEST_PACKAGE names; null (the test skips) when the tool or the
/// model is missing, or the compile fails.
std::unique_ptr<Package> compileStories(const std::string &flags) {
  if (const char *given = std::getenv("MIXQ_CUDA_TEST_PACKAGE")) {
    auto package = Package::open(given);
    EXPECT_TRUE(package.ok()) << package.message();
    return package ? std::make_unique<Package>(package.take()) : nullptr;
  }
#ifndef MIXQ_COMPILE_PATH
  (void)flags;
  return nullptr; // a runtime-only build: no compiler
#else
  std::string model = std::string(MIXQ_SHARED_MODELS_DIR) + "/stories260K.bin";
  struct stat st;
  if (::stat(MIXQ_COMPILE_PATH, &st) != 0 || ::stat(model.c_str(), &st) != 0)
    return nullptr;
  std::string out = ::testing::TempDir() + "/mixq-cuda-stories-" +
                    std::to_string(::getpid()) + ".mixq";
  std::string command = std::string(MIXQ_COMPILE_PATH) + " " + model + " " +
                        flags + " --target=cuda -o " + out + " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0)
    return nullptr;
  auto package = Package::open(out);
  ::unlink(out.c_str());
  if (!package)
    return nullptr;
  return std::make_unique<Package>(package.take());
#endif
}

TEST_F(CUDAExecutorTest, RealPackageLaunchSequenceMatchesItsPlanAndPTX) {
  std::unique_ptr<Package> package =
      compileStories("--scheme=affine:bits=4,group=32 "
                     "--overrides=down_proj=affine:bits=4,group=4");
  if (!package)
    GTEST_SKIP() << "no package: mixq-compile or stories260K.bin is missing, "
                    "or the compile failed";
  fake.major = 9;
  fake.minor = 0;
  auto executor = create(*package);
  ASSERT_TRUE(executor.ok()) << executor.message();
  EXPECT_EQ((*executor)->chip(), "sm_90");
  auto plans =
      parsePackagePlans(*package, [](const std::string &, const std::string &) {
        return Status::success();
      });
  ASSERT_TRUE(plans.ok()) << plans.message();
  auto target = parseCUDATarget(*package);
  ASSERT_TRUE(target.ok()) << target.message();

  // Every entry of every step, in launch order (split decode attention has
  // two entries).
  auto entriesOf = [&](const ParsedPlan &plan) {
    std::vector<std::pair<const PlanStep *, const KernelLaunchSpec *>> out;
    for (const PlanStep &step : plan.steps)
      for (const KernelLaunchSpec &spec : target->kernels.at(step.kernel))
        out.push_back({&step, &spec});
    return out;
  };
  std::vector<int32_t> prompt = {1, 403, 407, 261};
  ASSERT_TRUE((*executor)->prefill(prompt).ok());
  auto prefill = entriesOf(plans->prefill);
  ASSERT_EQ(fake.launches.size(), prefill.size());
  for (size_t i = 0; i < fake.launches.size(); ++i) {
    const PlanStep &step = *prefill[i].first;
    const KernelLaunchSpec &spec = *prefill[i].second;
    const LaunchRecord &l = fake.launches[i];
    EXPECT_EQ(l.entry, spec.entry);
    // The PTX entry takes exactly one parameter per binding, the workspace
    // if the kernel has one, plus S.
    size_t workspace = spec.workspaceBytes > 0 ? 1 : 0;
    EXPECT_EQ(fake.arity.at(l.entry), step.args.size() + workspace + 1)
        << step.kernel;
    EXPECT_EQ(l.params.back(), prompt.size());
    EXPECT_EQ(l.grid, *gridFor(spec, int64_t(prompt.size())));
    for (size_t a = 0; a < step.args.size(); ++a) {
      if (step.args[a].kind == PlanBinding::StartPos) {
        EXPECT_EQ(l.params[a], 0u);
      } else {
        EXPECT_NE(l.params[a], 0u);
      }
    }
  }

  auto decode = entriesOf(plans->decode);
  ASSERT_EQ(fake.nodes.size(), decode.size());
  size_t withStartPos = 0, splitEntries = 0;
  for (const auto &[step, spec] : decode) {
    splitEntries += spec->workspaceBytes > 0;
    for (const PlanBinding &b : step->args)
      if (b.kind == PlanBinding::StartPos) {
        ++withStartPos;
        break;
      }
  }
  ASSERT_GT(withStartPos, 0u);
  // stories260K's 512-row caches split decode attention: two entries, one
  // workspace.
  EXPECT_GT(splitEntries, 0u);
  fake.nodeUpdates.clear();
  ASSERT_TRUE((*executor)->decode(300).ok());
  EXPECT_EQ(fake.nodeUpdates.size(), withStartPos);
  for (const auto &[node, params] : fake.nodeUpdates) {
    const PlanStep &step = *decode[node].first;
    for (size_t a = 0; a < step.args.size(); ++a) {
      if (step.args[a].kind == PlanBinding::StartPos) {
        EXPECT_EQ(params[a], prompt.size());
      }
    }
  }
  EXPECT_EQ(fake.graphLaunches, 1u);
}

// A multi-width package (mixq-compile --widths): one decode graph per
// width, all instantiated at create; a width switch launches another graph
// whose nodes are that width's plan, over the same weights.
TEST_F(CUDAExecutorTest, MultiWidthPackageHasOneGraphPerWidth) {
  std::unique_ptr<Package> package =
      compileStories("--scheme=bitplane:seed=2,parent=4 --widths=4,3,2");
  if (!package)
    GTEST_SKIP() << "no package: mixq-compile or stories260K.bin is missing, "
                    "or the compile failed";
  fake.major = 9;
  fake.minor = 0;
  auto executor = create(*package);
  ASSERT_TRUE(executor.ok()) << executor.message();
  EXPECT_EQ(fake.count("cuGraphInstantiate"), 3u);
  ASSERT_EQ((*executor)->decodeWidths().size(), 3u);
  EXPECT_EQ((*executor)->decodeWidth(), 4);
  auto plans =
      parsePackagePlans(*package, [](const std::string &, const std::string &) {
        return Status::success();
      });
  ASSERT_TRUE(plans.ok()) << plans.message();
  auto target = parseCUDATarget(*package);
  ASSERT_TRUE(target.ok()) << target.message();
  auto entriesOf = [&](const ParsedPlan &plan) {
    std::vector<std::string> out;
    for (const PlanStep &step : plan.steps)
      for (const KernelLaunchSpec &spec : target->kernels.at(step.kernel))
        out.push_back(spec.entry);
    return out;
  };
  auto launchedEntries = [&](size_t from) {
    std::vector<std::string> out;
    for (size_t i = from; i < fake.launches.size(); ++i)
      out.push_back(fake.launches[i].entry);
    return out;
  };
  ASSERT_TRUE((*executor)->prefill({1, 403, 407}).ok());
  // Each width's graph launches that width's plan: its matmul kernels read
  // fewer planes, so they differ from the widest width's.
  for (size_t w : {size_t(0), size_t(2), size_t(1), size_t(0)}) {
    const DecodeWidthPlan &width = plans->decodeWidths[w];
    ASSERT_TRUE((*executor)->setDecodeWidth(width.info.width));
    EXPECT_EQ((*executor)->decodeWidth(), width.info.width);
    size_t before = fake.launches.size();
    ASSERT_TRUE((*executor)->decode(300).ok());
    EXPECT_EQ(fake.launchedGraphs.back(), w);
    EXPECT_EQ(launchedEntries(before), entriesOf(width.plan));
  }
  EXPECT_NE(entriesOf(plans->decodeWidths[0].plan),
            entriesOf(plans->decodeWidths[2].plan));
  Status missing = (*executor)->setDecodeWidth(1);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.message().find("its widths are 4, 3 and 2"),
            std::string::npos);
  EXPECT_EQ((*executor)->position(), 3 + 4);
}

} // namespace
