//===- MixQInterfaces.h - QuantSchemeAttrInterface --------------*- C++ -*-===//
//
// The C++ vocabulary of QuantSchemeAttrInterface: component descriptions,
// host-side packed buffers, quantizer options and the ComponentReader that
// lets a scheme emit loads without knowing whether its components are
// tensors or memrefs.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQINTERFACES_H
#define MIXQ_DIALECT_MIXQ_MIXQINTERFACES_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlir::mixq {

/// One named buffer of a scheme's packed storage.
struct ComponentSpec {
  std::string name; ///< e.g. "codes", "scales", "zeros", "lut"
  Type elementType; ///< storage element type: i32 words, f16, ...
  SmallVector<int64_t, 2> shape;
  /// An N x X component whose row r, elements [c * X / K, (c + t) * X / K)
  /// hold the data of exactly the weights (r, c .. c + t - 1) whenever
  /// t * X / K is whole (packed codes in column order). Code generators may
  /// stage such column tiles through fast memory; false makes no promise.
  bool columnTiled = false;
  /// Nonzero: an M x X component each of whose rows holds the data of
  /// `indirectColumns` consecutive columns (a run starting at a multiple of
  /// it) of one weight row, element e the columns from e * indirectColumns
  /// / X on, and QuantSchemeAttrInterface::buildIndirectRow names the row
  /// of a run (mixed's high_codes: a high group's extra codes). Code
  /// generators may stage such tiles ahead like column-tiled ones.
  int64_t indirectColumns = 0;

  int64_t getNumElements() const;
  /// Storage size of the whole buffer, in bits.
  int64_t getSizeInBits() const;
  /// Storage size in bytes (elements are whole bytes wide).
  int64_t getSizeInBytes() const { return getSizeInBits() / 8; }
  RankedTensorType getTensorType() const;
};

/// A table a code generator may compute once per weight row, before its
/// loop over the row, from the row's components
/// (QuantSchemeAttrInterface::getRowTables): e.g. a codebook's f16 values
/// for every pair of codes, so that one lookup dequantizes two weights.
struct RowTableSpec {
  std::string name; ///< e.g. "code_pairs"
  Type elementType; ///< i32 words, f16, ...
  int64_t entries = 0;
  /// Every row's table is the same (its entries depend on the entry alone,
  /// such as a fixed code format's values): a consumer may build one copy
  /// for all its rows, so that a table of 1 KiB costs 1 KiB, not 1 KiB a
  /// row.
  bool sameForEveryRow = false;
};

/// The widths a nested scheme decodes at: every width in [floor, ceiling]
/// reads the same components, and `current` is the one it decodes at.
struct NestedWidths {
  unsigned floor = 0;
  unsigned ceiling = 0;
  unsigned current = 0;
};

/// What a SPEC value must look like before it becomes the value of an
/// attribute parameter; checked (and numbers normalized: `5e-3` becomes
/// `0.005`) before the attribute's parser sees it, so that `bits=-1` is an
/// error about the value rather than a wrapped 4294967295.
enum class SpecValueKind {
  /// No check beyond the characters of numbers and keywords (a key with a
  /// rewriteValue checks its own values).
  Any,
  /// 0 .. 2^32 - 1, for an `unsigned` parameter.
  Unsigned,
  /// A 64-bit signed integer.
  Integer,
  /// A finite real number, for a floating-point parameter.
  Number,
  /// An identifier, for an enum parameter.
  Keyword,
};

/// One key of a scheme's SPEC (`name:key=value,...`). Strings are copied
/// into the registry, so a plugin may build them at run time.
struct SpecKey {
  /// The key as written in a SPEC, e.g. `hi-frac`.
  std::string key;
  /// One line of help: what it sets and its valid values.
  std::string help;
  SpecValueKind kind = SpecValueKind::Any;
  /// The attribute parameter it sets; empty means the key with every '-'
  /// read as '_' (`hi-frac` sets `hi_frac`).
  std::string param = {};
  /// The value a SPEC that omits the key gets, for a parameter that the
  /// attribute requires. Empty for a parameter with a TableGen default,
  /// which then applies.
  std::string defaultValue = {};
  /// Rewrites a SPEC value into the parameter's MLIR syntax (e.g. affine's
  /// `clip=mse` to `11`); an empty result leaves the parameter to its
  /// default. An invalid value gives an error whose message completes
  /// "SCHEME 'KEY' ...", e.g. "must be rtn, mse or ..., got 'x'". Null
  /// passes the value through.
  llvm::Expected<std::string> (*rewriteValue)(StringRef value) = nullptr;
  /// The parameter's name in the attribute.
  std::string getParamName() const;
};

/// How a scheme is spelled in a SPEC: the generic grammar in
/// passes/SchemeSpec.h turns `name:key=value,...` into the attribute's own
/// syntax, `attrName<param = value, ...>`, and parses that. So the
/// defaults of omitted keys are the attribute's TableGen defaults and the
/// values are checked by the attribute's `verify`, with no second copy of
/// either (a rewriteValue checks the spellings it accepts).
struct SchemeSpecSyntax {
  /// The SPEC name, e.g. `affine`.
  std::string name;
  /// The attribute's name as written in IR, e.g. `#mixq.affine`. Its
  /// assembly format is `<` struct(params) `>`, or, for a scheme that
  /// wraps another, `<` $dense `,` struct(params) `>`.
  std::string attrName;
  /// One line for `mixq-compile --list-schemes` and errors.
  std::string summary;
  /// A valid SPEC, for help and errors.
  std::string example;
  /// Every key, in the order errors and help list them.
  std::vector<SpecKey> keys;
  /// The scheme stores a dense scheme's residuals and so wraps one:
  /// `DENSE+name:...` in a SPEC, the dense attribute first in its syntax.
  bool wrapsDense = false;
  /// Maps the built attribute to its canonical form (an explicit default
  /// left implicit); null keeps it.
  Attribute (*canonicalize)(Attribute) = nullptr;
};

/// Host-side bytes of one component: little-endian elements, row-major.
using PackedBuffer = std::vector<uint8_t>;
/// All components of one quantized matrix, in storage order.
using PackedWeights = std::vector<PackedBuffer>;

/// Calibration data a quantizer may use. Everything is optional.
struct QuantizeOptions {
  /// Per-input-column sensitivity, e.g. E[x^2] (the Hessian diagonal) from
  /// calibration activations; K values, or empty when there are none.
  ArrayRef<float> inputSensitivity;
};

/// ||W - W'||_F / ||W||_F of row-major matrices of `shape`, summed as
/// ::mixq::quant::matrixErrorSums does (the default reconstructionError).
double relativeReconstructionError(ArrayRef<float> weights,
                                   ArrayRef<float> reconstructed,
                                   ArrayRef<int64_t> shape);

/// Sum of all component bits divided by the number of logical weights.
double computeBitsPerWeight(ArrayRef<ComponentSpec> components,
                            ArrayRef<int64_t> shape);

/// Checks that `packed` has one buffer of the right size per component;
/// the error names the component at fault.
llvm::Error checkPackedSizes(ArrayRef<ComponentSpec> components,
                             const PackedWeights &packed);

/// Wraps host bytes of a component as a constant attribute of its tensor
/// type, and back.
DenseElementsAttr getComponentAttr(const ComponentSpec &component,
                                   const PackedBuffer &bytes);
PackedBuffer getComponentBytes(DenseElementsAttr attr);

/// vector.gather of `source` (a tensor or memref) at (leading..., e) for
/// every e of `lastIndices`, all lanes enabled.
Value buildGather(OpBuilder &builder, Location loc, Value source,
                  ValueRange leading, Value lastIndices);

/// Emits the load of a matmul's input (activation) at column `col` (an
/// `index`) as an f32, for QuantSchemeAttrInterface::buildSparseDot.
using InputLoader =
    llvm::function_ref<Value(OpBuilder &builder, Location loc, Value col)>;

/// An i1 constant.
Value buildBoolConstant(OpBuilder &builder, Location loc, bool value);

/// Per-token asymmetric activation quantization of one element, QUIK's and
/// the default QuantSchemeAttrInterface::buildQuantizeActivation: the f32
/// `value` of a token whose quantized columns span [lo, hi] (f32,
/// lo <= 0 <= hi) to `bits` bits and back, in f32, or `value` itself where
/// `passThrough` (i1) holds. With maxq = 2^bits - 1:
/// s = clamp(f16((hi - lo) / maxq), 2^-24, 65504) (1 when hi == lo),
/// z = clamp(round(-lo / s), 0, maxq), q = clamp(round(x / s) + z, 0, maxq),
/// result (q - z) * s; round is half away from zero.
Value buildAsymmetricActivation(OpBuilder &builder, Location loc,
                                Value passThrough, Value value, Value lo,
                                Value hi, unsigned bits);

/// `vector<values.size() x T>` of scalars of one type T.
Value buildVectorFromScalars(OpBuilder &builder, Location loc,
                             ArrayRef<Value> values);

/// Gives a scheme scalar access to its component buffers while it emits
/// dequantization IR. Components are values of tensor or memref type in
/// storage order; `load` emits `tensor.extract` or `memref.load`.
class ComponentReader {
public:
  explicit ComponentReader(ValueRange components)
      : components(components.begin(), components.end()) {}
  virtual ~ComponentReader() = default;

  unsigned getNumComponents() const { return components.size(); }
  Value getComponent(unsigned index) const { return components[index]; }
  /// Emits a load of element `indices` (index-typed) of component `index`.
  /// Backends override it to read staged copies of the components.
  virtual Value load(OpBuilder &builder, Location loc, unsigned index,
                     ValueRange indices) const;
  /// Emits a load of `count` consecutive elements of component `index`
  /// along its last dimension, from `indices` on, as one vector. The last
  /// index is a multiple of `count`, so a staged copy can be read with one
  /// aligned vector load; the default loads from the component itself.
  virtual Value loadVector(OpBuilder &builder, Location loc, unsigned index,
                           ValueRange indices, int64_t count) const;
  /// Emits the gather of component `index`'s elements (leading..., e) for
  /// every `e` of `lastIndices` (a vector of index or of unsigned integers
  /// such as i32 codes) as one vector: a table
  /// lookup per lane, e.g. a per-row codebook indexed by codes. The default
  /// is one vector.gather from the component itself.
  virtual Value gather(OpBuilder &builder, Location loc, unsigned index,
                       ValueRange leading, Value lastIndices) const;
  /// gather's entries converted to float type `type` (through f32, so any
  /// float type): the default converts gather's result; a reader that
  /// looks the entries up in another type anyway (the CPU's registers of
  /// f32 entries) converts once, not through the component's type.
  virtual Value gatherAs(OpBuilder &builder, Location loc, unsigned index,
                         ValueRange leading, Value lastIndices,
                         FloatType type) const;
  /// Whether the consumer built row table `table` (an index into
  /// QuantSchemeAttrInterface::getRowTables) for the rows it reads. A
  /// scheme then may look its weights up there; it reads its components
  /// otherwise. None by default: a table costs its consumer shared memory
  /// and a pass over its entries per row, which only a GPU kernel's long
  /// loop over the row repays.
  virtual bool hasRowTable(unsigned table) const { return false; }
  /// Emits the gather of entries `entries` (a vector of i32) of weight row
  /// `row`'s table `table`, as one vector of the table's element type.
  /// Only called when hasRowTable(table); the default returns null.
  virtual Value gatherRowTable(OpBuilder &builder, Location loc, unsigned table,
                               Value row, Value entries) const {
    return Value();
  }

private:
  SmallVector<Value> components;
};

} // namespace mlir::mixq

#include "dialect/MixQ/MixQInterfaces.h.inc"

#endif // MIXQ_DIALECT_MIXQ_MIXQINTERFACES_H
