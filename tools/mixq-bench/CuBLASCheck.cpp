//===- CuBLASCheck.cpp - CuBLAS.h against cublas_api.h --------------------===//
//
// CuBLAS.h declares the few cuBLAS types and constants mixq-bench uses so
// that builds without the CUDA toolkit compile it. With the toolkit
// (MIXQ_ENABLE_CUDA) this file checks them, and every symbol name, against
// cublas_v2.h at compile time; it defines nothing.
//===----------------------------------------------------------------------===//
#include "tools/mixq-bench/CuBLAS.h"

#ifdef MIXQ_HAVE_CUBLAS_H
#include <string_view>

namespace ours = mixq::bench;

// Captured before cublas_v2.h, whose macros rename the member tokens.
namespace {
constexpr int kSuccess = ours::CUBLAS_STATUS_SUCCESS;
constexpr int kOpN = ours::CUBLAS_OP_N, kOpT = ours::CUBLAS_OP_T;
constexpr int kR16F = ours::CUDA_R_16F;
constexpr int kCompute32F = ours::CUBLAS_COMPUTE_32F;
constexpr int kGemmDefault = ours::CUBLAS_GEMM_DEFAULT;
} // namespace

#include <cublas_v2.h>

static_assert(sizeof(ours::cublasStatus_t) == sizeof(cublasStatus_t));
static_assert(sizeof(ours::cublasOperation_t) == sizeof(cublasOperation_t));
static_assert(sizeof(ours::cudaDataType) == sizeof(cudaDataType));
static_assert(sizeof(ours::cublasComputeType_t) == sizeof(cublasComputeType_t));
static_assert(sizeof(ours::cublasGemmAlgo_t) == sizeof(cublasGemmAlgo_t));
static_assert(kSuccess == CUBLAS_STATUS_SUCCESS);
static_assert(kOpN == CUBLAS_OP_N && kOpT == CUBLAS_OP_T);
static_assert(kR16F == CUDA_R_16F);
static_assert(kCompute32F == CUBLAS_COMPUTE_32F);
static_assert(kGemmDefault == CUBLAS_GEMM_DEFAULT);

#define MIXQ_STRINGIFY_EXPANDED(x) MIXQ_STRINGIFY(x)
#define MIXQ_STRINGIFY(x) #x
#define MIXQ_CUBLAS_ENTRY(member, symbol)                                      \
  static_assert(std::string_view(MIXQ_STRINGIFY_EXPANDED(member)) ==           \
                    std::string_view(symbol),                                  \
                "CuBLASEntries.def: the symbol of " #member                    \
                " is not the one cublas_v2.h maps it to");
#include "tools/mixq-bench/CuBLASEntries.def"
#undef MIXQ_CUBLAS_ENTRY
#endif // MIXQ_HAVE_CUBLAS_H
