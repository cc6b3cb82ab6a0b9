//===- CUDAMeasureTest.cpp - mixq-bench's CUDA path on a fake GPU ---------===//
//
// The whole CUDA side of a mixq-bench run without a GPU: the CUDA executor
// is created on the small test package with --dummy-weights' filler, then
// the pp/tg tests and measureCUDA run against a fake driver (host memory,
// a fake clock that kernel launches and copies advance, events reading it)
// and a fake cuBLAS. Checks what the report is built from: the copy, the
// per-kernel rows and their bytes, the GEMM rows, the estimates, and that a
// missing cuBLAS skips only the baseline.
//===----------------------------------------------------------------------===//
#include "tools/mixq-bench/CUDAMeasure.h"
#include "BenchTestPackage.h"
#include "runtime/cuda/CUDAExecutor.h"
#include "tools/mixq-bench/BenchRun.h"
#include "tools/mixq-bench/DummyWeights.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>

using namespace mixq;
using namespace mixq::bench;
using namespace mixq::bench::test;
using namespace mixq::runtime::cuda;

namespace {

struct FakeGPU {
  double clock = 0; ///< ms
  std::map<std::string, double> kernelMs = {{"decode_k0_embed", 0.001},
                                            {"decode_k1_matmul", 0.004},
                                            {"decode_k2_attention", 0.002},
                                            {"decode_k4_logits", 0.003},
                                            {"mixq_read_bytes", 0.0005}};
  double copyMsPerMiB = 0.001;
  std::vector<std::string> functions;
  std::map<CUevent, double> events;
  std::map<uintptr_t, size_t> memory;
  size_t eagerLaunches = 0, graphLaunches = 0, gemms = 0;
  ~FakeGPU() {
    for (auto &[p, size] : memory)
      std::free(reinterpret_cast<void *>(p));
  }
  uintptr_t allocate(size_t bytes) {
    void *p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
    memory[reinterpret_cast<uintptr_t>(p)] = bytes;
    return reinterpret_cast<uintptr_t>(p);
  }
  CUresult release(uintptr_t p) {
    if (!memory.erase(p))
      return 1;
    std::free(reinterpret_cast<void *>(p));
    return CUDA_SUCCESS;
  }
};

FakeGPU *gpu = nullptr;

template <typename T> T handle(uintptr_t v) { return reinterpret_cast<T>(v); }

void deviceEntries(CUDADriverAPI &d) {
  d.cuInit = [](unsigned) { return CUDA_SUCCESS; };
  d.cuDeviceGetCount = [](int *n) {
    *n = 1;
    return CUDA_SUCCESS;
  };
  d.cuDeviceGet = [](CUdevice *dev, int i) {
    *dev = i;
    return CUDA_SUCCESS;
  };
  d.cuDeviceGetName = [](char *out, int n, CUdevice) {
    std::snprintf(out, size_t(n), "Fake H200");
    return CUDA_SUCCESS;
  };
  d.cuDeviceGetAttribute = [](int *v, CUdevice_attribute a, CUdevice) {
    *v = a == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR ? 9 : 0;
    return CUDA_SUCCESS;
  };
  d.cuDevicePrimaryCtxRetain = [](CUcontext *c, CUdevice) {
    *c = handle<CUcontext>(0x10);
    return CUDA_SUCCESS;
  };
  d.cuDevicePrimaryCtxRelease = [](CUdevice) { return CUDA_SUCCESS; };
  d.cuCtxSetCurrent = [](CUcontext) { return CUDA_SUCCESS; };
  d.cuStreamCreate = [](CUstream *s, unsigned) {
    *s = handle<CUstream>(0x20);
    return CUDA_SUCCESS;
  };
  d.cuStreamDestroy = [](CUstream) { return CUDA_SUCCESS; };
  d.cuStreamSynchronize = [](CUstream) { return CUDA_SUCCESS; };
}

void moduleEntries(CUDADriverAPI &d) {
  d.cuModuleLoadDataEx = [](CUmodule *m, const void *, unsigned, CUjit_option *,
                            void **) {
    *m = handle<CUmodule>(0x30);
    return CUDA_SUCCESS;
  };
  d.cuModuleUnload = [](CUmodule) { return CUDA_SUCCESS; };
  d.cuModuleGetFunction = [](CUfunction *f, CUmodule, const char *name) {
    gpu->functions.push_back(name);
    *f = handle<CUfunction>(gpu->functions.size());
    return CUDA_SUCCESS;
  };
  d.cuLaunchKernel = [](CUfunction f, unsigned, unsigned, unsigned, unsigned,
                        unsigned, unsigned, unsigned, CUstream, void **,
                        void **) {
    ++gpu->eagerLaunches;
    gpu->clock +=
        gpu->kernelMs.at(gpu->functions.at(reinterpret_cast<uintptr_t>(f) - 1));
    return CUDA_SUCCESS;
  };
}

void memoryEntries(CUDADriverAPI &d) {
  d.cuMemGetInfo = [](size_t *free, size_t *total) {
    *free = size_t(64) << 20; // copy buffers of 16 MiB
    *total = *free;
    return CUDA_SUCCESS;
  };
  d.cuMemAlloc = [](CUdeviceptr *p, size_t n) {
    *p = gpu->allocate(n);
    return CUDA_SUCCESS;
  };
  d.cuMemFree = [](CUdeviceptr p) { return gpu->release(p); };
  d.cuMemHostAlloc = [](void **p, size_t n, unsigned) {
    *p = reinterpret_cast<void *>(gpu->allocate(n));
    return CUDA_SUCCESS;
  };
  d.cuMemFreeHost = [](void *p) {
    return gpu->release(reinterpret_cast<uintptr_t>(p));
  };
  d.cuMemcpyHtoDAsync = [](CUdeviceptr dst, const void *src, size_t n,
                           CUstream) {
    std::memcpy(reinterpret_cast<void *>(dst), src, n);
    return CUDA_SUCCESS;
  };
  d.cuMemcpyDtoHAsync = [](void *dst, CUdeviceptr src, size_t n, CUstream) {
    std::memcpy(dst, reinterpret_cast<const void *>(src), n);
    return CUDA_SUCCESS;
  };
  d.cuMemcpyDtoDAsync = [](CUdeviceptr, CUdeviceptr, size_t n, CUstream) {
    gpu->clock += gpu->copyMsPerMiB * double(n >> 20);
    return CUDA_SUCCESS;
  };
  d.cuMemsetD8Async = [](CUdeviceptr p, unsigned char v, size_t n, CUstream) {
    std::memset(reinterpret_cast<void *>(p), v, n);
    return CUDA_SUCCESS;
  };
}

void eventAndGraphEntries(CUDADriverAPI &d) {
  d.cuEventCreate = [](CUevent *e, unsigned) {
    static uintptr_t next = 0x1000;
    *e = handle<CUevent>(++next);
    return CUDA_SUCCESS;
  };
  d.cuEventRecord = [](CUevent e, CUstream) {
    gpu->events[e] = gpu->clock;
    return CUDA_SUCCESS;
  };
  d.cuEventSynchronize = [](CUevent) { return CUDA_SUCCESS; };
  d.cuEventElapsedTime = [](float *ms, CUevent a, CUevent b) {
    *ms = float(gpu->events.at(b) - gpu->events.at(a));
    return CUDA_SUCCESS;
  };
  d.cuEventDestroy = [](CUevent) { return CUDA_SUCCESS; };
  d.cuGraphCreate = [](CUgraph *g, unsigned) {
    *g = handle<CUgraph>(0x40);
    return CUDA_SUCCESS;
  };
  d.cuGraphAddKernelNode = [](CUgraphNode *n, CUgraph, const CUgraphNode *,
                              size_t, const CUDA_KERNEL_NODE_PARAMS *) {
    static uintptr_t next = 0x2000;
    *n = handle<CUgraphNode>(++next);
    return CUDA_SUCCESS;
  };
  d.cuGraphInstantiate = [](CUgraphExec *e, CUgraph, unsigned long long) {
    *e = handle<CUgraphExec>(0x50);
    return CUDA_SUCCESS;
  };
  d.cuGraphExecKernelNodeSetParams = [](CUgraphExec, CUgraphNode,
                                        const CUDA_KERNEL_NODE_PARAMS *) {
    return CUDA_SUCCESS;
  };
  d.cuGraphLaunch = [](CUgraphExec, CUstream) {
    ++gpu->graphLaunches;
    gpu->clock += 0.014; // the five decode steps
    return CUDA_SUCCESS;
  };
  d.cuGraphExecDestroy = [](CUgraphExec) { return CUDA_SUCCESS; };
  d.cuGraphDestroy = [](CUgraph) { return CUDA_SUCCESS; };
}

CUDADriverAPI fakeDriver() {
  CUDADriverAPI d;
  deviceEntries(d);
  moduleEntries(d);
  memoryEntries(d);
  eventAndGraphEntries(d);
  return d;
}

/// cublasGemmEx takes 1e-6 ms per multiply-add.
CuBLASAPI fakeBLAS() {
  CuBLASAPI b;
  b.cublasCreate = [](cublasHandle_t *h) {
    *h = reinterpret_cast<cublasHandle_t>(0x60);
    return CUBLAS_STATUS_SUCCESS;
  };
  b.cublasDestroy = [](cublasHandle_t) { return CUBLAS_STATUS_SUCCESS; };
  b.cublasSetStream = [](cublasHandle_t, CUstream) {
    return CUBLAS_STATUS_SUCCESS;
  };
  b.cublasGemmEx = [](cublasHandle_t, cublasOperation_t, cublasOperation_t,
                      int m, int n, int k, const void *, const void *,
                      cudaDataType, int, const void *, cudaDataType, int,
                      const void *, void *, cudaDataType, int,
                      cublasComputeType_t, cublasGemmAlgo_t) {
    ++gpu->gemms;
    gpu->clock += 1e-6 * double(m) * n * k;
    return CUBLAS_STATUS_SUCCESS;
  };
  return b;
}

class CUDAMeasureFakeGPUTest : public ::testing::Test {
protected:
  void SetUp() override {
    gpu = &fake;
    auto d = DummyWeights::fromManifest(manifest);
    ASSERT_TRUE(d.ok()) << d.message();
    dummy = std::make_unique<DummyWeights>(d.take());
    runtime::CUDAExecutorOptions options;
    options.fillWeight = [this](const std::string &blob, uint8_t *bytes,
                                size_t size) {
      filled.push_back(blob);
      return dummy->fill(blob, bytes, size);
    };
    auto e = runtime::CUDAExecutor::create(package, driver, options);
    ASSERT_TRUE(e.ok()) << e.message();
    executor = e.take();
  }
  void TearDown() override {
    executor.reset();
    EXPECT_TRUE(fake.memory.empty()) << "everything freed";
    gpu = nullptr;
  }

  CUDAMeasureOptions options(bool withBLAS) {
    CUDAMeasureOptions o;
    o.repetitions = 2;
    o.promptTokens = 8;
    o.generateTokens = 8;
    o.loadBLAS = [this, withBLAS]() -> Expected<const CuBLASAPI *> {
      if (!withBLAS)
        return Status::failure("cuBLAS not found (libcublas.so.12; x): the "
                               "baseline is skipped");
      return &blas;
    };
    return o;
  }

  FakeGPU fake;
  CUDADriverAPI driver = fakeDriver();
  CuBLASAPI blas = fakeBLAS();
  json manifest = [] {
    json m = manifestJson();
    m["targets"]["cuda"] = cudaTarget();
    return m;
  }();
  runtime::Package package = writePackage(manifest);
  std::unique_ptr<DummyWeights> dummy;
  std::vector<std::string> filled;
  std::unique_ptr<runtime::CUDAExecutor> executor;
};

TEST_F(CUDAMeasureFakeGPUTest, DummyWeightsFillEveryBlobOnce) {
  std::sort(filled.begin(), filled.end());
  EXPECT_EQ(filled,
            (std::vector<std::string>{"blk0.q_proj:codes", "blk0.q_proj:scales",
                                      "blk0.q_proj:zeros",
                                      "blk0.up_proj:low_codes", "tok_embed"}));
}

TEST_F(CUDAMeasureFakeGPUTest, TestsRunOnTheExecutor) {
  ExecutorModel<runtime::CUDAExecutor> model(std::move(executor));
  auto tg = runGenerateTest(model, 8, 2, [&] { return gpu->clock / 1e3; });
  ASSERT_TRUE(tg.ok()) << tg.message();
  EXPECT_EQ(fake.graphLaunches, 3u * 8) << "decode is the graph";
  EXPECT_NEAR(tg->rate.mean, 1.0 / 14e-6, 1.0);
}

TEST_F(CUDAMeasureFakeGPUTest, MeasuresCopyKernelsAndCuBLAS) {
  auto report = measureCUDA(*executor, driver, package, options(true));
  ASSERT_TRUE(report.ok()) << report.message();
  const CUDAReport &r = *report;
  EXPECT_EQ(r.deviceName, "Fake H200");
  EXPECT_EQ(r.chip, "sm_90");
  EXPECT_EQ(r.copyBytes, uint64_t(16) << 20);
  // 16 MiB in 0.016 ms, read and written: 2 x 16 MiB / 16 us.
  EXPECT_NEAR(r.copyGBs.mean, 2.0 * (16 << 20) / 16e-6 / 1e9, 1.0);
  // The middle of tg8, room for 2 runs: positions 4 and 5.
  EXPECT_EQ(r.profilePosition, 4);
  EXPECT_EQ(r.profileRuns, 2);
  ASSERT_EQ(r.decodeKernels.size(), 4u);
  const KernelRow &matmul = r.decodeKernels[1];
  EXPECT_EQ(matmul.kernel, "decode_k1_matmul");
  EXPECT_EQ(matmul.calls, 2u);
  EXPECT_NEAR(matmul.msPerStep, 0.008, 1e-6);
  EXPECT_EQ(matmul.bytesPerStep, 48u + 48);
  // b1 and b0, and the rows before positions 4 and 5 of both caches.
  EXPECT_EQ(r.decodeKernels[2].bytesPerStep, (32u + 128) / 2 + (32 + 160) / 2);
  // The embedding: one 16-byte row of its table and the token id.
  EXPECT_EQ(r.decodeKernels[0].bytesPerStep, 16u + 4);
  // A read ceiling at each kernel's bytes per call, in kernel order: alone,
  // one 0.5 us launch; in a graph of 64 (the buffers are tiny), the
  // graph's 14 us per launch of it.
  ASSERT_EQ(r.readCeilings.size(), 4u);
  EXPECT_EQ(r.readCeilings[0].bytes, 20u);
  EXPECT_EQ(r.readCeilings[1].bytes, 48u);
  for (const ReadCeiling &c : r.readCeilings) {
    EXPECT_NEAR(c.aloneMs, 0.0005, 1e-9);
    EXPECT_EQ(c.graphLaunches, 64);
    EXPECT_NEAR(c.graphMs, 0.014 / 64, 1e-9);
  }
  // Decode: 4x4 once, 8x4 twice (up_proj, the logits); prefill of 8: 4x4
  // and 8x4 at M = 8, the last-token logits at M = 1.
  ASSERT_EQ(r.gemms.size(), 5u);
  EXPECT_EQ(r.gemms[1].plan, "decode");
  EXPECT_EQ(r.gemms[1].calls, 2u);
  EXPECT_NEAR(r.gemms[1].cublasMs, 1e-6 * 32, 1e-9);
  EXPECT_EQ(r.gemms[3].m, 8);
  EXPECT_EQ(r.gemms[4].m, 1);
  EXPECT_EQ(r.gemms[4].plan, "prefill");
  EXPECT_NEAR(r.gemms[3].oursMs, 0.004, 1e-6);
  ASSERT_EQ(r.estimates.size(), 2u);
  EXPECT_EQ(r.estimates[0].test, "tg");
  EXPECT_NEAR(r.estimates[0].oursMs, 0.014, 1e-6);
  EXPECT_NEAR(r.estimates[0].fp16Ms, 0.001 + 16e-6 + 0.002 + 2 * 32e-6, 1e-6);
  EXPECT_EQ(r.estimates[1].test, "pp8");
  EXPECT_TRUE(r.cublasSkipped.empty());
  EXPECT_EQ(executor->position(), 0) << "reset afterwards";
}

TEST_F(CUDAMeasureFakeGPUTest, MissingCuBLASSkipsOnlyTheBaseline) {
  auto report = measureCUDA(*executor, driver, package, options(false));
  ASSERT_TRUE(report.ok()) << report.message();
  EXPECT_EQ(report->cublasSkipped,
            "cuBLAS not found (libcublas.so.12; x): the baseline is skipped");
  EXPECT_EQ(report->decodeKernels.size(), 4u);
  EXPECT_TRUE(report->gemms.empty());
  EXPECT_TRUE(report->estimates.empty());
  EXPECT_EQ(fake.gemms, 0u);
}

} // namespace
