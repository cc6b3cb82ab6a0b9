//===- SchemeSpec.h - The SCHEME=SPEC grammar of --mixq-quantize -*- C++
//-*-===//
//
// One grammar for `--mixq-quantize="scheme=SPEC"` and
// `mixq-compile --scheme=SPEC`:
//
//   spec   := part ('+' part)*
//   part   := name (':' option (',' option)*)?
//   option := key '=' value
//
// Examples: `affine:bits=4,group=128`, `lut:bits=3+sparse:frac=0.0045`,
// `fp16`. Parsing is separate from building attributes so that errors can
// point at the offending key with a caret under the spec.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_PASSES_SCHEMESPEC_H
#define MIXQ_PASSES_SCHEMESPEC_H

#include "dialect/MixQ/MixQInterfaces.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::mixq {

struct SchemeSpecOption {
  std::string key, value;
  /// Offset of the key in the spec text, for carets in errors.
  size_t offset = 0;
};

struct SchemeSpecPart {
  std::string name;
  size_t offset = 0;
  std::vector<SchemeSpecOption> options;
};

struct SchemeSpec {
  std::string text;
  std::vector<SchemeSpecPart> parts;
  /// `fp16`/`fp32`/`none`: keep the weight unquantized.
  bool isUnquantized() const;
};

/// Parses `text`; errors name the problem and show a caret under it.
llvm::Expected<SchemeSpec> parseSchemeSpec(llvm::StringRef text);

/// Builds the scheme attribute of a quantized spec through the registered
/// schemes' SPEC syntaxes (dialect/MixQ/SchemeRegistry.h). Errors point at
/// the unknown scheme, the unknown key or the bad value.
llvm::Expected<QuantSchemeAttrInterface>
buildSchemeAttr(MLIRContext *context, const SchemeSpec &spec);

/// Prints every registered scheme: its name, summary and example, and each
/// key with its help and SPEC default (`mixq-compile --list-schemes`).
void printSchemeSpecHelp(llvm::raw_ostream &os);

/// An error about `spec` at `offset`: the message, the spec and a caret.
llvm::Error makeSpecError(const SchemeSpec &spec, size_t offset,
                          const llvm::Twine &message);

/// `regex=SPEC` entries separated by ';', in priority order.
struct SchemeOverride {
  std::string pattern;
  SchemeSpec spec;
};
llvm::Expected<std::vector<SchemeOverride>>
parseSchemeOverrides(llvm::StringRef text);

} // namespace mlir::mixq

#endif // MIXQ_PASSES_SCHEMESPEC_H
