//===- UtilityKernels.h - PTX the runtime carries itself ------*- C++ -*-===//
//
// Two kernels the runtime and mixq-bench need that no package carries, as
// PTX text the driver JIT-compiles (sm_80 and newer), so that neither nvcc
// nor MLIR is needed where they run:
//
//   mixq_fill_random(u32 *dst, u64 words, u64 seed, u64 mask)
//       dst[i] = splitmix64(seed + i * golden) & mask for i < words (the
//       mask's low 32 bits; every parameter is 8 bytes), a grid-stride
//       loop. mixq-bench --dummy-weights fills a 13 GB fp16 model on the
//       GPU with it in milliseconds, where a host filler (a string compare
//       and an f32->f16 conversion per element) took minutes.
//   mixq_read_bytes(const uint4 *src, u64 vectors, u32 *sink)
//       reads `vectors` 16-byte vectors, four per thread (consecutive
//       threads read consecutive vectors; all four loads are issued before
//       any is used) and stores their XOR to *sink only when it equals an
//       unlikely constant, so that nothing is written but no load is dead.
//       It is the read ceiling a GEMV of the same bytes is measured against.
//
// Plain C++17: no MLIR or LLVM.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_RUNTIME_CUDA_UTILITYKERNELS_H
#define MIXQ_RUNTIME_CUDA_UTILITYKERNELS_H

#include "runtime/cuda/CUDADriver.h"
#include "support/Expected.h"

#include <cstdint>

namespace mixq::runtime::cuda {

inline constexpr const char *kFillRandomEntry = "mixq_fill_random";
inline constexpr const char *kReadBytesEntry = "mixq_read_bytes";

/// Threads per block of both kernels.
inline constexpr unsigned kUtilityBlock = 256;
/// 16-byte vectors each thread of mixq_read_bytes reads.
inline constexpr unsigned kReadVectorsPerThread = 4;

/// The PTX module holding both entries (NUL-terminated).
const char *utilityKernelsPTX();

/// JIT-loads the utility module into the current context (`module`, which
/// the caller unloads) and finds `entry` in it (`function`). Errors name the
/// step and the driver's error.
Status loadUtilityKernel(const CUDADriverAPI &cu, const char *entry,
                         CUmodule &module, CUfunction &function);

/// Masks for mixq_fill_random that keep random words finite floats: the top
/// exponent bit of each f32, or of each f16/bf16 half, is cleared, so every
/// value is finite with |v| < 2 (no NaN or infinity can appear).
inline constexpr uint32_t kFiniteF32Mask = 0xBFFFFFFFu;
inline constexpr uint32_t kFiniteHalvesMask = 0xBFFFBFFFu;

/// The mask for a component of `dtype` ("f32", "f16", "bf16"; any other
/// dtype keeps every bit).
uint32_t finiteMaskFor(const char *dtype);

} // namespace mixq::runtime::cuda

#endif // MIXQ_RUNTIME_CUDA_UTILITYKERNELS_H
