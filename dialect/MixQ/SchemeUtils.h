//===- SchemeUtils.h - helpers for writing quantization schemes -*- C++ -*-===//
//
// Building blocks shared by QuantSchemeAttrInterface implementations, in
// dialect/ and in out-of-tree or test-only schemes: IR emission of packed
// code loads and float conversions, and host byte packing.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_DIALECT_MIXQ_SCHEMEUTILS_H
#define MIXQ_DIALECT_MIXQ_SCHEMEUTILS_H

#include "dialect/MixQ/MixQInterfaces.h"
#include "quant/CalibrationStats.h"
#include "quant/FloatFormats.h"
#include "llvm/ADT/DenseSet.h"

#include <cstring>
#include <optional>
#include <vector>

namespace mlir::mixq {

/// Emits `arith.constant <value> : index`.
Value buildIndexConstant(OpBuilder &b, Location loc, int64_t value);

/// f32 and i32 constants.
Value buildF32Constant(OpBuilder &b, Location loc, float value);
Value buildI32Constant(OpBuilder &b, Location loc, int64_t value);

/// A row of `cols` `bits`-bit codes fills whole 32-bit words, so a column
/// tile maps to a contiguous word range (ComponentSpec::columnTiled).
bool isUnpaddedCodeStream(int64_t cols, unsigned bits);

/// The largest power of two at most `most` that divides `k` (1 at least):
/// the group of a shape fallback.
int64_t getLargestPowerOfTwoDivisor(int64_t most, int64_t k);

/// Emits the load of the `bits`-bit code (row, col) from component
/// `codesIndex`, a rows x wordsPerRow i32 matrix in the row-padded LSB-first
/// stream layout of quant/BitPacking.h. Returns the code as an i32. Codes
/// that straddle two words (3-bit) are handled.
Value buildPackedCodeLoad(OpBuilder &b, Location loc,
                          const ComponentReader &reader, unsigned codesIndex,
                          Value row, Value col, unsigned bits,
                          int64_t wordsPerRow);

/// A constant vector<n x i32> whose element i is f(i).
Value buildI32Vector(OpBuilder &b, Location loc, int64_t n,
                     llvm::function_ref<int32_t(int64_t)> f);

/// Whether a tile of `width` `bits`-bit codes that starts at a multiple of
/// `width` is made of whole words of the row-padded stream: bits divides 32
/// and width * bits is a multiple of 32. Word-level dequantization needs it.
bool isWholeWordTile(unsigned bits, int64_t width);

/// Whether a tile of `width` `bits`-bit codes that starts at a multiple of
/// `width` starts and ends on word boundaries (width * bits is a multiple of
/// 32), though codes may straddle words inside it (3-bit codes: 32 of them
/// are 3 words).
bool isWordAlignedTile(unsigned bits, int64_t width);

/// The `width` codes (row, col .. col + width - 1) of a code stream as
/// vector<width x i32>, from one ComponentReader::loadVector of their
/// width * bits / 32 words and one shift and mask per code. Where codes
/// straddle words (3 bits), each code's lane first takes the two bytes that
/// hold it, one byte shuffle of the tile (vpshufb on x86). Requires
/// isWordAlignedTile(bits, width) and col a multiple of width.
Value buildPackedCodeVector(OpBuilder &b, Location loc,
                            const ComponentReader &reader, unsigned codesIndex,
                            Value row, Value col, unsigned bits, int64_t width);

/// The `bits`-bit fields of `words` (a vector<n x i32> a scheme has formed,
/// fields LSB first, bits dividing 8) as vector<n * 32 / bits x i32> in
/// byte-major order: every byte of `words` zero-extended to i32 once
/// (vpmovzxbd on x86), then one shift and mask per field position within a
/// byte, each over all bytes. Element e is field `fields[e]` (filled in):
/// field f of byte y, at e = f * bytes + y. For 4-bit fields that is a
/// third of the instructions of a shift and mask per field in field order.
Value buildWordFieldVectorByBytes(OpBuilder &b, Location loc, Value words,
                                  unsigned bits,
                                  SmallVectorImpl<int64_t> &fields);

/// The same tile's codes two at a time: element j of the vector<width / 2 x
/// i32> is code 2j | code (2j + 1) << bits, the 2 * bits-bit field that the
/// pair forms in the stream (a table index: QuantSchemeAttrInterface::
/// getRowTables). The same loads, one shift and mask per pair. Requires
/// isWordAlignedTile(bits, width), an even width and col a multiple of it.
Value buildPackedCodePairVector(OpBuilder &b, Location loc,
                                const ComponentReader &reader,
                                unsigned codesIndex, Value row, Value col,
                                unsigned bits, int64_t width);

/// The same codes minus an integer zero point, q - z, as vector<width x f16>
/// (exact) in *pair order*, built a word at a time with the f16x2
/// magic-number trick and no int-to-float conversion:
///   * each (code i, code i + 16 / bits) pair of a word is masked, where it
///     lies within its byte, into the mantissas of the two halves of
///     0x6400'6400 (1024.0 as f16x2): one and-or per pair, and one shift by
///     8 per word, not one per pair. A pair k bits into its byte holds
///     1024 + q * 2^k exactly (k + bits <= 10);
///   * one f16x2 multiply-add per pair, v * 2^-k - (1024 * 2^-k + z),
///     gives q - z exactly (every intermediate is exact, so it may be
///     contracted into one fma).
/// `zero` is the zero point, an f16 scalar holding an integer in
/// [0, 1024), or null for the constant `symmetricZero`. Do the rest of the
/// elementwise f16x2 arithmetic in pair order and reorder last
/// (buildColumnOrder): the reordering then costs nothing, since consumers
/// pick each half where it lies. Requires isWholeWordTile(bits, width) and
/// bits <= 8.
Value buildCenteredHalfCodePairs(OpBuilder &b, Location loc,
                                 const ComponentReader &reader,
                                 unsigned codesIndex, Value row, Value col,
                                 unsigned bits, int64_t width, Value zero,
                                 int64_t symmetricZero = 0);
/// The same from code words already in registers, `packed` a
/// vector<n x i32> of n whole words of `bits`-bit codes (n * 32 / bits
/// codes).
Value buildCenteredHalfCodePairs(OpBuilder &b, Location loc, Value packed,
                                 unsigned bits, Value zero,
                                 int64_t symmetricZero = 0);
/// The same tile's codes before any subtraction, as vector<width x f16> in
/// buildCenteredHalfCodePairs' pair order: each pair masked, k bits into
/// its byte, into the mantissas of 2^(10 - k) in both halves, so that an
/// element holds 2^(10 - k) + q exactly, with one and-or per pair and
/// nothing else (QuantSchemeAttrInterface::
/// buildBiasedDequantVectorInAnyOrder). `order` is filled with the pair
/// order's columns (getPairOrderColumns), `bias` with each element's
/// 2^(10 - k). Requires isWholeWordTile(bits, width) and bits <= 8.
Value buildBiasedHalfCodePairs(OpBuilder &b, Location loc,
                               const ComponentReader &reader,
                               unsigned codesIndex, Value row, Value col,
                               unsigned bits, int64_t width,
                               SmallVectorImpl<int64_t> &order,
                               SmallVectorImpl<double> &bias);
/// Whether buildCenteredStreamCodePairs takes a tile of `width` `bits`-bit
/// codes: codes that do not divide words (3 bits), whole blocks of
/// 2 * getStreamPairDistance(bits) codes, starting and ending on word
/// boundaries.
bool isStreamPairTile(unsigned bits, int64_t width);
/// The distance d of the code pairs (i, i + d) of buildCenteredStreamCode-
/// Pairs: 4 for 3-bit codes (12 bits apart); 0 for widths it does not take.
int64_t getStreamPairDistance(unsigned bits);
/// q - z of a tile of a code stream whose codes straddle words (3 bits) as
/// vector<width x f16> in *pair order*, with the magic-number trick of
/// buildCenteredHalfCodePairs: in each block of 2d codes (d =
/// getStreamPairDistance(bits)), code i and code i + d lie d * bits bits
/// apart, so one funnel shift of two adjacent words (a plain shift, or
/// none, inside a word) puts code i 16 - d * bits bits into the low half
/// and code i + d at the bottom of the high half; one and-or masks both
/// into 0x6400'6400, and one f16x2 multiply-add, v * (2^-k, 1) -
/// (1024 * 2^-k + z, 1024 + z), gives both q - z exactly. Element 2p and
/// 2p + 1 are pair p's codes i and i + d (getStreamPairOrderColumns).
/// `zero` as for buildCenteredHalfCodePairs. Requires isStreamPairTile.
Value buildCenteredStreamCodePairs(OpBuilder &b, Location loc,
                                   const ComponentReader &reader,
                                   unsigned codesIndex, Value row, Value col,
                                   unsigned bits, int64_t width, Value zero,
                                   int64_t symmetricZero = 0);
/// The column of each element of buildCenteredStreamCodePairs' pair order.
SmallVector<int64_t> getStreamPairOrderColumns(unsigned bits, int64_t width);

/// The `width` codes of `row` from `col` (a multiple of `width`) as a
/// vector<width x i32>, for any width: buildPackedCodeVector (whole words)
/// where isWordAlignedTile(bits, width), otherwise buildPackedCodeLoad a
/// code at a time. `cols` is the row's length in codes.
Value buildPackedCodeTile(OpBuilder &b, Location loc,
                          const ComponentReader &reader, unsigned codesIndex,
                          Value row, Value col, unsigned bits, int64_t width,
                          int64_t cols);

/// q - z of the tile, exact for integer zero points: f16x2 pairs of
/// buildCenteredHalfCodePairs (in its pair order) when `halfPairs` and
/// isWholeWordTile(bits, width), of buildCenteredStreamCodePairs when
/// `halfPairs` and isStreamPairTile(bits, width), otherwise f32 in column
/// order from
/// buildPackedCodeTile. `order` is filled in (element p is column
/// order[p]); `zero` and `symmetricZero` as for buildCenteredHalfCodePairs,
/// `zero` in an f16 type when `halfPairs`.
Value buildCenteredCodeTile(OpBuilder &b, Location loc,
                            const ComponentReader &reader, unsigned codesIndex,
                            Value row, Value col, unsigned bits, int64_t width,
                            int64_t cols, bool halfPairs, Value zero,
                            int64_t symmetricZero,
                            SmallVectorImpl<int64_t> &order);
/// buildCenteredCodeTile's q - z times the scalar `scale`, in `resultType`:
/// f16 pairs times an f16 scale in f16 (q - z exact, one rounding), f32
/// times the widened scale in f32 and then rounded once: the same bits.
Value buildScaledCodeTile(OpBuilder &b, Location loc, Value centered,
                          Value scale, FloatType resultType);
/// buildCenteredCodeTile's q - z in `resultType` (exact: small integers).
Value buildCodeTileAs(OpBuilder &b, Location loc, Value centered,
                      FloatType resultType);

/// A vector in the pair order of buildCenteredHalfCodePairs, in column order.
Value buildColumnOrder(OpBuilder &b, Location loc, Value pairOrder,
                       unsigned bits);
/// The column of each element of buildCenteredHalfCodePairs' pair order
/// for `width` codes of `bits` bits: element p is column result[p].
SmallVector<int64_t> getPairOrderColumns(unsigned bits, int64_t width);
/// `vector`, whose element p is column order[p], in column order (one
/// vector.shuffle; none for the identity).
Value buildInColumnOrder(OpBuilder &b, Location loc, Value vector,
                         ArrayRef<int64_t> order);
/// Sets `order` to the column order of `width` elements (the identity).
void setColumnOrder(SmallVectorImpl<int64_t> &order, int64_t width);
/// `scheme`'s buildDequantVectorInAnyOrder tile put in column order: the
/// buildDequantVector of a scheme that overrides buildDequantVectorInAnyOrder.
Value buildDequantVectorInColumnOrder(QuantSchemeAttrInterface scheme,
                                      OpBuilder &b, Location loc,
                                      const ComponentReader &reader,
                                      ArrayRef<int64_t> shape, Value row,
                                      Value col, int64_t width,
                                      FloatType resultType);

/// Why `scheme` cannot describe a weight of `shape` (verifyShape's
/// message, which is not printed), or "" when it can.
std::string getShapeMismatch(QuantSchemeAttrInterface scheme,
                             ArrayRef<int64_t> shape);

/// Whether a `buildDequantVector` tile of `width` columns looks its weights
/// up in a table (a vector.gather: lut's codebook, bitplane's row LUT).
/// Such a tile holds a value per lookup at once, so generators give it
/// fewer columns where a lane holds several rows. With `withRowTables`,
/// the tile of a reader that has the row tables a generator builds
/// (getRowTablesToBuild), whose lookups take two weights at a time (lut's
/// code pairs) and are no gather.
bool dequantVectorGathers(QuantSchemeAttrInterface scheme,
                          ArrayRef<int64_t> shape, int64_t width,
                          FloatType resultType, bool withRowTables = false);

/// The scalar ops (constants aside) one `buildDequantVector` tile of `width`
/// columns takes per weight, found by building it into a scratch block that
/// is thrown away. A scheme that unpacks whole words emits vector ops and
/// well under one scalar op per weight; the default, which gathers the
/// scalars of buildDequantTile, several. A vector.gather (a table lookup)
/// counts one op per lane: no target does it in one instruction. Code
/// generators use it to decide what a tile can afford (more rows per warp, a
/// vector loop on the CPU). The tile reads through `reader` when one is given
/// (a recording reader then learns which components it reads), else from
/// placeholder tensors.
double getDequantScalarOpsPerWeight(QuantSchemeAttrInterface scheme,
                                    ArrayRef<int64_t> shape, int64_t width,
                                    FloatType resultType,
                                    const ComponentReader *reader = nullptr);

/// The indices of the components a matrix of `shape` actually reads: its
/// dequantization tile (a `bitplane` of width k reads only the top k planes
/// and one LUT) and its sparse terms. Found by building both into a scratch
/// block that is thrown away.
llvm::SmallDenseSet<unsigned>
getReadComponentIndices(QuantSchemeAttrInterface scheme,
                        ArrayRef<int64_t> shape, FloatType resultType);

/// A word-level tile's budget of scalar ops per weight: what unpacking
/// whole words and decoding a group's parameters once per tile costs
/// (affine under 0.5, mixed 1.9 at 32 columns), well below a tile gathered
/// a weight at a time (lut 20, bitplane 29).
constexpr double kWordLevelScalarOpsPerWeight = 2.0;
/// Whether a scheme's tile of `width` columns is word-level: at most
/// `maxOpsPerWeight` scalar ops per weight (getDequantScalarOpsPerWeight).
bool isWordLevelTile(QuantSchemeAttrInterface scheme, ArrayRef<int64_t> shape,
                     int64_t width, FloatType resultType,
                     double maxOpsPerWeight = kWordLevelScalarOpsPerWeight);

/// The order buildDequantVectorInAnyOrder (or, with `unscaled`,
/// buildUnscaledDequantVectorInAnyOrder) reports for tiles of `width`
/// (element p is column order[p]; it depends on the shape, width and type
/// only). A consumer that lays its other operand out to match, once, asks
/// before it builds any tile.
SmallVector<int64_t> getDequantVectorOrder(QuantSchemeAttrInterface scheme,
                                           ArrayRef<int64_t> shape,
                                           int64_t width, FloatType resultType,
                                           bool unscaled = false);

/// The row tables of a weight of `shape` (QuantSchemeAttrInterface::
/// getRowTables) a consumer of tiles of `width` weights in `resultType`
/// builds: those the tiles look up when the reader has every table
/// (buildDequantVector, in any order, unscaled; lut's pair table serves f16
/// tiles only) and whose entries the scheme builds (buildRowTableEntry
/// returns the table's element type, an integer or float of 8 to 64 bits:
/// a code generator addresses the table in bytes). The scheme reads its
/// components without the rest.
SmallVector<unsigned> getRowTablesToBuild(QuantSchemeAttrInterface scheme,
                                          ArrayRef<int64_t> shape,
                                          int64_t width, FloatType resultType);

/// Whether `scheme` has scale factors (getScaleFactorColumns > 0) and
/// builds them: buildScaleFactor an f32 and
/// buildUnscaledDequantVectorInAnyOrder a vector<width x resultType> with
/// its order. A consumer checks this before it takes weights unscaled, so
/// that a scheme declaring factors it does not build is only slower.
bool buildsScaleFactors(QuantSchemeAttrInterface scheme,
                        ArrayRef<int64_t> shape, int64_t width,
                        FloatType resultType);

/// The biases buildBiasedDequantVectorInAnyOrder reports for tiles of
/// `width` (they depend on the shape, width and type only), or none when
/// the scheme builds no such tile: it must build scale factors
/// (buildsScaleFactors), a vector<width x resultType> in its unscaled
/// tile's order, a bias per element and an f32 zero. A consumer asks once
/// before it builds any tile. `constantZero`, when given, is set to the
/// zero when the scheme builds it as a constant (QUIK's mid code), so that
/// a consumer may subtract it outside its loop.
SmallVector<double>
getDequantVectorBias(QuantSchemeAttrInterface scheme, ArrayRef<int64_t> shape,
                     int64_t width, FloatType resultType,
                     std::optional<double> *constantZero = nullptr);

/// A tile built as `values` - broadcast(`offset`): every lane's weight less
/// one scalar (affine's and mixed's q - z, QUIK's code - mid).
struct LaneOffsetTile {
  Value values;
  Value offset;
};

/// `tile` split into its values and lane offset when the op that makes it
/// is an arith.subf of a vector.broadcast of a scalar; std::nullopt
/// otherwise. A dot product may then sum values times x and subtract the
/// offset times x's sum over the tile once, instead of once per lane.
std::optional<LaneOffsetTile> matchLaneOffsetTile(Value tile);

/// Whether buildsScaleFactors holds and the unscaled tiles of `width`
/// match matchLaneOffsetTile. The form depends on the shape, width and type
/// only, so a consumer asks once before it builds any tile (and still
/// takes a tile that does not match whole).
bool buildsLaneOffsetTiles(QuantSchemeAttrInterface scheme,
                           ArrayRef<int64_t> shape, int64_t width,
                           FloatType resultType);

/// The f32 sum of value[e] * loadInput(col[e]) over the CSR entries e =
/// begin, begin + step, ... below end, components `colIndex` (unsigned
/// integers) and `valuesIndex` (floats, widened to f32): the body of
/// QuantSchemeAttrInterface::buildSparseDot for a CSR outlier matrix.
/// With `valuesRow`, the values are a matrix and its row `valuesRow` is
/// read (value[valuesRow][e]: outlier columns shared by every row).
Value buildCSRDot(OpBuilder &b, Location loc, const ComponentReader &reader,
                  unsigned colIndex, unsigned valuesIndex, Value begin,
                  Value end, Value step, InputLoader loadInput,
                  Value valuesRow = Value());

/// `vector<width x type>` with every element `scalar`.
Value buildSplat(OpBuilder &b, Location loc, Value scalar, int64_t width);

/// Widens a float scalar or vector to f32 (no-op for f32).
Value buildExtendToF32(OpBuilder &b, Location loc, Value value);
/// Rounds an f32 scalar or vector to `type` elements (no-op for f32).
Value buildTruncateFromF32(OpBuilder &b, Location loc, Value value,
                           FloatType type);

/// The storage format of a scale/zero/centroid float type (f16, bf16, f32).
::mixq::quant::ScalarFormat getScalarFormat(FloatType type);
/// True for the float types a scheme may store scalars in.
bool isScalarStorageType(Type type);

/// The calibration sensitivity of `options` as the host quantizers take it
/// (none when absent), checked against the `cols` inputs; errors start with
/// the scheme name.
llvm::Expected<std::optional<::mixq::quant::Sensitivity>>
sensitivityOf(const QuantizeOptions &options, int64_t cols,
              llvm::StringRef scheme);

/// The checks every host quantize() opens with, in this order: the
/// quantizer's own validation of the parameters against the shape
/// (`problem`, empty when they fit), the size of the weight buffer, and the
/// calibration data (sensitivityOf). Returns the sensitivity (none without
/// calibration data); errors start with `scheme`.
llvm::Expected<std::optional<::mixq::quant::Sensitivity>>
checkQuantizeInputs(llvm::StringRef scheme, llvm::StringRef problem,
                    ArrayRef<float> weights, ArrayRef<int64_t> shape,
                    const QuantizeOptions &options);

/// The sensitivity a host quantizer takes: null without calibration data.
inline const ::mixq::quant::Sensitivity *
getSensitivityOrNull(const std::optional<::mixq::quant::Sensitivity> &s) {
  return s ? &*s : nullptr;
}

/// A component's little-endian bytes from host elements, and back (the
/// host is little-endian, like the package format).
template <typename T> PackedBuffer toBytes(const std::vector<T> &values) {
  PackedBuffer bytes(values.size() * sizeof(T));
  if (!bytes.empty())
    std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}
template <typename T> std::vector<T> fromBytes(const PackedBuffer &bytes) {
  std::vector<T> values(bytes.size() / sizeof(T));
  if (!values.empty())
    std::memcpy(values.data(), bytes.data(), values.size() * sizeof(T));
  return values;
}

/// The shortest decimal that reads back as `value`, with the '.' MLIR's
/// float literals need (0.005, 3.0, 1.0e-05); nan and inf as printf's %g.
std::string formatFloatLiteral(double value);

/// `value` as printf's %g (1.5, 0.0075, -1), for messages.
std::string formatDouble(double value);

/// For SpecKey::rewriteValue: an invalid SPEC value; `message` completes
/// "SCHEME 'KEY' ..." ("must be ..., got 'x'").
llvm::Error makeSpecValueError(const llvm::Twine &message);

/// SpecKey::rewriteValue of a boolean key: 1/true/yes and 0/false/no.
llvm::Expected<std::string> rewriteSpecBool(StringRef value);

} // namespace mlir::mixq

#endif // MIXQ_DIALECT_MIXQ_SCHEMEUTILS_H
