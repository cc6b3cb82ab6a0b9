//===- CUDADriver.h - the CUDA driver API, loaded at run time ---*- C++ -*-===//
//
// The runtime never links libcuda: one mixq-run binary must start on
// machines without an NVIDIA driver (and fall back to the CPU). The driver
// is dlopen'ed and the few entry points the executor needs are resolved into
// a table of function pointers, which tests replace by a fake.
//
// The types, enums and constants are declared here rather than taken from
// cuda.h, so that CPU-only builds (-DMIXQ_ENABLE_CUDA=OFF) compile this too;
// CUDADriver.cpp checks every value against cuda.h when it is available.
// The symbol names are the versioned ones cuda.h's macros map to (cuMemAlloc
// is cuMemAlloc_v2): dlsym sees the real names, not the macros.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_RUNTIME_CUDA_CUDADRIVER_H
#define MIXQ_RUNTIME_CUDA_CUDADRIVER_H

#include "support/Expected.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace mixq::runtime::cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = uint64_t;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;
using CUgraph = struct CUgraph_st *;
using CUgraphNode = struct CUgraphNode_st *;
using CUgraphExec = struct CUgraphExec_st *;
using CUkernel = struct CUkern_st *;
using CUjit_option = int;
using CUdevice_attribute = int;

inline constexpr CUresult CUDA_SUCCESS = 0;
inline constexpr CUresult CUDA_ERROR_OUT_OF_MEMORY = 2;
inline constexpr CUresult CUDA_ERROR_NO_DEVICE = 100;
inline constexpr CUresult CUDA_ERROR_INVALID_PTX = 218;
inline constexpr CUresult CUDA_ERROR_NOT_FOUND = 500;

inline constexpr CUjit_option CU_JIT_INFO_LOG_BUFFER = 3;
inline constexpr CUjit_option CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4;
inline constexpr CUjit_option CU_JIT_ERROR_LOG_BUFFER = 5;
inline constexpr CUjit_option CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;
inline constexpr CUjit_option CU_JIT_LOG_VERBOSE = 12;

inline constexpr CUdevice_attribute
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
inline constexpr CUdevice_attribute
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;

inline constexpr unsigned CU_STREAM_NON_BLOCKING = 0x1;
inline constexpr unsigned CU_EVENT_DEFAULT = 0x0;
inline constexpr unsigned CU_EVENT_DISABLE_TIMING = 0x2;
// cuda.h spells these as macros (CU_MEMHOSTALLOC_*), which would rewrite
// same-named declarations here wherever cuda.h is included first.
inline constexpr unsigned kMemHostAllocPortable = 0x1;
inline constexpr unsigned kMemHostAllocWriteCombined = 0x4;

/// CUDA_KERNEL_NODE_PARAMS_v2 (what cuGraphAddKernelNode_v2 and
/// cuGraphExecKernelNodeSetParams_v2 take).
struct CUDA_KERNEL_NODE_PARAMS {
  CUfunction func;
  unsigned gridDimX, gridDimY, gridDimZ;
  unsigned blockDimX, blockDimY, blockDimZ;
  unsigned sharedMemBytes;
  void **kernelParams;
  void **extra;
  CUkernel kern;
  CUcontext ctx;
};

/// CUgraphEdgeData (cuGraphAddDependencies_v2): how a graph edge fires.
struct CUgraphEdgeData {
  unsigned char from_port = 0; ///< 0, or kGraphKernelNodePortProgrammatic
  unsigned char to_port = 0;   ///< must be 0
  unsigned char type = 0;      ///< CU_GRAPH_DEPENDENCY_TYPE_*
  unsigned char reserved[5] = {};
};
inline constexpr unsigned char CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC = 1;
/// CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC (a macro in cuda.h): the edge
/// fires once every block of the upstream kernel has executed
/// griddepcontrol.launch_dependents or exited.
inline constexpr unsigned char kGraphKernelNodePortProgrammatic = 1;

/// The driver entry points the executor uses, by their cuda.h names. Every
/// pointer is set by loadCUDADriver(), but for the optional ones
/// (CUDADriverEntries.def), which stay null in drivers that lack them; a
/// fake may leave unused ones null.
struct CUDADriverAPI {
  CUresult (*cuGetErrorName)(CUresult, const char **) = nullptr;
  CUresult (*cuGetErrorString)(CUresult, const char **) = nullptr;
  CUresult (*cuInit)(unsigned) = nullptr;
  CUresult (*cuDriverGetVersion)(int *) = nullptr;
  CUresult (*cuDeviceGetCount)(int *) = nullptr;
  CUresult (*cuDeviceGet)(CUdevice *, int) = nullptr;
  CUresult (*cuDeviceGetAttribute)(int *, CUdevice_attribute,
                                   CUdevice) = nullptr;
  CUresult (*cuDeviceGetName)(char *, int, CUdevice) = nullptr;
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice) = nullptr;
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice) = nullptr;
  CUresult (*cuCtxSetCurrent)(CUcontext) = nullptr;
  CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned,
                                 CUjit_option *, void **) = nullptr;
  CUresult (*cuModuleUnload)(CUmodule) = nullptr;
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule,
                                  const char *) = nullptr;
  CUresult (*cuMemGetInfo)(size_t *, size_t *) = nullptr;
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t) = nullptr;
  CUresult (*cuMemFree)(CUdeviceptr) = nullptr;
  CUresult (*cuMemHostAlloc)(void **, size_t, unsigned) = nullptr;
  CUresult (*cuMemFreeHost)(void *) = nullptr;
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void *, size_t,
                                CUstream) = nullptr;
  CUresult (*cuMemcpyDtoHAsync)(void *, CUdeviceptr, size_t,
                                CUstream) = nullptr;
  CUresult (*cuMemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t,
                                CUstream) = nullptr;
  CUresult (*cuMemsetD8Async)(CUdeviceptr, unsigned char, size_t,
                              CUstream) = nullptr;
  CUresult (*cuStreamCreate)(CUstream *, unsigned) = nullptr;
  CUresult (*cuStreamDestroy)(CUstream) = nullptr;
  CUresult (*cuStreamSynchronize)(CUstream) = nullptr;
  CUresult (*cuEventCreate)(CUevent *, unsigned) = nullptr;
  CUresult (*cuEventRecord)(CUevent, CUstream) = nullptr;
  CUresult (*cuEventSynchronize)(CUevent) = nullptr;
  CUresult (*cuEventDestroy)(CUevent) = nullptr;
  CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent) = nullptr;
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, CUstream, void **,
                             void **) = nullptr;
  CUresult (*cuGraphCreate)(CUgraph *, unsigned) = nullptr;
  CUresult (*cuGraphAddKernelNode)(CUgraphNode *, CUgraph, const CUgraphNode *,
                                   size_t,
                                   const CUDA_KERNEL_NODE_PARAMS *) = nullptr;
  /// Optional: CUDA 12.3 and newer drivers.
  CUresult (*cuGraphAddDependencies)(CUgraph, const CUgraphNode *,
                                     const CUgraphNode *,
                                     const CUgraphEdgeData *, size_t) = nullptr;
  CUresult (*cuGraphInstantiate)(CUgraphExec *, CUgraph,
                                 unsigned long long) = nullptr;
  CUresult (*cuGraphExecKernelNodeSetParams)(
      CUgraphExec, CUgraphNode, const CUDA_KERNEL_NODE_PARAMS *) = nullptr;
  CUresult (*cuGraphLaunch)(CUgraphExec, CUstream) = nullptr;
  CUresult (*cuGraphExecDestroy)(CUgraphExec) = nullptr;
  CUresult (*cuGraphDestroy)(CUgraph) = nullptr;
};

/// Loads the driver library `library` and resolves every entry point. The
/// library stays loaded for the life of the process (unloading libcuda
/// while contexts may exist is not safe). Errors: "no NVIDIA driver
/// (libcuda.so.1 cannot be loaded: <dlerror>)", or the missing symbol named.
Expected<CUDADriverAPI> loadCUDADriverFrom(const std::string &library);

/// libcuda.so.1, loaded once per process; later calls return the same table
/// (or the same error).
Expected<const CUDADriverAPI *> loadCUDADriver();

/// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)"; the number when the driver
/// does not know the code.
std::string errorText(const CUDADriverAPI &driver, CUresult result);

} // namespace mixq::runtime::cuda

#endif // MIXQ_RUNTIME_CUDA_CUDADRIVER_H
