//===- MixQInterfaces.td - QuantSchemeAttrInterface -------*- tablegen -*-===//
#ifndef MIXQ_DIALECT_MIXQ_MIXQINTERFACES_TD
#define MIXQ_DIALECT_MIXQ_MIXQINTERFACES_TD

include "mlir/IR/OpBase.td"

def QuantSchemeAttrInterface : AttrInterface<"QuantSchemeAttrInterface"> {
  let cppNamespace = "::mlir::mixq";
  let description = [{
    The extension point of mixq: every quantization scheme is an attribute
    implementing this interface, and the generic passes and code generators
    only talk to it (never switch on scheme kinds).

    A scheme describes, for a logical N x K weight matrix (`shape` is always
    `{N, K}`):

    * its **component buffers**: name, storage element type and shape, in a
      fixed order. A `!mixq.qtensor` of this scheme is stored as exactly
      these buffers (`mixq.assemble` takes them in this order);
    * its **exact bits per weight**, counting every component bit, padding
      included (the default sums the components);
    * a **host quantizer** from an fp32 matrix to little-endian component
      bytes, and the matching **host dequantizer**;
    * the **IR that dequantizes a tile**: `tileCols` consecutive weights
      of one row, as scalars of the requested float type, reading the
      components through a `ComponentReader` (which hides whether they are
      tensors, memrefs or staged copies in shared memory);
    * optionally, the same tile as **one vector, a packed word at a time**
      (`buildDequantVector`), which the code generators use;
    * optionally, **sparse terms applied after the dot product**
      (`buildSparseDot`): weights stored as a dense part plus sparse
      residuals (fp16 outliers) give the dense part per tile and add each
      residual once per row, never searching the residuals per weight.
  }];

  let methods = [
    StaticInterfaceMethod<[{
        How the scheme is spelled in a SPEC (`--mixq-quantize="scheme=..."`,
        `mixq-compile --scheme`): its name, its keys and the attribute
        syntax they map to. The scheme's dialect registers it
        (SchemeRegistry.h); omitted keys take the attribute's TableGen
        defaults and the attribute's `verify` validates the values.
      }],
      "::mlir::mixq::SchemeSpecSyntax", "getSpecSyntax", (ins)>,
    InterfaceMethod<[{
        Checks that the scheme can describe a matrix of `shape`; reports
        problems through `emitError` naming the parameter at fault.
      }],
      "::llvm::LogicalResult", "verifyShape",
      (ins "::llvm::ArrayRef<int64_t>":$shape,
           "::llvm::function_ref<::mlir::InFlightDiagnostic()>":$emitError)>,
    InterfaceMethod<[{
        Returns the component buffers of a matrix of `shape` (which passed
        verifyShape), in storage order.
      }],
      "::llvm::SmallVector<::mlir::mixq::ComponentSpec>", "getComponents",
      (ins "::llvm::ArrayRef<int64_t>":$shape)>,
    InterfaceMethod<[{
        Returns the exact storage cost in bits per logical weight, counting
        every component bit including padding.
      }],
      "double", "getBitsPerWeight", (ins "::llvm::ArrayRef<int64_t>":$shape),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        return ::mlir::mixq::computeBitsPerWeight(
            $_attr.getComponents(shape), shape);
      }]>,
    InterfaceMethod<[{
        Quantizes a row-major fp32 matrix of `shape` into component buffers
        (one little-endian byte buffer per component, in storage order).
        User errors (e.g. calibration data of the wrong size) come back as
        an `llvm::Error`.
      }],
      "::llvm::Expected<::mlir::mixq::PackedWeights>", "quantize",
      (ins "::llvm::ArrayRef<float>":$weights,
           "::llvm::ArrayRef<int64_t>":$shape,
           "const ::mlir::mixq::QuantizeOptions &":$options)>,
    InterfaceMethod<[{
        Reconstructs the row-major fp32 matrix from component buffers.
      }],
      "::llvm::Expected<std::vector<float>>", "dequantize",
      (ins "const ::mlir::mixq::PackedWeights &":$packed,
           "::llvm::ArrayRef<int64_t>":$shape)>,
    InterfaceMethod<[{
        Returns ||W - W'||_F / ||W||_F for the row-major fp32 matrix
        `weights` of `shape` and its reconstruction W' from `packed`, summed
        as `::mixq::quant::matrixErrorSums` does. The default dequantizes
        the whole matrix; a scheme may reconstruct a row at a time instead
        (no N x K buffer to write and read back), with the same result.
      }],
      "::llvm::Expected<double>", "reconstructionError",
      (ins "const ::mlir::mixq::PackedWeights &":$packed,
           "::llvm::ArrayRef<int64_t>":$shape,
           "::llvm::ArrayRef<float>":$weights),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        auto reconstructed = $_attr.dequantize(packed, shape);
        if (!reconstructed)
          return reconstructed.takeError();
        return ::mlir::mixq::relativeReconstructionError(
            weights, *reconstructed, shape);
      }]>,
    InterfaceMethod<[{
        Emits IR computing weights (row, col) .. (row, col + tileCols - 1)
        as `tileCols` scalars of `resultType`. `row` and `col` are `index`
        values; `col` is a multiple of `tileCols`.
      }],
      "::llvm::SmallVector<::mlir::Value>", "buildDequantTile",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "const ::mlir::mixq::ComponentReader &":$reader,
           "::llvm::ArrayRef<int64_t>":$shape, "::mlir::Value":$row,
           "::mlir::Value":$col, "int64_t":$tileCols,
           "::mlir::FloatType":$resultType)>,
    InterfaceMethod<[{
        Emits IR computing weights (row, col) .. (row, col + width - 1) as
        one `vector<width x resultType>`, equal bit for bit to the `width`
        scalars buildDequantTile returns for the same tile. `width` is a
        power of two dividing K and `col` a multiple of it.

        This is how a scheme dequantizes whole packed words at a time
        (reading them with `ComponentReader::loadVector`, one shift and mask
        per code, f16x2 arithmetic) instead of one code per load. Code
        generators call it for every weight tile; the default gathers
        buildDequantTile's scalars, so a scheme overrides it only for speed.

        A scheme whose `buildSparseDot` returns a value leaves those sparse
        terms out here: the vector is then its dense part, equal bit for bit
        to buildDequantTile's scalars of the dense part alone, and consumers
        add buildSparseDot to each row's dot product. Such a scheme must
        override this method.
      }],
      "::mlir::Value", "buildDequantVector",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "const ::mlir::mixq::ComponentReader &":$reader,
           "::llvm::ArrayRef<int64_t>":$shape, "::mlir::Value":$row,
           "::mlir::Value":$col, "int64_t":$width,
           "::mlir::FloatType":$resultType),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        return ::mlir::mixq::buildVectorFromScalars(
            builder, loc,
            $_attr.buildDequantTile(builder, loc, reader, shape, row, col,
                                    width, resultType));
      }]>,
    InterfaceMethod<[{
        buildDequantVector's tile in an order of the scheme's choosing:
        element p of the result is weight (row, col + order[p]). `order`,
        filled in, is a permutation of 0 .. width - 1 that depends only on
        `shape`, `width` and `resultType`, so two rows' tiles come in the
        same order.

        A consumer that takes the weights in any order (a dot product, which
        permutes its x to match, as the tensor-core GEMV does) calls this
        instead of buildDequantVector. A scheme whose unpacking leaves the
        weights out of column order (f16x2 pairs of codes from both halves
        of a word) then saves the reordering: one byte permute per pair of
        weights. The default is buildDequantVector in column order.
      }],
      "::mlir::Value", "buildDequantVectorInAnyOrder",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "const ::mlir::mixq::ComponentReader &":$reader,
           "::llvm::ArrayRef<int64_t>":$shape, "::mlir::Value":$row,
           "::mlir::Value":$col, "int64_t":$width,
           "::mlir::FloatType":$resultType,
           "::llvm::SmallVectorImpl<int64_t> &":$order),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        order.clear();
        for (int64_t i = 0; i < width; ++i)
          order.push_back(i);
        return $_attr.buildDequantVector(builder, loc, reader, shape, row, col,
                                         width, resultType);
      }]>,
    InterfaceMethod<[{
        How many consecutive columns of a row share a scale that a dot
        product may apply to its partial sum instead of to each weight: a
        group's (affine), the whole row's (outlier_cols: K), or 0 when the
        scheme has none (the default). The columns divide K. A scheme
        returning n > 0 implements buildScaleFactor and
        buildUnscaledDequantVectorInAnyOrder.

        A consumer that sums a run of n columns, or a part of one, before
        it multiplies by the run's factor saves the scheme's per-weight
        multiply (one f16x2 op per pair of weights on a GPU). Its sums then
        hold w / s * x products, exact in f16, and differ from sums of the
        f16-rounded weights by that rounding: the scale is applied in f32,
        once, as an integer kernel would (QUIK's `sx sw sum qx qw`).
      }],
      "int64_t", "getScaleFactorColumns",
      (ins "::llvm::ArrayRef<int64_t>":$shape),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        return 0;
      }]>,
    InterfaceMethod<[{
        The f32 scale factor of the run of getScaleFactorColumns columns
        holding column `col` of row `row` (both `index` values). The default
        (for schemes without one) returns a null Value.
      }],
      "::mlir::Value", "buildScaleFactor",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "const ::mlir::mixq::ComponentReader &":$reader,
           "::llvm::ArrayRef<int64_t>":$shape, "::mlir::Value":$row,
           "::mlir::Value":$col),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        return ::mlir::Value();
      }]>,
    InterfaceMethod<[{
        buildDequantVectorInAnyOrder's tile (same order, same `width`
        rules, the dense part only) divided by its scale factor: element p
        times buildScaleFactor(row, col), both widened to f32 and
        multiplied in f32, equals buildDequantTile's weight (row, col +
        order[p]) in f32 bit for bit, and every element is exact in
        `resultType` (small integers such as q - z). The tile lies within
        one run of getScaleFactorColumns columns. The default (for schemes
        without a factor) returns a null Value.
      }],
      "::mlir::Value", "buildUnscaledDequantVectorInAnyOrder",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "const ::mlir::mixq::ComponentReader &":$reader,
           "::llvm::ArrayRef<int64_t>":$shape, "::mlir::Value":$row,
           "::mlir::Value":$col, "int64_t":$width,
           "::mlir::FloatType":$resultType,
           "::llvm::SmallVectorImpl<int64_t> &":$order),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        return ::mlir::Value();
      }]>,
    InterfaceMethod<[{
        buildUnscaledDequantVectorInAnyOrder's tile (same order, same
        `width` rules) before the scheme subtracts anything: element p less
        `bias[p]` (filled in, a constant per element that depends only on
        `shape`, `width` and `resultType`) less `zero` (set to an f32 Value
        of the tile's run, or to a constant) equals unscaled element p, and
        every element and bias is exact in `resultType`.

        A dot product that sums these elements times x in f32 (the
        tensor-core GEMV's mma) subtracts sum(bias[p] x[p]) and zero sum(x)
        once per run of its sums instead of once per weight: a scheme whose
        unpacking leaves a constant in every weight (the f16 magic number
        2^(10-k) + q of a code k bits into its byte) then saves its per-pair
        subtraction. The default (for schemes without it) returns a null
        Value.
      }],
      "::mlir::Value", "buildBiasedDequantVectorInAnyOrder",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "const ::mlir::mixq::ComponentReader &":$reader,
           "::llvm::ArrayRef<int64_t>":$shape, "::mlir::Value":$row,
           "::mlir::Value":$col, "int64_t":$width,
           "::mlir::FloatType":$resultType,
           "::llvm::SmallVectorImpl<int64_t> &":$order,
           "::llvm::SmallVectorImpl<double> &":$bias,
           "::mlir::Value &":$zero),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        return ::mlir::Value();
      }]>,
    InterfaceMethod<[{
        For an indirect component (`ComponentSpec::indirectColumns`, its
        index in getComponents is `component`): the row (`index`) holding
        the run of columns that contains column `col` of weight row `row`
        (both `index` values), read through `reader`. Every run must have
        one, in bounds (a run without data of its own names a row that holds
        what its data would be: a low group of `mixed` the last row of
        `high_codes`, all zeros), and the scheme's own reads of the
        component must use that row: a code generator then copies each tile
        stages ahead (mixed's extra codes by cp.async beside the low codes:
        the asynchronous dequantization of the seed paper), and the
        StagedReader serves the scheme's reads from the copy. The default
        (no indirect component) returns a null Value.
      }],
      "::mlir::Value", "buildIndirectRow",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "const ::mlir::mixq::ComponentReader &":$reader,
           "::llvm::ArrayRef<int64_t>":$shape, "unsigned":$component,
           "::mlir::Value":$row, "::mlir::Value":$col),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        return ::mlir::Value();
      }]>,
    InterfaceMethod<[{
        Tables a code generator may compute once per weight row of `shape`,
        before its loop over the row, and hand back to the scheme through
        ComponentReader::hasRowTable and gatherRowTable (a GPU kernel keeps
        them in shared memory beside the row's resident components). A
        scheme whose lookups would cost less through a table derived from
        its components declares it here: a per-row codebook becomes one
        entry per pair of codes, so one lookup dequantizes two weights. A
        table whose entries depend on the entry alone (a fixed code
        format's values) says so (RowTableSpec::sameForEveryRow): a
        consumer may then hold one copy for all its rows, so that a pair
        table of 4-bit codes costs 1 KiB, not 1 KiB a row.
        buildDequantVector and buildDequantVectorInAnyOrder must give the
        same bits with the tables as without, and read their components
        when the reader has none. None by default.
      }],
      "::llvm::SmallVector<::mlir::mixq::RowTableSpec>", "getRowTables",
      (ins "::llvm::ArrayRef<int64_t>":$shape),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        return {};
      }]>,
    InterfaceMethod<[{
        Entry `entry` (an `index` below the table's entries) of weight row
        `row`'s table `table` (an index into getRowTables), a value of the
        table's element type, read through `reader` from the row's
        components. The default (no tables) returns a null Value.
      }],
      "::mlir::Value", "buildRowTableEntry",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "const ::mlir::mixq::ComponentReader &":$reader,
           "::llvm::ArrayRef<int64_t>":$shape, "unsigned":$table,
           "::mlir::Value":$row, "::mlir::Value":$entry),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        return ::mlir::Value();
      }]>,
    InterfaceMethod<[{
        Emits the f32 sum, over the sparse terms of weight row `row` that
        buildDequantVector leaves out, of term value times the input at the
        term's column, `loadInput(builder, loc, col)` (an f32; `col` is an
        `index`). Only the row's terms first, first + step, first + 2 step,
        ... (in the scheme's storage order; `first` and `step` are `index`
        values) are summed, so that the lanes of a warp can share a row's
        terms. Each term value is widened to f32 and multiplied with the
        input in f32.

        Returns a null Value when the scheme has no sparse terms (the
        default): its buildDequantVector is then the whole weight.
      }],
      "::mlir::Value", "buildSparseDot",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "const ::mlir::mixq::ComponentReader &":$reader,
           "::llvm::ArrayRef<int64_t>":$shape, "::mlir::Value":$row,
           "::mlir::Value":$first, "::mlir::Value":$step,
           "::mlir::mixq::InputLoader":$loadInput),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        return ::mlir::Value();
      }]>,
    InterfaceMethod<[{
        A scheme close to this one that describes a weight of `shape` which
        this one cannot (verifyShape fails), or null when there is none (the
        default). It must itself pass verifyShape for `shape`.
        `--mixq-quantize` quantizes such a weight with it and warns, so
        that a whole model never fails over one weight (llama.cpp falls
        back per tensor the same way); `mixq-compile --report` shows which.
        `affine` and `mixed` take the largest power-of-two group below
        theirs that divides K (mixed then, where no mixed group fits,
        `affine` at its high-group width); `sparse` wraps its dense part's.
      }],
      "::mlir::Attribute", "getShapeFallback",
      (ins "::llvm::ArrayRef<int64_t>":$shape),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        return ::mlir::Attribute();
      }]>,
    InterfaceMethod<[{
        The bits of the activation codes this scheme's matmuls take: a
        scheme that quantizes the activations too (W4A8) returns them, and
        `--mixq-quantize` then puts a `mixq.quantize_act` of that many bits
        before each matmul of the weight. None (the default): weight-only.
      }],
      "std::optional<unsigned>", "getActivationBits", (ins),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        return std::nullopt;
      }]>,
    InterfaceMethod<[{
        For a scheme with activation bits: the i1 "input column `col` (an
        `index`) passes through mixq.quantize_act unquantized" (QUIK's
        outlier columns), read through `reader` from the weight's
        components. The default, no column, is a constant false.
      }],
      "::mlir::Value", "buildIsPassthroughColumn",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "const ::mlir::mixq::ComponentReader &":$reader,
           "::mlir::Value":$col),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        return ::mlir::mixq::buildBoolConstant(builder, loc, false);
      }]>,
    InterfaceMethod<[{
        For a scheme with activation bits: one element of
        mixq.quantize_act, the f32 `value` of input column `col` (an
        `index`) of a token whose quantized columns span [lo, hi] (f32,
        lo <= 0 <= hi, as the caller reduces them over the columns that do
        not pass through), quantized to `bits` bits and dequantized again,
        as f32. The default is per-token asymmetric rounding
        (buildAsymmetricActivation), which passes the
        buildIsPassthroughColumn columns through.
      }],
      "::mlir::Value", "buildQuantizeActivation",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Location":$loc,
           "const ::mlir::mixq::ComponentReader &":$reader,
           "::mlir::Value":$col, "::mlir::Value":$value, "::mlir::Value":$lo,
           "::mlir::Value":$hi, "unsigned":$bits),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        return ::mlir::mixq::buildAsymmetricActivation(
            builder, loc,
            $_attr.buildIsPassthroughColumn(builder, loc, reader, col), value,
            lo, hi, bits);
      }]>,
    InterfaceMethod<[{
        For a scheme of nested codes, readable at several widths from one
        copy of the weights (the top b bits of a code are its width-b code):
        the widths it can decode at and the one it decodes at now. None (the
        default) for every other scheme. `--mixq-decode-widths` uses this to
        give one package a decode plan per width.
      }],
      "std::optional<::mlir::mixq::NestedWidths>", "getNestedWidths", (ins),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        return std::nullopt;
      }]>,
    InterfaceMethod<[{
        The same scheme decoding at `width` (within getNestedWidths' floor
        and ceiling), with the same components; a null attribute when the
        scheme has no nested widths (the default).
      }],
      "::mlir::Attribute", "withNestedDecodeWidth", (ins "unsigned":$width),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        return ::mlir::Attribute();
      }]>,
    InterfaceMethod<[{
        The bits per logical weight that one dequantization of the whole
        matrix reads: getBitsPerWeight (the default) unless the scheme
        stores components it does not read at its decode width (a nested
        scheme's lower planes). Reported per decode width in the manifest.
      }],
      "double", "getReadBitsPerWeight",
      (ins "::llvm::ArrayRef<int64_t>":$shape),
      /*methodBody=*/[{}], /*defaultImplementation=*/[{
        return $_attr.getBitsPerWeight(shape);
      }]>,
  ];
}

#endif // MIXQ_DIALECT_MIXQ_MIXQINTERFACES_TD
