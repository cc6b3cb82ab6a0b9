//===- GPUBenchTest.cpp - mixq-bench's device side against fakes ----------===//
//
// No GPU: a fake driver table whose "device" memory is host memory and
// whose events read a fake clock that copies and GEMMs advance, and a fake
// cuBLAS table that records every cublasGemmEx. Checks the copy-bandwidth
// arithmetic, the GEMM arguments for Y = X W^T, the L2 flush between timed
// calls, the error texts, and the cuBLAS loader's messages.
//===----------------------------------------------------------------------===//
#include "tools/mixq-bench/GPUBench.h"
#include "tools/mixq-bench/CuBLAS.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>

using namespace mixq;
using namespace mixq::bench;
using namespace mixq::runtime::cuda;

namespace {

struct GemmCall {
  int transa, transb, m, n, k, lda, ldb, ldc;
  int atype, btype, ctype, compute, algo;
  float alpha, beta;
};

struct Fake {
  double clock = 0;    ///< ms
  double copyMs = 0.5; ///< per cuMemcpyDtoDAsync
  std::map<CUevent, double> events;
  std::map<uintptr_t, size_t> memory;
  std::vector<std::string> calls;
  std::vector<size_t> copies, memsets;
  size_t allocated = 0;
  cublasStatus_t createStatus = CUBLAS_STATUS_SUCCESS;
  cublasStatus_t gemmStatus = CUBLAS_STATUS_SUCCESS;
  std::vector<GemmCall> gemms;
  CUstream blasStream = nullptr;
  bool handleLive = false;
  ~Fake() {
    for (auto &[p, size] : memory)
      std::free(reinterpret_cast<void *>(p));
  }
};

Fake *fake = nullptr;

CUDADriverAPI fakeDriver() {
  CUDADriverAPI d;
  d.cuGetErrorName = [](CUresult r, const char **out) {
    *out = r == 2 ? "CUDA_ERROR_OUT_OF_MEMORY" : "CUDA_ERROR_UNKNOWN";
    return CUDA_SUCCESS;
  };
  d.cuMemAlloc = [](CUdeviceptr *p, size_t bytes) {
    if (fake->allocated + bytes > (size_t(64) << 20))
      return CUDA_ERROR_OUT_OF_MEMORY;
    void *memory = std::malloc(bytes);
    fake->memory[reinterpret_cast<uintptr_t>(memory)] = bytes;
    fake->allocated += bytes;
    *p = reinterpret_cast<uintptr_t>(memory);
    return CUDA_SUCCESS;
  };
  d.cuMemFree = [](CUdeviceptr p) {
    fake->allocated -= fake->memory.at(p);
    fake->memory.erase(p);
    std::free(reinterpret_cast<void *>(p));
    return CUDA_SUCCESS;
  };
  d.cuMemsetD8Async = [](CUdeviceptr p, unsigned char v, size_t n, CUstream) {
    fake->memsets.push_back(n);
    std::memset(reinterpret_cast<void *>(p), v, n);
    return CUDA_SUCCESS;
  };
  d.cuMemcpyHtoDAsync = [](CUdeviceptr p, const void *src, size_t n, CUstream) {
    EXPECT_LE(n, fake->memory.at(p)) << "copies start at an allocation";
    std::memcpy(reinterpret_cast<void *>(p), src, n);
    return CUDA_SUCCESS;
  };
  d.cuMemcpyDtoDAsync = [](CUdeviceptr dst, CUdeviceptr src, size_t n,
                           CUstream) {
    fake->copies.push_back(n);
    std::memcpy(reinterpret_cast<void *>(dst),
                reinterpret_cast<const void *>(src), n);
    fake->clock += fake->copyMs;
    return CUDA_SUCCESS;
  };
  d.cuStreamSynchronize = [](CUstream) { return CUDA_SUCCESS; };
  d.cuEventCreate = [](CUevent *e, unsigned flags) {
    EXPECT_EQ(flags, CU_EVENT_DEFAULT) << "timing events";
    static uintptr_t next = 0x100;
    *e = reinterpret_cast<CUevent>(++next);
    return CUDA_SUCCESS;
  };
  d.cuEventRecord = [](CUevent e, CUstream) {
    fake->events[e] = fake->clock;
    return CUDA_SUCCESS;
  };
  d.cuEventSynchronize = [](CUevent) { return CUDA_SUCCESS; };
  d.cuEventElapsedTime = [](float *ms, CUevent a, CUevent b) {
    *ms = float(fake->events.at(b) - fake->events.at(a));
    return CUDA_SUCCESS;
  };
  d.cuEventDestroy = [](CUevent) { return CUDA_SUCCESS; };
  return d;
}

CuBLASAPI fakeBLAS() {
  CuBLASAPI b;
  b.cublasCreate = [](cublasHandle_t *h) {
    if (fake->createStatus != CUBLAS_STATUS_SUCCESS)
      return fake->createStatus;
    fake->handleLive = true;
    *h = reinterpret_cast<cublasHandle_t>(0x900);
    return CUBLAS_STATUS_SUCCESS;
  };
  b.cublasDestroy = [](cublasHandle_t) {
    fake->handleLive = false;
    return CUBLAS_STATUS_SUCCESS;
  };
  b.cublasSetStream = [](cublasHandle_t, CUstream s) {
    fake->blasStream = s;
    return CUBLAS_STATUS_SUCCESS;
  };
  b.cublasGemmEx = [](cublasHandle_t, cublasOperation_t ta,
                      cublasOperation_t tb, int m, int n, int k,
                      const void *alpha, const void *, cudaDataType at, int lda,
                      const void *, cudaDataType bt, int ldb, const void *beta,
                      void *, cudaDataType ct, int ldc,
                      cublasComputeType_t compute, cublasGemmAlgo_t algo) {
    if (fake->gemmStatus != CUBLAS_STATUS_SUCCESS)
      return fake->gemmStatus;
    fake->gemms.push_back({ta, tb, m, n, k, lda, ldb, ldc, at, bt, ct, compute,
                           algo, *static_cast<const float *>(alpha),
                           *static_cast<const float *>(beta)});
    fake->clock += double(m) * n * k * 1e-6; // 1 ms per 10^6 MACs
    return CUBLAS_STATUS_SUCCESS;
  };
  b.cublasGetStatusString = [](cublasStatus_t s) -> const char * {
    return s == 1 ? "CUBLAS_STATUS_NOT_INITIALIZED" : nullptr;
  };
  return b;
}

class GPUBenchTest : public ::testing::Test {
protected:
  void SetUp() override { fake = &state; }
  void TearDown() override { fake = nullptr; }
  Fake state;
  CUDADriverAPI driver = fakeDriver();
  CuBLASAPI blas = fakeBLAS();
  CUstream stream = reinterpret_cast<CUstream>(0x77);
};

TEST_F(GPUBenchTest, CopyBandwidthCountsReadAndWrite) {
  auto bw = measureCopyBandwidth(driver, stream, 1 << 20, 3);
  ASSERT_TRUE(bw.ok()) << bw.message();
  // A warm-up and three timed copies of 1 MiB, 0.5 ms each.
  EXPECT_EQ(state.copies, (std::vector<size_t>(4, 1 << 20)));
  EXPECT_NEAR(bw->mean, 2.0 * (1 << 20) / 0.5e-3 / 1e9, 1e-9);
  EXPECT_NEAR(bw->sd, 0.0, 1e-9);
  EXPECT_TRUE(state.memory.empty()) << "both buffers freed";
  EXPECT_EQ(copyBufferBytes(uint64_t(80) << 30), uint64_t(256) << 20);
  EXPECT_EQ(copyBufferBytes(uint64_t(512) << 20), uint64_t(128) << 20);
}

TEST_F(GPUBenchTest, CopyBandwidthOutOfMemoryIsNamed) {
  auto bw = measureCopyBandwidth(driver, stream, 48 << 20, 1);
  ASSERT_FALSE(bw.ok());
  EXPECT_EQ(bw.message(),
            "cuMemAlloc (copy bandwidth): CUDA_ERROR_OUT_OF_MEMORY");
  EXPECT_TRUE(state.memory.empty());
}

TEST_F(GPUBenchTest, GemmsComputeXTimesWTransposedInFp16) {
  std::vector<GemmShape> shapes = {{1, 64, 32}, {8, 64, 32}};
  auto times = timeCuBLASGemms(driver, blas, stream, shapes, 2, 4096);
  ASSERT_TRUE(times.ok()) << times.message();
  ASSERT_EQ(times->size(), 2u);
  // 1 ms per 10^6 multiply-adds in the fake.
  EXPECT_NEAR((*times)[0], 1 * 64 * 32 * 1e-6, 1e-9);
  EXPECT_NEAR((*times)[1], 8 * 64 * 32 * 1e-6, 1e-9);
  ASSERT_EQ(state.gemms.size(), 6u) << "a warm-up and 2 runs per shape";
  const GemmCall &g = state.gemms[3];
  // Column-major C[N x M] = W^T-as-stored [N x K] * X [K x M].
  EXPECT_EQ(g.transa, CUBLAS_OP_T);
  EXPECT_EQ(g.transb, CUBLAS_OP_N);
  EXPECT_EQ(g.m, 64);
  EXPECT_EQ(g.n, 8);
  EXPECT_EQ(g.k, 32);
  EXPECT_EQ(g.lda, 32);
  EXPECT_EQ(g.ldb, 32);
  EXPECT_EQ(g.ldc, 64);
  EXPECT_EQ(g.atype, CUDA_R_16F);
  EXPECT_EQ(g.btype, CUDA_R_16F);
  EXPECT_EQ(g.ctype, CUDA_R_16F);
  EXPECT_EQ(g.compute, CUBLAS_COMPUTE_32F);
  EXPECT_EQ(g.algo, CUBLAS_GEMM_DEFAULT);
  EXPECT_EQ(g.alpha, 1.0f);
  EXPECT_EQ(g.beta, 0.0f);
  EXPECT_EQ(state.blasStream, stream) << "on the executor's stream";
  // The L2 is flushed before every call (warm-up included).
  EXPECT_EQ(std::count(state.memsets.begin(), state.memsets.end(), 4096u), 6);
  EXPECT_FALSE(state.handleLive);
  EXPECT_TRUE(state.memory.empty());
}

TEST_F(GPUBenchTest, CuBLASFailuresAreNamed) {
  state.createStatus = 1;
  auto created = timeCuBLASGemms(driver, blas, stream, {{1, 8, 8}}, 1, 256);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.message(),
            "cuBLAS: cublasCreate: CUBLAS_STATUS_NOT_INITIALIZED");
  state.createStatus = CUBLAS_STATUS_SUCCESS;
  state.gemmStatus = 13;
  auto gemm = timeCuBLASGemms(driver, blas, stream, {{512, 64, 128}}, 1, 256);
  ASSERT_FALSE(gemm.ok());
  EXPECT_EQ(gemm.message(), "cuBLAS: cublasGemmEx (M=512, N=64, K=128): "
                            "cuBLAS status 13");
  EXPECT_TRUE(state.memory.empty());
}

TEST(CuBLASTest, MissingLibraryIsReportedWithTheNamesTried) {
  auto none =
      loadCuBLASFrom({"libmixq-no-cublas.so.12", "libmixq-no-cublas.so.13",
                      "/nowhere/libmixq-no-cublas.so.12"});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.message().rfind("cuBLAS not found (libmixq-no-cublas.so.12, "
                                 "libmixq-no-cublas.so.13; "
                                 "libmixq-no-cublas.so.12: cannot open",
                                 0),
            0u)
      << none.message();
  std::string tail = ": the baseline is skipped";
  EXPECT_EQ(none.message().substr(none.message().size() - tail.size()), tail);
  auto wrong = loadCuBLASFrom({"libm.so.6"});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.message(), "libm.so.6 has no cublasCreate_v2 (cuBLAS 11 or "
                             "newer is needed): the baseline is skipped");
}

TEST(CuBLASTest, CandidatesPreferCUDA12ThenAnyOnThePathThenTheToolkit) {
  ::unsetenv("MIXQ_CUBLAS");
  std::vector<std::string> names = cuBLASCandidates();
  ASSERT_GE(names.size(), 6u);
  EXPECT_EQ(names[0], "libcublas.so.12");
  EXPECT_EQ(names[1], "libcublas.so.13");
  EXPECT_EQ(names[2], "libcublas.so");
  EXPECT_EQ(names.back(), "/usr/local/cuda/lib64/libcublas.so");
  ::setenv("MIXQ_CUBLAS", "/opt/x/libcublas.so.12", 1);
  EXPECT_EQ(cuBLASCandidates()[0], "/opt/x/libcublas.so.12");
  ::unsetenv("MIXQ_CUBLAS");
  EXPECT_EQ(cuBLASErrorText(CuBLASAPI(), 7), "cuBLAS status 7");
}

} // namespace
