//===- CUDADriver.cpp - the CUDA driver API, loaded at run time -----------===//
#include "runtime/cuda/CUDADriver.h"

#include <dlfcn.h>

namespace mixq::runtime::cuda {

// The loader fills the table generically from the entry list: every member
// must be listed, or it would silently stay null.
#define MIXQ_CUDA_ENTRY(member, symbol) +1
static_assert(sizeof(CUDADriverAPI) == (0
#include "runtime/cuda/CUDADriverEntries.def"
                                        ) * sizeof(void (*)()),
              "CUDADriverEntries.def must list every CUDADriverAPI member");
#undef MIXQ_CUDA_ENTRY

namespace {

template <typename Fn> bool resolve(void *library, const char *symbol, Fn &fn) {
  fn = reinterpret_cast<Fn>(dlsym(library, symbol));
  return fn != nullptr;
}

} // namespace

Expected<CUDADriverAPI> loadCUDADriverFrom(const std::string &library) {
  void *handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    return makeError("no NVIDIA driver (", library,
                     " cannot be loaded: ", why ? why : "unknown dlopen error",
                     ")");
  }
  CUDADriverAPI api;
#define MIXQ_CUDA_ENTRY(member, symbol)                                        \
  if (!resolve(handle, symbol, api.member)) {                                  \
    dlclose(handle);                                                           \
    return makeError("the NVIDIA driver ", library, " has no ", symbol,        \
                     " (mixq needs a driver for CUDA 12.0 or newer)");         \
  }
#define MIXQ_CUDA_ENTRY_OPTIONAL(member, symbol)                               \
  (void)resolve(handle, symbol, api.member);
#include "runtime/cuda/CUDADriverEntries.def"
#undef MIXQ_CUDA_ENTRY_OPTIONAL
#undef MIXQ_CUDA_ENTRY
  return api;
}

Expected<const CUDADriverAPI *> loadCUDADriver() {
  // Loaded once: the driver keeps process-wide state, and a failed load is
  // as final as a successful one.
  static const Expected<CUDADriverAPI> driver =
      loadCUDADriverFrom("libcuda.so.1");
  if (!driver)
    return driver.status();
  return &*driver;
}

std::string errorText(const CUDADriverAPI &driver, CUresult result) {
  const char *name = nullptr, *description = nullptr;
  if (driver.cuGetErrorName &&
      driver.cuGetErrorName(result, &name) != CUDA_SUCCESS)
    name = nullptr;
  if (driver.cuGetErrorString &&
      driver.cuGetErrorString(result, &description) != CUDA_SUCCESS)
    description = nullptr;
  std::string text = name ? name : "CUDA error " + std::to_string(result);
  if (description)
    text += std::string(" (") + description + ")";
  return text;
}

} // namespace mixq::runtime::cuda
