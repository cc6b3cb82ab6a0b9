//===- UtilityKernels.cpp - PTX the runtime carries itself ----------------===//
#include "runtime/cuda/UtilityKernels.h"

#include <cstring>

namespace mixq::runtime::cuda {

namespace {

// PTX 7.0 for sm_80: the driver JIT-compiles it for any newer chip. The
// splitmix64 constants are written as signed decimals (PTX integer literals
// are signed 64-bit): 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9 and
// 0x94D049BB133111EB.
constexpr const char kPTX[] = R"PTX(//
// mixq utility kernels (runtime/cuda/UtilityKernels.cpp)
//
.version 7.0
.target sm_80
.address_size 64

.visible .entry mixq_fill_random(
	.param .u64 mixq_fill_random_dst,
	.param .u64 mixq_fill_random_words,
	.param .u64 mixq_fill_random_seed,
	.param .u64 mixq_fill_random_mask)
{
	.reg .pred 	%p<2>;
	.reg .b32 	%r<8>;
	.reg .b64 	%rd<12>;

	ld.param.u64 	%rd1, [mixq_fill_random_dst];
	ld.param.u64 	%rd2, [mixq_fill_random_words];
	ld.param.u64 	%rd3, [mixq_fill_random_seed];
	ld.param.u64 	%rd11, [mixq_fill_random_mask];
	cvt.u32.u64 	%r1, %rd11;
	cvta.to.global.u64 	%rd1, %rd1;
	mov.u32 	%r2, %ctaid.x;
	mov.u32 	%r3, %ntid.x;
	mov.u32 	%r4, %tid.x;
	mov.u32 	%r5, %nctaid.x;
	mul.wide.u32 	%rd4, %r2, %r3;
	cvt.u64.u32 	%rd5, %r4;
	add.s64 	%rd4, %rd4, %rd5;
	mul.wide.u32 	%rd6, %r5, %r3;
$L_fill_loop:
	setp.ge.u64 	%p1, %rd4, %rd2;
	@%p1 bra 	$L_fill_done;
	mul.lo.s64 	%rd7, %rd4, -7046029254386353131;
	add.s64 	%rd7, %rd7, %rd3;
	shr.u64 	%rd8, %rd7, 30;
	xor.b64 	%rd7, %rd7, %rd8;
	mul.lo.s64 	%rd7, %rd7, -4658895280553007687;
	shr.u64 	%rd8, %rd7, 27;
	xor.b64 	%rd7, %rd7, %rd8;
	mul.lo.s64 	%rd7, %rd7, -7723592293110705685;
	shr.u64 	%rd8, %rd7, 31;
	xor.b64 	%rd7, %rd7, %rd8;
	cvt.u32.u64 	%r6, %rd7;
	and.b32 	%r6, %r6, %r1;
	shl.b64 	%rd9, %rd4, 2;
	add.s64 	%rd10, %rd1, %rd9;
	st.global.u32 	[%rd10], %r6;
	add.s64 	%rd4, %rd4, %rd6;
	bra.uni 	$L_fill_loop;
$L_fill_done:
	ret;
}

.visible .entry mixq_read_bytes(
	.param .u64 mixq_read_bytes_src,
	.param .u64 mixq_read_bytes_vectors,
	.param .u64 mixq_read_bytes_sink)
{
	.reg .pred 	%p<6>;
	.reg .b32 	%r<24>;
	.reg .b64 	%rd<16>;

	ld.param.u64 	%rd1, [mixq_read_bytes_src];
	ld.param.u64 	%rd2, [mixq_read_bytes_vectors];
	ld.param.u64 	%rd3, [mixq_read_bytes_sink];
	cvta.to.global.u64 	%rd1, %rd1;
	cvta.to.global.u64 	%rd3, %rd3;
	mov.u32 	%r1, %ctaid.x;
	mov.u32 	%r2, %ntid.x;
	mov.u32 	%r3, %tid.x;
	// The block's first vector is ctaid * ntid * 4; thread t reads vectors
	// t, t + ntid, t + 2 ntid and t + 3 ntid after it.
	mul.wide.u32 	%rd4, %r1, %r2;
	shl.b64 	%rd4, %rd4, 2;
	cvt.u64.u32 	%rd5, %r3;
	add.s64 	%rd4, %rd4, %rd5;
	cvt.u64.u32 	%rd6, %r2;
	add.s64 	%rd7, %rd4, %rd6;
	add.s64 	%rd8, %rd7, %rd6;
	add.s64 	%rd9, %rd8, %rd6;
	setp.lt.u64 	%p1, %rd4, %rd2;
	setp.lt.u64 	%p2, %rd7, %rd2;
	setp.lt.u64 	%p3, %rd8, %rd2;
	setp.lt.u64 	%p4, %rd9, %rd2;
	shl.b64 	%rd4, %rd4, 4;
	shl.b64 	%rd7, %rd7, 4;
	shl.b64 	%rd8, %rd8, 4;
	shl.b64 	%rd9, %rd9, 4;
	add.s64 	%rd4, %rd1, %rd4;
	add.s64 	%rd7, %rd1, %rd7;
	add.s64 	%rd8, %rd1, %rd8;
	add.s64 	%rd9, %rd1, %rd9;
	mov.b32 	%r4, 0;
	mov.b32 	%r5, 0;
	mov.b32 	%r6, 0;
	mov.b32 	%r7, 0;
	mov.b32 	%r8, 0;
	mov.b32 	%r9, 0;
	mov.b32 	%r10, 0;
	mov.b32 	%r11, 0;
	mov.b32 	%r12, 0;
	mov.b32 	%r13, 0;
	mov.b32 	%r14, 0;
	mov.b32 	%r15, 0;
	mov.b32 	%r16, 0;
	mov.b32 	%r17, 0;
	mov.b32 	%r18, 0;
	mov.b32 	%r19, 0;
	@%p1 ld.global.nc.v4.u32 	{%r4, %r5, %r6, %r7}, [%rd4];
	@%p2 ld.global.nc.v4.u32 	{%r8, %r9, %r10, %r11}, [%rd7];
	@%p3 ld.global.nc.v4.u32 	{%r12, %r13, %r14, %r15}, [%rd8];
	@%p4 ld.global.nc.v4.u32 	{%r16, %r17, %r18, %r19}, [%rd9];
	xor.b32 	%r4, %r4, %r5;
	xor.b32 	%r4, %r4, %r6;
	xor.b32 	%r4, %r4, %r7;
	xor.b32 	%r4, %r4, %r8;
	xor.b32 	%r4, %r4, %r9;
	xor.b32 	%r4, %r4, %r10;
	xor.b32 	%r4, %r4, %r11;
	xor.b32 	%r4, %r4, %r12;
	xor.b32 	%r4, %r4, %r13;
	xor.b32 	%r4, %r4, %r14;
	xor.b32 	%r4, %r4, %r15;
	xor.b32 	%r4, %r4, %r16;
	xor.b32 	%r4, %r4, %r17;
	xor.b32 	%r4, %r4, %r18;
	xor.b32 	%r4, %r4, %r19;
	setp.eq.u32 	%p5, %r4, -1640531527;
	@%p5 st.global.u32 	[%rd3], %r4;
	ret;
}
)PTX";

} // namespace

const char *utilityKernelsPTX() { return kPTX; }

Status loadUtilityKernel(const CUDADriverAPI &cu, const char *entry,
                         CUmodule &module, CUfunction &function) {
  CUresult result = cu.cuModuleLoadDataEx(&module, kPTX, 0, nullptr, nullptr);
  if (result != CUDA_SUCCESS) {
    module = nullptr;
    return makeError("loading the utility kernels' PTX "
                     "(runtime/cuda/UtilityKernels.h): ",
                     errorText(cu, result));
  }
  result = cu.cuModuleGetFunction(&function, module, entry);
  if (result != CUDA_SUCCESS)
    return makeError("cuModuleGetFunction (", entry,
                     "): ", errorText(cu, result));
  return Status::success();
}

uint32_t finiteMaskFor(const char *dtype) {
  if (std::strcmp(dtype, "f32") == 0)
    return kFiniteF32Mask;
  if (std::strcmp(dtype, "f16") == 0 || std::strcmp(dtype, "bf16") == 0)
    return kFiniteHalvesMask;
  return 0xFFFFFFFFu;
}

} // namespace mixq::runtime::cuda
