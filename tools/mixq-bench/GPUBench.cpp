//===- GPUBench.cpp - mixq-bench's device measurements --------------------===//
#include "tools/mixq-bench/GPUBench.h"

#include <algorithm>
#include <cstring>

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
    double total = 0;
    for (int i = -1; i < repetitions; ++i) { // i = -1: the warm-up
      if (Status st = check(
              cu,
              cu.cuMemsetD8Async(flush.address, uint8_t(i), flushBytes, stream),
              "cuMemsetD8Async (L2 flush)");
          !st)
        return st;
      if (Status st = timer.begin(); !st)
        return st;
      if (Status st = blasCheck(
              blas,
              gemm(blas, handle.handle, s, w.address, x.address, y.address),
              "cublasGemmEx (" + shapeText(s) + ")");
          !st)
        return st;
      auto ms = timer.end();
      if (!ms)
        return ms.status();
      if (i >= 0)
        total += *ms;
    }
    out.push_back(total / std::max(repetitions, 1));
  }
  return out;
}

} // namespace mixq::bench
