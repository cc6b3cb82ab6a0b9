//===- CUDADriverCheck.cpp - CUDADriver.h against cuda.h ------------------===//
//
// CUDADriver.h declares the driver's types and constants itself so that
// CPU-only builds need no cuda.h. Where cuda.h is available (MIXQ_ENABLE_CUDA)
// this file checks every value, the kernel-node struct layout and every
// symbol name against it at compile time; it defines nothing.
//===----------------------------------------------------------------------===//
#include "runtime/cuda/CUDADriver.h"

#ifdef MIXQ_HAVE_CUDA_H
#include <cstddef>
#include <string_view>

namespace ours = mixq::runtime::cuda;

// Captured before cuda.h, whose macros rename these tokens.
namespace {
constexpr unsigned kPortable = ours::kMemHostAllocPortable;
constexpr unsigned kWriteCombined = ours::kMemHostAllocWriteCombined;
constexpr unsigned char kPortProgrammatic =
    ours::kGraphKernelNodePortProgrammatic;
using OurEdge = ours::CUgraphEdgeData;
constexpr size_t kEdgeSize = sizeof(OurEdge);
constexpr size_t kEdgeOffsets[] = {
    offsetof(OurEdge, from_port), offsetof(OurEdge, to_port),
    offsetof(OurEdge, type), offsetof(OurEdge, reserved)};
using OurParams = ours::CUDA_KERNEL_NODE_PARAMS;
constexpr size_t kParamsSize = sizeof(OurParams);
constexpr size_t kParamsOffsets[] = {
    offsetof(OurParams, func),         offsetof(OurParams, gridDimX),
    offsetof(OurParams, blockDimZ),    offsetof(OurParams, sharedMemBytes),
    offsetof(OurParams, kernelParams), offsetof(OurParams, extra),
    offsetof(OurParams, kern),         offsetof(OurParams, ctx)};
} // namespace

#include <cuda.h>

static_assert(CUDA_VERSION >= 12000, "the graph entry points need CUDA 12");
static_assert(sizeof(ours::CUresult) == sizeof(CUresult));
static_assert(sizeof(ours::CUdevice) == sizeof(CUdevice));
static_assert(sizeof(ours::CUdeviceptr) == sizeof(CUdeviceptr));
static_assert(sizeof(ours::CUjit_option) == sizeof(CUjit_option));
static_assert(sizeof(ours::CUdevice_attribute) == sizeof(CUdevice_attribute));
static_assert(ours::CUDA_SUCCESS == CUDA_SUCCESS);
static_assert(ours::CUDA_ERROR_OUT_OF_MEMORY == CUDA_ERROR_OUT_OF_MEMORY);
static_assert(ours::CUDA_ERROR_NO_DEVICE == CUDA_ERROR_NO_DEVICE);
static_assert(ours::CUDA_ERROR_INVALID_PTX == CUDA_ERROR_INVALID_PTX);
static_assert(ours::CUDA_ERROR_NOT_FOUND == CUDA_ERROR_NOT_FOUND);
static_assert(ours::CU_JIT_INFO_LOG_BUFFER == CU_JIT_INFO_LOG_BUFFER);
static_assert(ours::CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES ==
              CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES);
static_assert(ours::CU_JIT_ERROR_LOG_BUFFER == CU_JIT_ERROR_LOG_BUFFER);
static_assert(ours::CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES ==
              CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES);
static_assert(ours::CU_JIT_LOG_VERBOSE == CU_JIT_LOG_VERBOSE);
static_assert(ours::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR ==
              CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
static_assert(ours::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR ==
              CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
static_assert(ours::CU_STREAM_NON_BLOCKING == CU_STREAM_NON_BLOCKING);
static_assert(ours::CU_EVENT_DEFAULT == CU_EVENT_DEFAULT);
static_assert(ours::CU_EVENT_DISABLE_TIMING == CU_EVENT_DISABLE_TIMING);
static_assert(kPortable == CU_MEMHOSTALLOC_PORTABLE);
static_assert(kWriteCombined == CU_MEMHOSTALLOC_WRITECOMBINED);

static_assert(ours::CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC ==
              CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC);
static_assert(kPortProgrammatic == CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC);
static_assert(kEdgeSize == sizeof(CUgraphEdgeData));
static_assert(kEdgeOffsets[0] == offsetof(CUgraphEdgeData, from_port));
static_assert(kEdgeOffsets[1] == offsetof(CUgraphEdgeData, to_port));
static_assert(kEdgeOffsets[2] == offsetof(CUgraphEdgeData, type));
static_assert(kEdgeOffsets[3] == offsetof(CUgraphEdgeData, reserved));

using TheirParams = CUDA_KERNEL_NODE_PARAMS_v2;
static_assert(kParamsSize == sizeof(TheirParams));
static_assert(kParamsOffsets[0] == offsetof(TheirParams, func));
static_assert(kParamsOffsets[1] == offsetof(TheirParams, gridDimX));
static_assert(kParamsOffsets[2] == offsetof(TheirParams, blockDimZ));
static_assert(kParamsOffsets[3] == offsetof(TheirParams, sharedMemBytes));
static_assert(kParamsOffsets[4] == offsetof(TheirParams, kernelParams));
static_assert(kParamsOffsets[5] == offsetof(TheirParams, extra));
static_assert(kParamsOffsets[6] == offsetof(TheirParams, kern));
static_assert(kParamsOffsets[7] == offsetof(TheirParams, ctx));

// Each member name, macro-expanded by cuda.h, must be the symbol we dlsym.
#define MIXQ_STRINGIFY_EXPANDED(x) MIXQ_STRINGIFY(x)
#define MIXQ_STRINGIFY(x) #x
#define MIXQ_CUDA_ENTRY(member, symbol)                                        \
  static_assert(std::string_view(MIXQ_STRINGIFY_EXPANDED(member)) ==           \
                    std::string_view(symbol),                                  \
                "CUDADriverEntries.def: the symbol of " #member                \
                " is not the one cuda.h maps it to");
// A V1 entry is resolved by its unversioned name on purpose (see the .def);
// the check is that it is spelled so (drivers keep exporting the old name).
#define MIXQ_CUDA_ENTRY_V1(member, symbol)                                     \
  static_assert(std::string_view(#member) == std::string_view(symbol),         \
                "CUDADriverEntries.def: the V1 entry " #member                 \
                " must be resolved by its unversioned name");
#include "runtime/cuda/CUDADriverEntries.def"
#undef MIXQ_CUDA_ENTRY_V1
#undef MIXQ_CUDA_ENTRY
#endif // MIXQ_HAVE_CUDA_H
