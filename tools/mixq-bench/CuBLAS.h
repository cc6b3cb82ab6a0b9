//===- CuBLAS.h - the few cuBLAS entry points mixq-bench needs --*- C++ -*-===//
//
// mixq-bench's fp16 baseline runs the package's matmul shapes through
// cublasGemmEx. Like libcuda, libcublas is dlopen'ed rather than linked:
// mixq-bench must start (and measure the CPU, or skip the baseline with a
// note) on machines without it, and runtime-only builds need no CUDA
// toolkit. The types and constants are declared here; CuBLASCheck.cpp
// checks them against cublas_api.h when the toolkit is at hand.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_TOOLS_MIXQ_BENCH_CUBLAS_H
#define MIXQ_TOOLS_MIXQ_BENCH_CUBLAS_H

#include "runtime/cuda/CUDADriver.h"
#include "support/Expected.h"

#include <string>
#include <vector>

namespace mixq::bench {

using cublasStatus_t = int;
using cublasHandle_t = struct cublasContext *;
using cublasOperation_t = int;
using cudaDataType = int;
using cublasComputeType_t = int;
using cublasGemmAlgo_t = int;

inline constexpr cublasStatus_t CUBLAS_STATUS_SUCCESS = 0;
inline constexpr cublasOperation_t CUBLAS_OP_N = 0;
inline constexpr cublasOperation_t CUBLAS_OP_T = 1;
inline constexpr cudaDataType CUDA_R_16F = 2;
inline constexpr cublasComputeType_t CUBLAS_COMPUTE_32F = 68;
inline constexpr cublasGemmAlgo_t CUBLAS_GEMM_DEFAULT = -1;

/// The entry points, by their cublas_v2.h names (the symbols are listed in
/// CuBLASEntries.def). A CUstream is a cudaStream_t.
struct CuBLASAPI {
  cublasStatus_t (*cublasCreate)(cublasHandle_t *) = nullptr;
  cublasStatus_t (*cublasDestroy)(cublasHandle_t) = nullptr;
  cublasStatus_t (*cublasSetStream)(cublasHandle_t,
                                    runtime::cuda::CUstream) = nullptr;
  cublasStatus_t (*cublasGemmEx)(cublasHandle_t, cublasOperation_t,
                                 cublasOperation_t, int, int, int, const void *,
                                 const void *, cudaDataType, int, const void *,
                                 cudaDataType, int, const void *, void *,
                                 cudaDataType, int, cublasComputeType_t,
                                 cublasGemmAlgo_t) = nullptr;
  /// Optional (cuBLAS 11.4.2+): null when the library lacks it.
  const char *(*cublasGetStatusString)(cublasStatus_t) = nullptr;
};

/// The libraries tried, in order: libcublas.so.12, libcublas.so.13,
/// libcublas.so, each also under $CUDA_HOME/lib64 and /usr/local/cuda/lib64
/// (toolkits are often not on the loader path); $MIXQ_CUBLAS first if set.
std::vector<std::string> cuBLASCandidates();

/// Loads the first of `candidates` that opens and resolves every entry
/// point. Errors: "cuBLAS not found (libcublas.so.12, libcublas.so.13,
/// libcublas.so; <dlerror of the first>): the baseline is skipped", or,
/// when a library opened but lacks an entry point, that one named.
Expected<CuBLASAPI> loadCuBLASFrom(const std::vector<std::string> &candidates);

/// loadCuBLASFrom(cuBLASCandidates()), once per process.
Expected<const CuBLASAPI *> loadCuBLAS();

/// "CUBLAS_STATUS_NOT_INITIALIZED" (the library's text when it has one).
std::string cuBLASErrorText(const CuBLASAPI &api, cublasStatus_t status);

} // namespace mixq::bench

#endif // MIXQ_TOOLS_MIXQ_BENCH_CUBLAS_H
