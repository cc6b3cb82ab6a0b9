//===- GPUBench.h - mixq-bench's device measurements ------------*- C++ -*-===//
//
// What mixq-bench times on the GPU beside the executor, through the driver
// table (and the cuBLAS table), so that tests run it against fakes: the
// device-to-device copy bandwidth the kernels are compared with, and
// cublasGemmEx on the package's matmul shapes. Both run on the executor's
// stream in its context and are timed with CUDA events.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_TOOLS_MIXQ_BENCH_GPUBENCH_H
#define MIXQ_TOOLS_MIXQ_BENCH_GPUBENCH_H

#include "runtime/cuda/CUDADriver.h"
#include "support/Expected.h"
#include "tools/mixq-bench/BenchCore.h"
#include "tools/mixq-bench/BenchReport.h"
#include "tools/mixq-bench/CuBLAS.h"

#include <cstdint>
#include <vector>

namespace mixq::bench {

/// The size of the copy-bandwidth buffers: 256 MiB each (far beyond any
/// L2), less when the device has under 4x that free.
uint64_t copyBufferBytes(uint64_t freeBytes);

/// Copies `bytes` between two device buffers `repetitions` times after one
/// warm-up copy, each timed by events. GB/s counts the bytes read plus the
/// bytes written (2 x bytes per copy): the DRAM traffic a kernel's reads
/// are compared with.
Expected<MeanSd> measureCopyBandwidth(const runtime::cuda::CUDADriverAPI &cu,
                                      runtime::cuda::CUstream stream,
                                      uint64_t bytes, int repetitions);

/// Y[M x N] = X[M x K] W^T in fp16 with fp32 accumulation.
struct GemmShape {
  int64_t m = 1, n = 1, k = 1;
};

/// The mean milliseconds of cublasGemmEx (fp16 in and out, fp32 compute,
/// default algorithm) per shape, over `repetitions` calls after one
/// warm-up. Before each timed call `flushBytes` of scratch memory are
/// overwritten so that the weight is read from DRAM, as in a real decode
/// step (a 4096 x 4096 fp16 weight would otherwise stay in a 50 MB L2).
/// The operands hold random fp16 values in [-1, 1).
Expected<std::vector<double>>
timeCuBLASGemms(const runtime::cuda::CUDADriverAPI &cu, const CuBLASAPI &blas,
                runtime::cuda::CUstream stream,
                const std::vector<GemmShape> &shapes, int repetitions,
                uint64_t flushBytes);

/// Times mixq_read_bytes at each size (mean over `repetitions` after a
/// warm-up): alone after overwriting `flushBytes` of scratch, and in a
/// graph of 8 to 64 launches (fewer when device memory is short) over
/// distinct buffers.
Expected<std::vector<ReadCeiling>> measureReadCeilings(
    const runtime::cuda::CUDADriverAPI &cu, runtime::cuda::CUstream stream,
    const std::vector<uint64_t> &sizes, int repetitions, uint64_t flushBytes);

} // namespace mixq::bench

#endif // MIXQ_TOOLS_MIXQ_BENCH_GPUBENCH_H
