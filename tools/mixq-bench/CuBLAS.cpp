//===- CuBLAS.cpp - the few cuBLAS entry points mixq-bench needs ----------===//
#include "tools/mixq-bench/CuBLAS.h"

#include <cstdlib>
#include <dlfcn.h>

namespace mixq::bench {

namespace {

template <typename Fn> bool resolve(void *library, const char *symbol, Fn &fn) {
  fn = reinterpret_cast<Fn>(dlsym(library, symbol));
  return fn != nullptr;
}

/// The table from an opened library, or the first missing symbol.
Expected<CuBLASAPI> resolveAll(void *handle, const std::string &library) {
  CuBLASAPI api;
#define MIXQ_CUBLAS_ENTRY(member, symbol)                                      \
  if (!resolve(handle, symbol, api.member))                                    \
    return makeError(library, " has no ", symbol,                              \
                     " (cuBLAS 11 or newer is needed): the baseline is "       \
                     "skipped");
#include "tools/mixq-bench/CuBLASEntries.def"
#undef MIXQ_CUBLAS_ENTRY
  (void)resolve(handle, "cublasGetStatusString", api.cublasGetStatusString);
  return api;
}

} // namespace

std::vector<std::string> cuBLASCandidates() {
  const char *names[] = {"libcublas.so.12", "libcublas.so.13", "libcublas.so"};
  std::vector<std::string> out;
  if (const char *given = std::getenv("MIXQ_CUBLAS"); given && *given)
    out.push_back(given);
  for (const char *name : names)
    out.push_back(name);
  std::vector<std::string> dirs;
  if (const char *home = std::getenv("CUDA_HOME"); home && *home)
    dirs.push_back(std::string(home) + "/lib64/");
  dirs.push_back("/usr/local/cuda/lib64/");
  for (const std::string &dir : dirs)
    for (const char *name : names)
      out.push_back(dir + name);
  return out;
}

Expected<CuBLASAPI> loadCuBLASFrom(const std::vector<std::string> &candidates) {
  std::string firstError, names;
  for (const std::string &library : candidates) {
    void *handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char *why = dlerror();
      if (firstError.empty())
        firstError = why ? why : "unknown dlopen error";
      // Only the plain names: the directory variants repeat them.
      if (library.find('/') == std::string::npos)
        names += (names.empty() ? "" : ", ") + library;
      continue;
    }
    auto api = resolveAll(handle, library);
    if (!api)
      dlclose(handle);
    // The library stays loaded: its handles live as long as the process.
    return api;
  }
  return makeError("cuBLAS not found (", names.empty() ? "no library" : names,
                   "; ", firstError, "): the baseline is skipped");
}

Expected<const CuBLASAPI *> loadCuBLAS() {
  static const Expected<CuBLASAPI> api = loadCuBLASFrom(cuBLASCandidates());
  if (!api)
    return api.status();
  return &*api;
}

std::string cuBLASErrorText(const CuBLASAPI &api, cublasStatus_t status) {
  if (api.cublasGetStatusString)
    if (const char *text = api.cublasGetStatusString(status))
      return text;
  return "cuBLAS status " + std::to_string(status);
}

} // namespace mixq::bench
