//===- Parallel.cpp - deterministic row-parallel loops --------------------===//
#include "quant/Parallel.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

using namespace mixq::quant;

static std::atomic<unsigned> threadCountSetting{0};

void mixq::quant::setQuantThreadCount(unsigned threads) {
  threadCountSetting = threads;
}

unsigned mixq::quant::quantThreadCount() {
  unsigned threads = threadCountSetting;
  if (threads == 0)
    threads = std::thread::hardware_concurrency();
  return std::max(threads, 1u);
}

void mixq::quant::parallelFor(int64_t count,
                              const std::function<void(int64_t, int64_t)> &body,
                              int64_t minChunk) {
  if (count <= 0)
    return;
  int64_t chunks =
      std::min<int64_t>(quantThreadCount(), (count + minChunk - 1) / minChunk);
  if (chunks <= 1) {
    body(0, count);
    return;
  }
  // The calling thread takes the first range instead of idling in join().
  std::vector<std::thread> workers;
  auto rangeBegin = [&](int64_t i) { return count * i / chunks; };
  for (int64_t i = 1; i < chunks; ++i)
    workers.emplace_back(body, rangeBegin(i), rangeBegin(i + 1));
  body(0, rangeBegin(1));
  for (std::thread &worker : workers)
    worker.join();
}
