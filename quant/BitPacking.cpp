//===- BitPacking.cpp - packing of low-bit integer codes ------------------===//
//
// Implements the LSB-first 32-bit word stream described in BitPacking.h.
//===----------------------------------------------------------------------===//
#include "quant/BitPacking.h"

#include <algorithm>
#include <cassert>

using namespace mixq::quant;

static constexpr int64_t kWordBits = 32;

static uint32_t codeMask(unsigned bits) { return (1u << bits) - 1u; }

bool mixq::quant::isSupportedCodeWidth(unsigned bits) {
  return bits >= 1 && bits <= 8;
}

int64_t mixq::quant::packedWordCount(int64_t count, unsigned bits) {
  assert(count >= 0 && "negative code count");
  return (count * bits + kWordBits - 1) / kWordBits;
}

void mixq::quant::packCodes(const uint8_t *codes, int64_t count, unsigned bits,
                            uint32_t *words) {
  assert(isSupportedCodeWidth(bits) && "unsupported code width");
  uint32_t mask = codeMask(bits);
  int64_t i = 0;
  if (kWordBits % bits == 0) {
    // 1, 2, 4 and 8 bits: no code straddles a word, so whole words are
    // assembled in a register instead of OR-ed into memory code by code.
    int64_t perWord = kWordBits / bits;
    for (int64_t word = 0; word < count / perWord; ++word) {
      uint32_t value = 0;
      for (int64_t j = 0; j < perWord; ++j)
        value |= (codes[word * perWord + j] & mask) << (j * bits);
      words[word] = value;
    }
    i = count / perWord * perWord;
  }
  // Clearing first lets every remaining code be OR-ed in, and zeroes the row
  // padding.
  std::fill(words + i * bits / kWordBits, words + packedWordCount(count, bits),
            0u);
  for (; i < count; ++i) {
    uint32_t code = codes[i] & mask;
    int64_t bit = i * bits;
    int64_t word = bit / kWordBits;
    unsigned offset = static_cast<unsigned>(bit % kWordBits);
    words[word] |= code << offset;
    // The high part of a code that straddles a word boundary goes to the
    // low bits of the next word.
    if (offset + bits > kWordBits)
      words[word + 1] |= code >> (kWordBits - offset);
  }
}

std::vector<uint32_t> mixq::quant::packCodes(const std::vector<uint8_t> &codes,
                                             unsigned bits) {
  int64_t count = static_cast<int64_t>(codes.size());
  std::vector<uint32_t> words(packedWordCount(count, bits));
  packCodes(codes.data(), count, bits, words.data());
  return words;
}

uint32_t mixq::quant::extractCode(const uint32_t *words, int64_t index,
                                  unsigned bits) {
  assert(isSupportedCodeWidth(bits) && "unsupported code width");
  int64_t bit = index * bits;
  int64_t word = bit / kWordBits;
  unsigned offset = static_cast<unsigned>(bit % kWordBits);
  uint32_t value = words[word] >> offset;
  // Only touch the next word when the code really straddles into it, so the
  // last code of a stream never reads past its final word.
  if (offset + bits > kWordBits)
    value |= words[word + 1] << (kWordBits - offset);
  return value & codeMask(bits);
}

void mixq::quant::unpackCodes(const uint32_t *words, int64_t count,
                              unsigned bits, uint8_t *codes) {
  int64_t i = 0;
  if (kWordBits % bits == 0) {
    // No code straddles a word: read each word once.
    int64_t perWord = kWordBits / bits;
    uint32_t mask = codeMask(bits);
    for (int64_t word = 0; word < count / perWord; ++word) {
      uint32_t value = words[word];
      for (int64_t j = 0; j < perWord; ++j)
        codes[word * perWord + j] =
            static_cast<uint8_t>((value >> (j * bits)) & mask);
    }
    i = count / perWord * perWord;
  }
  for (; i < count; ++i)
    codes[i] = static_cast<uint8_t>(extractCode(words, i, bits));
}

std::vector<uint8_t>
mixq::quant::unpackCodes(const std::vector<uint32_t> &words, int64_t count,
                         unsigned bits) {
  assert(static_cast<int64_t>(words.size()) >= packedWordCount(count, bits) &&
         "too few words for the requested codes");
  std::vector<uint8_t> codes(count);
  unpackCodes(words.data(), count, bits, codes.data());
  return codes;
}

int64_t PackedMatrixLayout::wordIndex(int64_t row, int64_t col) const {
  return row * wordsPerRow() + col * bits / kWordBits;
}

unsigned PackedMatrixLayout::bitOffset(int64_t col) const {
  return static_cast<unsigned>(col * bits % kWordBits);
}

GroupSpan mixq::quant::groupSpan(int64_t group, int64_t groupSize,
                                 unsigned bits) {
  assert(group >= 0 && groupSize > 0 && "invalid group");
  int64_t beginBit = group * groupSize * bits;
  int64_t endBit = beginBit + groupSize * bits; // one past the last bit
  GroupSpan span;
  span.firstWord = beginBit / kWordBits;
  span.firstBit = static_cast<unsigned>(beginBit % kWordBits);
  span.lastWord = (endBit - 1) / kWordBits;
  span.wordAligned = beginBit % kWordBits == 0 && endBit % kWordBits == 0;
  return span;
}

std::vector<uint32_t> mixq::quant::packMatrix(const uint8_t *codes,
                                              int64_t rows, int64_t cols,
                                              unsigned bits) {
  PackedMatrixLayout layout{rows, cols, bits};
  int64_t wordsPerRow = layout.wordsPerRow();
  std::vector<uint32_t> words(layout.totalWords());
  // Each row is its own stream so that rows start on a word boundary.
  for (int64_t r = 0; r < rows; ++r)
    packCodes(codes + r * cols, cols, bits, words.data() + r * wordsPerRow);
  return words;
}

std::vector<uint8_t> mixq::quant::unpackMatrix(const uint32_t *words,
                                               int64_t rows, int64_t cols,
                                               unsigned bits) {
  int64_t wordsPerRow = packedWordCount(cols, bits);
  std::vector<uint8_t> codes(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    unpackCodes(words + r * wordsPerRow, cols, bits, codes.data() + r * cols);
  return codes;
}
