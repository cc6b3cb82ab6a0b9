//===- CPUBackend.cpp - kernels to a host shared object -------------------===//
#include "codegen/cpu/CPUBackend.h"

#include "dialect/MixQ/MixQTypes.h"
#include "passes/Dispatch.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

#include <mutex>

using namespace mlir;
using namespace mlir::mixq;

namespace {

llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message.str());
}

/// Kernels -> LLVM dialect. Each kernel holds one dispatch: lowering them in
/// a module of their own keeps the host plan (which still references
/// WeightStore symbols) out of the way. Word-level schemes' matmuls become
/// vector dot products, 16 columns a step (two AVX2 registers of f32), whose
/// scaled runs are summed in one register.
constexpr const char *kToLinalgPipeline =
    "mixq-lower-llm-to-linalg,mixq-lower-to-linalg{dequant-vector-width=16 "
    "vector-sum-lanes=8 register-table-entries=8},"
    "canonicalize,cse";
constexpr const char *kBufferizePipeline =
    "mixq-kernel-abi,canonicalize,cse,eliminate-empty-tensors,"
    "one-shot-bufferize,"
    "canonicalize,buffer-deallocation-pipeline,"
    "convert-bufferization-to-memref";
constexpr const char *kToLLVMPipeline =
    "convert-linalg-to-loops,loop-invariant-code-motion,canonicalize,cse,"
    "convert-vector-to-scf,convert-scf-to-cf,expand-strided-metadata,"
    "lower-affine,convert-math-to-llvm,convert-math-to-libm,"
    "convert-vector-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,"
    "finalize-memref-to-llvm,convert-func-to-llvm,convert-cf-to-llvm,"
    "reconcile-unrealized-casts";

/// Fuses each dequantization generic into the matmul that consumes it, so
/// the dequantized weight is computed inside the reduction and never stored.
/// Only the marked producers are fused: general elementwise fusion of the
/// attention and norm generics is not needed on the CPU.
LogicalResult fuseDequantizeIntoConsumers(ModuleOp module) {
  RewritePatternSet patterns(module.getContext());
  linalg::populateElementwiseOpsFusionPatterns(
      patterns, [](OpOperand *operand) {
        Operation *producer = operand->get().getDefiningOp();
        return producer && producer->hasAttr(kDequantizeMarker);
      });
  return applyPatternsGreedily(module, std::move(patterns));
}

/// memref.copy between strided views (a KV cache row block) lowers to a call
/// into MLIR's C runner library, which a package must not depend on; as a
/// linalg.copy it becomes plain loops.
void copiesToLoops(ModuleOp module) {
  module.walk([](memref::CopyOp copy) {
    OpBuilder builder(copy);
    linalg::CopyOp::create(builder, copy.getLoc(), copy.getSource(),
                           copy.getTarget());
    copy.erase();
  });
}

LogicalResult runPipeline(ModuleOp module, const char *text,
                          std::string &errors) {
  PassManager pm(module.getContext());
  llvm::raw_string_ostream errorStream(errors);
  if (failed(parsePassPipeline(text, pm, errorStream))) {
    errors = "invalid built-in CPU pipeline: " + errors;
    return failure();
  }
  if (failed(pm.run(module))) {
    errors = "lowering the kernels for the CPU failed (see the diagnostics "
             "above)";
    return failure();
  }
  return success();
}

/// `mixq.tied` indices refer to the L2 signature; after the 1:N conversion a
/// qtensor argument is several component arguments.
void flattenTiedIndices(func::FuncOp kernel) {
  auto attr = kernel->getAttrOfType<DenseI64ArrayAttr>(kTiedAttrName);
  if (!attr)
    return;
  SmallVector<int64_t> flatIndex;
  int64_t next = 0;
  for (Type type : kernel.getArgumentTypes()) {
    flatIndex.push_back(next);
    auto qtensor = dyn_cast<QTensorType>(type);
    next += qtensor ? qtensor.getComponents().size() : 1;
  }
  SmallVector<int64_t> pairs(attr.asArrayRef());
  for (size_t i = 1; i < pairs.size(); i += 2)
    if (pairs[i] >= 0 && pairs[i] < static_cast<int64_t>(flatIndex.size()))
      pairs[i] = flatIndex[pairs[i]];
  kernel->setAttr(kTiedAttrName,
                  DenseI64ArrayAttr::get(kernel.getContext(), pairs));
}

/// A module holding copies of the kernels only.
OwningOpRef<ModuleOp> extractKernels(ModuleOp module,
                                     SmallVectorImpl<std::string> &names) {
  OpBuilder builder(module.getContext());
  OwningOpRef<ModuleOp> kernels = ModuleOp::create(module.getLoc());
  builder.setInsertionPointToEnd(kernels->getBody());
  for (auto func : module.getOps<func::FuncOp>()) {
    if (!func->hasAttr(kKernelAttrName) || func.isExternal())
      continue;
    auto copy = cast<func::FuncOp>(builder.clone(*func));
    flattenTiedIndices(copy);
    names.push_back(func.getSymName().str());
  }
  return kernels;
}

/// Adds `void _mixq_<name>(void **args)` for every kernel, loading each
/// parameter through args[i], and makes the kernels themselves internal so
/// that the optimizer inlines them into their entry points.
llvm::Error addEntryPoints(llvm::Module &module, ArrayRef<std::string> names,
                           std::vector<cpu::KernelSymbol> &symbols) {
  llvm::LLVMContext &ctx = module.getContext();
  auto *ptrType = llvm::PointerType::getUnqual(ctx);
  auto *entryType =
      llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptrType}, false);
  for (const std::string &name : names) {
    llvm::Function *kernel = module.getFunction(name);
    if (!kernel || kernel->isDeclaration())
      return makeError("kernel @" + name + " was lost during lowering");
    kernel->setLinkage(llvm::GlobalValue::InternalLinkage);
    std::string symbol = cpu::getKernelSymbol(name);
    auto *entry = llvm::Function::Create(
        entryType, llvm::GlobalValue::ExternalLinkage, symbol, module);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", entry));
    SmallVector<llvm::Value *> params;
    for (auto [index, param] : llvm::enumerate(kernel->args())) {
      llvm::Value *slot =
          b.CreateConstGEP1_64(ptrType, entry->getArg(0), index);
      llvm::Value *address = b.CreateLoad(ptrType, slot);
      params.push_back(b.CreateLoad(param.getType(), address));
    }
    b.CreateCall(kernel, params);
    b.CreateRetVoid();
    symbols.push_back({name, symbol});
  }
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<llvm::TargetMachine>>
createHostTargetMachine(const cpu::CPUOptions &options,
                        cpu::CompiledKernels &out) {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
  llvm::Triple triple(llvm::sys::getProcessTriple());
  std::string error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return makeError("no LLVM target for " + triple.str() + ": " + error);

  std::string cpuName = options.cpu;
  std::string features;
  if (cpuName == "native") {
    cpuName = llvm::sys::getHostCPUName().str();
    llvm::StringMap<bool> hostFeatures = llvm::sys::getHostCPUFeatures();
    for (const auto &feature : hostFeatures)
      features += (feature.second ? "+" : "-") + feature.first().str() + ",";
    if (!features.empty())
      features.pop_back();
  }
  llvm::TargetOptions targetOptions;
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, cpuName, features, targetOptions, llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
  if (!machine)
    return makeError("LLVM cannot generate code for CPU '" + cpuName + "' on " +
                     triple.str());
  out.triple = triple.str();
  out.cpu = cpuName;
  out.features = features;
  return std::move(machine);
}

llvm::Expected<std::vector<uint8_t>> emitObject(llvm::Module &module,
                                                llvm::TargetMachine &machine) {
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager passes;
  if (machine.addPassesToEmitFile(passes, os, nullptr,
                                  llvm::CodeGenFileType::ObjectFile))
    return makeError("the LLVM target cannot emit object files");
  passes.run(module);
  return std::vector<uint8_t>(buffer.begin(), buffer.end());
}

/// Links the object into a shared library with the system C compiler driver
/// (it knows where libm and the crt files are).
llvm::Expected<std::vector<uint8_t>>
linkSharedObject(ArrayRef<uint8_t> object) {
  llvm::ErrorOr<std::string> linker = llvm::sys::findProgramByName("cc");
  if (!linker)
    linker = llvm::sys::findProgramByName("gcc");
  if (!linker)
    linker = llvm::sys::findProgramByName("clang");
  if (!linker)
    return makeError("no C compiler driver (cc, gcc or clang) on PATH to "
                     "link the CPU kernels; install build-essential");

  llvm::SmallString<128> objectPath, libraryPath, logPath;
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile("mixq-kernels", "o", objectPath))
    return makeError("cannot create a temporary file: " + ec.message());
  llvm::FileRemover removeObject(objectPath);
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile("mixq-kernels", "so", libraryPath))
    return makeError("cannot create a temporary file: " + ec.message());
  llvm::FileRemover removeLibrary(libraryPath);
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile("mixq-link", "log", logPath))
    return makeError("cannot create a temporary file: " + ec.message());
  llvm::FileRemover removeLog(logPath);
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(objectPath, ec);
    if (ec)
      return makeError("cannot write " + objectPath + ": " + ec.message());
    os.write(reinterpret_cast<const char *>(object.data()), object.size());
  }
  SmallVector<llvm::StringRef> argv = {*linker,     "-shared",  "-o",
                                       libraryPath, objectPath, "-lm"};
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, logPath.str(),
                                                logPath.str()};
  std::string error;
  int status = llvm::sys::ExecuteAndWait(*linker, argv, std::nullopt, redirects,
                                         0, 0, &error);
  if (status != 0) {
    std::string log;
    if (auto buffer = llvm::MemoryBuffer::getFile(logPath))
      log = (*buffer)->getBuffer().str();
    return makeError("linking the CPU kernels with " + *linker +
                     " failed (status " + llvm::Twine(status) + ")" +
                     (error.empty() ? "" : ": " + error) +
                     (log.empty() ? "" : "\n" + log));
  }
  auto library = llvm::MemoryBuffer::getFile(libraryPath);
  if (!library)
    return makeError("cannot read " + libraryPath + ": " +
                     library.getError().message());
  llvm::StringRef bytes = (*library)->getBuffer();
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

} // namespace

std::string mlir::mixq::cpu::getKernelSymbol(llvm::StringRef name) {
  return ("_mixq_" + name).str();
}

void mlir::mixq::cpu::registerCPUBackendDependencies(
    DialectRegistry &registry) {
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  static std::once_flag once;
  std::call_once(once, [] {
    registerAllPasses();
    registerAllMixQPasses();
  });
}

llvm::Expected<cpu::CompiledKernels>
mlir::mixq::cpu::compileKernels(ModuleOp module, const CPUOptions &options) {
  CompiledKernels out;
  SmallVector<std::string> names;
  OwningOpRef<ModuleOp> kernels = extractKernels(module, names);
  if (names.empty())
    return makeError("the module has no mixq.kernel functions (run "
                     "--mixq-form-dispatches first)");

  std::string errors;
  if (failed(runPipeline(*kernels, kToLinalgPipeline, errors)))
    return makeError(errors);
  if (failed(fuseDequantizeIntoConsumers(*kernels)))
    return makeError("fusing dequantization into the CPU matmuls failed");
  if (failed(runPipeline(*kernels, kBufferizePipeline, errors)))
    return makeError(errors);
  copiesToLoops(*kernels);
  if (failed(runPipeline(*kernels, kToLLVMPipeline, errors)))
    return makeError(errors);
  if (options.keepLoweredMLIR) {
    llvm::raw_string_ostream os(out.loweredMLIR);
    kernels->print(os);
  }

  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(*kernels, llvmContext, "mixq-kernels");
  if (!llvmModule)
    return makeError("translating the CPU kernels to LLVM IR failed");
  if (llvm::Error error = addEntryPoints(*llvmModule, names, out.kernels))
    return std::move(error);

  auto machine = createHostTargetMachine(options, out);
  if (!machine)
    return machine.takeError();
  llvmModule->setDataLayout((*machine)->createDataLayout());
  llvmModule->setTargetTriple((*machine)->getTargetTriple());
  auto optimize = makeOptimizingTransformer(options.optLevel,
                                            /*sizeLevel=*/0, machine->get());
  if (llvm::Error error = optimize(llvmModule.get()))
    return std::move(error);
  if (options.keepLLVMIR) {
    llvm::raw_string_ostream os(out.llvmIR);
    llvmModule->print(os, nullptr);
  }

  auto object = emitObject(*llvmModule, **machine);
  if (!object)
    return object.takeError();
  auto library = linkSharedObject(*object);
  if (!library)
    return library.takeError();
  out.sharedObject = std::move(*library);
  return out;
}
