//===- Vectorize.h - AVX-512/AVX2 versions of hot loops ---------*- C++ -*-===//
//
// The build targets baseline x86-64 (SSE2), where the quantizers' float loops
// run 4 lanes wide. MIXQ_VECTOR_CLONES on a function also compiles it for
// AVX-512 (16 lanes) and AVX2 (8 lanes) and picks the version once, at load
// time, from the CPU.
//
// Results stay bit-identical between the versions: every loop written for
// them keeps its order of operations per lane (explicit partial sums where
// it reduces), and files using this are compiled with -ffp-contract=off
// (see the CMakeLists), since GCC's AVX-512 version would otherwise fuse
// multiply-adds that the others round twice.
//
// MIXQ_ALWAYS_INLINE on the helpers of such a function puts them inside
// each version, so they get its vector width too.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_QUANT_VECTORIZE_H
#define MIXQ_QUANT_VECTORIZE_H

#if defined(__GNUC__) && defined(__x86_64__) && defined(__ELF__) &&            \
    !defined(MIXQ_NO_VECTOR_CLONES)
#define MIXQ_VECTOR_CLONES                                                     \
  __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MIXQ_VECTOR_CLONES
#endif

#if defined(__GNUC__)
#define MIXQ_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define MIXQ_ALWAYS_INLINE inline
#endif

#endif // MIXQ_QUANT_VECTORIZE_H
