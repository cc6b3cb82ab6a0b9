//===- Parallel.h - deterministic row-parallel loops ------------*- C++ -*-===//
//
// The expensive quantizers split the rows of a matrix into contiguous blocks
// and run one std::thread per block. Every row is computed from its own
// inputs only, and cross-row decisions (global rankings, thresholds) are made
// serially between parallel phases, so results never depend on the thread
// count.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_QUANT_PARALLEL_H
#define MIXQ_QUANT_PARALLEL_H

#include <cstdint>
#include <functional>

namespace mixq::quant {

/// Number of threads the quantizers use; 0 (the default) means
/// std::thread::hardware_concurrency().
void setQuantThreadCount(unsigned threads);
unsigned quantThreadCount();

/// Calls body(begin, end) on disjoint contiguous ranges covering [0, count),
/// in parallel. Ranges are at least `minChunk` long so tiny matrices do not
/// pay for thread start-up.
void parallelFor(int64_t count,
                 const std::function<void(int64_t, int64_t)> &body,
                 int64_t minChunk = 1);

} // namespace mixq::quant

#endif // MIXQ_QUANT_PARALLEL_H
