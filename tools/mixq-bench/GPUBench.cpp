//===- GPUBench.cpp - mixq-bench's device measurements --------------------===//
#include "tools/mixq-bench/GPUBench.h"

#include "runtime/cuda/UtilityKernels.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>

namespace mixq::bench {

using namespace runtime::cuda;

namespace {

Status check(const CUDADriverAPI &cu, CUresult result,
             const std::string &what) {
  if (result == CUDA_SUCCESS)
    return Status::success();
  return makeError(what, ": ", errorText(cu, result));
}

/// Device memory freed at the end of its scope.
struct DeviceBuffer {
  const CUDADriverAPI &cu;
  CUdeviceptr address = 0;
  explicit DeviceBuffer(const CUDADriverAPI &cu) : cu(cu) {}
  DeviceBuffer(const DeviceBuffer &) = delete;
  ~DeviceBuffer() {
    if (address)
      (void)cu.cuMemFree(address);
  }
  Status allocate(uint64_t bytes, const std::string &what) {
    if (Status st =
            check(cu, cu.cuMemAlloc(&address, std::max<uint64_t>(bytes, 256)),
                  "cuMemAlloc (" + what + ")");
        !st) {
      address = 0;
      return st;
    }
    return Status::success();
  }
};

/// A start and a stop event on one stream.
struct Timer {
  const CUDADriverAPI &cu;
  CUstream stream;
  CUevent start = nullptr, stop = nullptr;
  Timer(const CUDADriverAPI &cu, CUstream stream) : cu(cu), stream(stream) {}
  Timer(const Timer &) = delete;
  ~Timer() {
    for (CUevent e : {start, stop})
      if (e)
        (void)cu.cuEventDestroy(e);
  }
  Status create() {
    for (CUevent *e : {&start, &stop})
      if (Status st =
              check(cu, cu.cuEventCreate(e, CU_EVENT_DEFAULT), "cuEventCreate");
          !st)
        return st;
    return Status::success();
  }
  Status begin() {
    return check(cu, cu.cuEventRecord(start, stream), "cuEventRecord");
  }
  /// The mean milliseconds of `op(i)` over i = 0 .. repetitions - 1, after
  /// an untimed warm-up call op(-1); `prepare(i)`, when given, runs before
  /// each call outside the timed range (an L2 flush).
  Expected<double> meanMs(int repetitions, const std::function<Status(int)> &op,
                          const std::function<Status(int)> &prepare = {}) {
    double total = 0;
    for (int i = -1; i < repetitions; ++i) {
      if (prepare)
        if (Status st = prepare(i); !st)
          return st;
      if (Status st = begin(); !st)
        return st;
      if (Status st = op(i); !st)
        return st;
      auto ms = end();
      if (!ms)
        return ms.status();
      if (i >= 0)
        total += *ms;
    }
    return total / std::max(repetitions, 1);
  }
  /// Records the stop, waits for it and returns the milliseconds between.
  Expected<double> end() {
    if (Status st = check(cu, cu.cuEventRecord(stop, stream), "cuEventRecord");
        !st)
      return st;
    if (Status st =
            check(cu, cu.cuEventSynchronize(stop), "cuEventSynchronize");
        !st)
      return st;
    float ms = 0;
    if (Status st = check(cu, cu.cuEventElapsedTime(&ms, start, stop),
                          "cuEventElapsedTime");
        !st)
      return st;
    return double(ms);
  }
};

/// Fills `bytes` of device memory with random fp16 values in [-1, 1),
/// copying one host pattern repeatedly (pageable memory: each copy returns
/// once the driver has taken the bytes).
Status fillRandomHalves(const CUDADriverAPI &cu, CUstream stream,
                        CUdeviceptr address, uint64_t bytes) {
  std::vector<uint16_t> pattern(size_t(std::min<uint64_t>(bytes, 8 << 20) / 2));
  uint64_t state = 0x243F6A8885A308D3ull;
  for (uint16_t &h : pattern) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    // Sign, an exponent of 2^-8 .. 2^-1, a random mantissa.
    h = uint16_t(((state >> 63) << 15) | ((7 + (state >> 60) % 8) << 10) |
                 ((state >> 40) & 0x3FF));
  }
  uint64_t chunk = pattern.size() * 2;
  for (uint64_t done = 0; done < bytes && chunk; done += chunk)
    if (Status st =
            check(cu,
                  cu.cuMemcpyHtoDAsync(address + done, pattern.data(),
                                       std::min(chunk, bytes - done), stream),
                  "cuMemcpyHtoDAsync (cuBLAS operands)");
        !st)
      return st;
  return check(cu, cu.cuStreamSynchronize(stream), "cuStreamSynchronize");
}

/// Overwrites `bytes` of scratch before a timed call, so that its operands
/// come from DRAM as in a real decode step (a weight of a few MB would
/// otherwise stay in a 50 MB L2); a different byte each call.
std::function<Status(int)> flushL2(const CUDADriverAPI &cu, CUstream stream,
                                   CUdeviceptr scratch, uint64_t bytes) {
  return [&cu, stream, scratch, bytes](int call) {
    return check(cu, cu.cuMemsetD8Async(scratch, uint8_t(call), bytes, stream),
                 "cuMemsetD8Async (L2 flush)");
  };
}

/// The cuBLAS handle, destroyed at the end of its scope.
struct Handle {
  const CuBLASAPI &blas;
  cublasHandle_t handle = nullptr;
  explicit Handle(const CuBLASAPI &blas) : blas(blas) {}
  Handle(const Handle &) = delete;
  ~Handle() {
    if (handle)
      (void)blas.cublasDestroy(handle);
  }
};

Status blasCheck(const CuBLASAPI &blas, cublasStatus_t status,
                 const std::string &what) {
  if (status == CUBLAS_STATUS_SUCCESS)
    return Status::success();
  return makeError("cuBLAS: ", what, ": ", cuBLASErrorText(blas, status));
}

/// Y = X W^T in cuBLAS's column-major terms: C[N x M] = op(A)[N x K] B[K x
/// M] with A = W stored [N][K] (so op = T, lda = K) and B = X stored
/// [M][K] (ldb = K); C is Y stored [M][N] (ldc = N).
cublasStatus_t gemm(const CuBLASAPI &blas, cublasHandle_t handle,
                    const GemmShape &s, CUdeviceptr w, CUdeviceptr x,
                    CUdeviceptr y) {
  const float one = 1.0f, zero = 0.0f;
  return blas.cublasGemmEx(
      handle, CUBLAS_OP_T, CUBLAS_OP_N, int(s.n), int(s.m), int(s.k), &one,
      reinterpret_cast<const void *>(w), CUDA_R_16F, int(s.k),
      reinterpret_cast<const void *>(x), CUDA_R_16F, int(s.k), &zero,
      reinterpret_cast<void *>(y), CUDA_R_16F, int(s.n), CUBLAS_COMPUTE_32F,
      CUBLAS_GEMM_DEFAULT);
}

std::string shapeText(const GemmShape &s) {
  return "M=" + std::to_string(s.m) + ", N=" + std::to_string(s.n) +
         ", K=" + std::to_string(s.k);
}

} // namespace

uint64_t copyBufferBytes(uint64_t freeBytes) {
  uint64_t bytes = uint64_t(256) << 20;
  while (bytes > (uint64_t(1) << 20) && 4 * bytes > freeBytes)
    bytes /= 2;
  return bytes;
}

Expected<MeanSd> measureCopyBandwidth(const CUDADriverAPI &cu, CUstream stream,
                                      uint64_t bytes, int repetitions) {
  DeviceBuffer source(cu), target(cu);
  if (Status st = source.allocate(bytes, "copy bandwidth"); !st)
    return st;
  if (Status st = target.allocate(bytes, "copy bandwidth"); !st)
    return st;
  if (Status st =
          check(cu, cu.cuMemsetD8Async(source.address, 0x5A, bytes, stream),
                "cuMemsetD8Async");
      !st)
    return st;
  Timer timer(cu, stream);
  if (Status st = timer.create(); !st)
    return st;
  std::vector<double> rates;
  for (int i = -1; i < repetitions; ++i) { // i = -1: the warm-up
    if (Status st = timer.begin(); !st)
      return st;
    if (Status st = check(
            cu,
            cu.cuMemcpyDtoDAsync(target.address, source.address, bytes, stream),
            "cuMemcpyDtoDAsync");
        !st)
      return st;
    auto ms = timer.end();
    if (!ms)
      return ms.status();
    if (i >= 0 && *ms > 0)
      rates.push_back(2.0 * double(bytes) / (*ms * 1e-3) / 1e9);
  }
  if (rates.empty())
    return makeError("the copy-bandwidth events measured no time");
  return meanSd(rates);
}

Expected<std::vector<double>>
timeCuBLASGemms(const CUDADriverAPI &cu, const CuBLASAPI &blas, CUstream stream,
                const std::vector<GemmShape> &shapes, int repetitions,
                uint64_t flushBytes) {
  uint64_t wBytes = 0, xBytes = 0, yBytes = 0;
  for (const GemmShape &s : shapes) {
    wBytes = std::max<uint64_t>(wBytes, uint64_t(s.n * s.k) * 2);
    xBytes = std::max<uint64_t>(xBytes, uint64_t(s.m * s.k) * 2);
    yBytes = std::max<uint64_t>(yBytes, uint64_t(s.m * s.n) * 2);
  }
  DeviceBuffer w(cu), x(cu), y(cu), flush(cu);
  for (auto [buffer, bytes] :
       {std::pair{&w, wBytes}, std::pair{&x, xBytes}, std::pair{&y, yBytes},
        std::pair{&flush, flushBytes}})
    if (Status st = buffer->allocate(bytes, "cuBLAS baseline"); !st)
      return st;
  for (auto [buffer, bytes] : {std::pair{&w, wBytes}, std::pair{&x, xBytes}})
    if (Status st = fillRandomHalves(cu, stream, buffer->address, bytes); !st)
      return st;
  Handle handle(blas);
  if (Status st =
          blasCheck(blas, blas.cublasCreate(&handle.handle), "cublasCreate");
      !st) {
    handle.handle = nullptr;
    return st;
  }
  if (Status st = blasCheck(blas, blas.cublasSetStream(handle.handle, stream),
                            "cublasSetStream");
      !st)
    return st;
  Timer timer(cu, stream);
  if (Status st = timer.create(); !st)
    return st;
  std::vector<double> out;
  for (const GemmShape &s : shapes) {
    auto ms = timer.meanMs(
        repetitions,
        [&](int) {
          return blasCheck(
              blas,
              gemm(blas, handle.handle, s, w.address, x.address, y.address),
              "cublasGemmEx (" + shapeText(s) + ")");
        },
        flushL2(cu, stream, flush.address, flushBytes));
    if (!ms)
      return ms.status();
    out.push_back(*ms);
  }
  return out;
}

namespace {

/// The utility module and its read kernel, unloaded at the end of scope.
struct ReadKernel {
  const CUDADriverAPI &cu;
  CUmodule module = nullptr;
  CUfunction function = nullptr;
  explicit ReadKernel(const CUDADriverAPI &cu) : cu(cu) {}
  ReadKernel(const ReadKernel &) = delete;
  ~ReadKernel() {
    if (module)
      (void)cu.cuModuleUnload(module);
  }
  Status load() {
    return loadUtilityKernel(cu, kReadBytesEntry, module, function);
  }
};

/// One launch of mixq_read_bytes over `bytes` at `src`: its parameters
/// (kept alive here for cuLaunchKernel and graph nodes) and grid.
struct ReadLaunch {
  CUdeviceptr src = 0, sink = 0;
  uint64_t vectors = 0;
  void *params[3] = {&src, &vectors, &sink};
  unsigned blocks = 1;
  ReadLaunch(CUdeviceptr src, uint64_t bytes, CUdeviceptr sink)
      : src(src), sink(sink), vectors((bytes + 15) / 16) {
    uint64_t perBlock = uint64_t(kUtilityBlock) * kReadVectorsPerThread;
    blocks =
        unsigned(std::max<uint64_t>((vectors + perBlock - 1) / perBlock, 1));
  }
  ReadLaunch(const ReadLaunch &) = delete;
  CUDA_KERNEL_NODE_PARAMS node(CUfunction f) {
    return {f, blocks, 1,      1,       kUtilityBlock, 1,
            1, 0,      params, nullptr, nullptr,       nullptr};
  }
};

/// Launches in a graph for a read of `bytes`: enough that the buffers far
/// exceed any L2 (512 MiB together), 8 to 64 (the decode step's scale),
/// and at least 2 within half of the free memory.
int graphLaunchesFor(uint64_t bytes, uint64_t freeBytes) {
  uint64_t launches =
      std::clamp<uint64_t>((uint64_t(512) << 20) / bytes, 8, 64);
  while (launches > 2 && launches * bytes > freeBytes / 2)
    --launches;
  return int(launches);
}

/// The graph of `launches` back-to-back reads, destroyed with its scope.
struct ReadGraph {
  const CUDADriverAPI &cu;
  CUgraph graph = nullptr;
  CUgraphExec exec = nullptr;
  explicit ReadGraph(const CUDADriverAPI &cu) : cu(cu) {}
  ReadGraph(const ReadGraph &) = delete;
  ~ReadGraph() {
    if (exec)
      (void)cu.cuGraphExecDestroy(exec);
    if (graph)
      (void)cu.cuGraphDestroy(graph);
  }
  Status build(CUfunction f, std::vector<std::unique_ptr<ReadLaunch>> &reads) {
    if (Status st = check(cu, cu.cuGraphCreate(&graph, 0), "cuGraphCreate");
        !st)
      return st;
    CUgraphNode previous = nullptr;
    for (auto &read : reads) {
      CUDA_KERNEL_NODE_PARAMS params = read->node(f);
      CUgraphNode node = nullptr;
      if (Status st = check(cu,
                            cu.cuGraphAddKernelNode(&node, graph, &previous,
                                                    previous ? 1 : 0, &params),
                            "cuGraphAddKernelNode (read ceiling)");
          !st)
        return st;
      previous = node;
    }
    return check(cu, cu.cuGraphInstantiate(&exec, graph, 0),
                 "cuGraphInstantiate (read ceiling)");
  }
};

Expected<ReadCeiling> measureReadCeiling(const CUDADriverAPI &cu,
                                         CUstream stream, CUfunction f,
                                         uint64_t bytes, int repetitions,
                                         CUdeviceptr flush, uint64_t flushBytes,
                                         CUdeviceptr sink) {
  size_t freeBytes = 0, totalBytes = 0;
  if (Status st =
          check(cu, cu.cuMemGetInfo(&freeBytes, &totalBytes), "cuMemGetInfo");
      !st)
    return st;
  ReadCeiling out;
  out.bytes = bytes;
  out.graphLaunches = graphLaunchesFor(bytes, freeBytes);
  uint64_t stride = (bytes + 255) / 256 * 256;
  DeviceBuffer pool(cu);
  if (Status st =
          pool.allocate(stride * uint64_t(out.graphLaunches), "read ceiling");
      !st)
    return st;
  if (Status st = check(cu,
                        cu.cuMemsetD8Async(pool.address, 0x5A,
                                           stride * uint64_t(out.graphLaunches),
                                           stream),
                        "cuMemsetD8Async (read ceiling)");
      !st)
    return st;
  std::vector<std::unique_ptr<ReadLaunch>> reads;
  for (int i = 0; i < out.graphLaunches; ++i)
    reads.push_back(std::make_unique<ReadLaunch>(
        pool.address + stride * uint64_t(i), bytes, sink));
  Timer timer(cu, stream);
  if (Status st = timer.create(); !st)
    return st;
  auto alone = timer.meanMs(
      repetitions,
      [&](int call) {
        ReadLaunch &read = *reads[size_t(call + 1) % reads.size()];
        return check(cu,
                     cu.cuLaunchKernel(f, read.blocks, 1, 1, kUtilityBlock, 1,
                                       1, 0, stream, read.params, nullptr),
                     "cuLaunchKernel (read ceiling)");
      },
      flushL2(cu, stream, flush, flushBytes));
  if (!alone)
    return alone.status();
  out.aloneMs = *alone;
  ReadGraph graph(cu);
  if (Status st = graph.build(f, reads); !st)
    return st;
  auto perGraph = timer.meanMs(repetitions, [&](int) {
    return check(cu, cu.cuGraphLaunch(graph.exec, stream),
                 "cuGraphLaunch (read ceiling)");
  });
  if (!perGraph)
    return perGraph.status();
  out.graphMs = *perGraph / out.graphLaunches;
  return out;
}

} // namespace

Expected<std::vector<ReadCeiling>>
measureReadCeilings(const CUDADriverAPI &cu, CUstream stream,
                    const std::vector<uint64_t> &sizes, int repetitions,
                    uint64_t flushBytes) {
  ReadKernel kernel(cu);
  if (Status st = kernel.load(); !st)
    return st;
  DeviceBuffer flush(cu), sink(cu);
  if (Status st = flush.allocate(flushBytes, "L2 flush"); !st)
    return st;
  if (Status st = sink.allocate(256, "read ceiling"); !st)
    return st;
  std::vector<ReadCeiling> out;
  repetitions = std::max(repetitions, 1);
  for (uint64_t bytes : sizes) {
    if (bytes == 0)
      continue;
    auto ceiling =
        measureReadCeiling(cu, stream, kernel.function, bytes, repetitions,
                           flush.address, flushBytes, sink.address);
    if (!ceiling)
      return makeError("read ceiling of ", runtime::formatByteSize(bytes), ": ",
                       ceiling.message());
    out.push_back(*ceiling);
  }
  return out;
}

} // namespace mixq::bench
