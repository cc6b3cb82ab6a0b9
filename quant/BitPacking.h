//===- BitPacking.h - packing of low-bit integer codes ----------*- C++ -*-===//
//
// The one bit layout every mixq scheme uses for packed integer codes:
//
//   * Codes are packed LSB-first into a continuous bit stream of 32-bit
//     little-endian words: code i of `bits` bits occupies stream bits
//     [i*bits, (i+1)*bits), and stream bit b is bit (b % 32) of word b / 32.
//   * A code may straddle two words (3-bit codes do: code 10 of a row uses
//     bits 30-31 of word 0 and bit 0 of word 1).
//   * A matrix is packed row by row; each row is its own stream, padded with
//     zero bits to a whole number of words, so rows start on a word boundary.
//
// This header is dependency-free C++17 so the runtime can share it.
//===----------------------------------------------------------------------===//
#ifndef MIXQ_QUANT_BITPACKING_H
#define MIXQ_QUANT_BITPACKING_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mixq::quant {

/// True for the code widths the packer supports: 1 to 8 bits.
bool isSupportedCodeWidth(unsigned bits);

/// Number of 32-bit words that hold `count` codes of `bits` bits.
int64_t packedWordCount(int64_t count, unsigned bits);

/// Packs `count` codes into `words` (which must hold packedWordCount words
/// and is fully overwritten). Each code must be < 2^bits; higher bits are
/// masked off.
void packCodes(const uint8_t *codes, int64_t count, unsigned bits,
               uint32_t *words);
std::vector<uint32_t> packCodes(const std::vector<uint8_t> &codes,
                                unsigned bits);

/// Reads code `index` from a packed stream.
uint32_t extractCode(const uint32_t *words, int64_t index, unsigned bits);

/// Unpacks `count` codes from `words` into `codes`.
void unpackCodes(const uint32_t *words, int64_t count, unsigned bits,
                 uint8_t *codes);
std::vector<uint8_t> unpackCodes(const std::vector<uint32_t> &words,
                                 int64_t count, unsigned bits);

/// Layout of a rows x cols code matrix packed row by row (see file comment).
struct PackedMatrixLayout {
  int64_t rows = 0;
  int64_t cols = 0;
  unsigned bits = 0;

  int64_t wordsPerRow() const { return packedWordCount(cols, bits); }
  int64_t totalWords() const { return rows * wordsPerRow(); }
  /// Index of the word holding the first bit of code (row, col).
  int64_t wordIndex(int64_t row, int64_t col) const;
  /// Bit offset of code (row, col) inside that word.
  unsigned bitOffset(int64_t col) const;
};

/// Where one quantization group of a packed row lives: groups cover codes
/// [g*groupSize, (g+1)*groupSize) of a row.
struct GroupSpan {
  int64_t firstWord = 0; ///< word (relative to the row) of the first code
  unsigned firstBit = 0; ///< bit offset of the first code in that word
  int64_t lastWord = 0;  ///< word holding the last bit of the last code
  /// True when the group starts on a word boundary and ends on one, so a
  /// kernel tile made of whole groups can load it with aligned word loads.
  bool wordAligned = false;
};
GroupSpan groupSpan(int64_t group, int64_t groupSize, unsigned bits);

/// Packs a row-major rows x cols matrix of codes with the layout above.
std::vector<uint32_t> packMatrix(const uint8_t *codes, int64_t rows,
                                 int64_t cols, unsigned bits);
/// Inverse of packMatrix.
std::vector<uint8_t> unpackMatrix(const uint32_t *words, int64_t rows,
                                  int64_t cols, unsigned bits);

} // namespace mixq::quant

#endif // MIXQ_QUANT_BITPACKING_H
