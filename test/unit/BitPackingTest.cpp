//===- BitPackingTest.cpp - tests of the packed code layout ---------------===//
//
// Expected words are worked out by hand from the layout in BitPacking.h:
// code i of `bits` bits sits at stream bits [i*bits, (i+1)*bits), and stream
// bit b is bit b % 32 of word b / 32.
//===----------------------------------------------------------------------===//
#include "quant/BitPacking.h"

#include <gtest/gtest.h>

#include <random>

using namespace mixq::quant;

namespace {

TEST(BitPackingTest, SupportedWidths) {
  EXPECT_FALSE(isSupportedCodeWidth(0));
  for (unsigned bits = 1; bits <= 8; ++bits)
    EXPECT_TRUE(isSupportedCodeWidth(bits)) << bits;
  EXPECT_FALSE(isSupportedCodeWidth(9));
  EXPECT_FALSE(isSupportedCodeWidth(16));
}

TEST(BitPackingTest, WordCount) {
  EXPECT_EQ(packedWordCount(0, 4), 0);
  EXPECT_EQ(packedWordCount(8, 4), 1);    // 32 bits
  EXPECT_EQ(packedWordCount(9, 4), 2);    // 36 bits -> 2 words
  EXPECT_EQ(packedWordCount(11, 3), 2);   // 33 bits -> 2 words
  EXPECT_EQ(packedWordCount(32, 3), 3);   // 96 bits, exactly 3 words
  EXPECT_EQ(packedWordCount(33, 3), 4);   // 99 bits -> 4 words
  EXPECT_EQ(packedWordCount(100, 3), 10); // 300 bits = 9 words + 12 bits
  EXPECT_EQ(packedWordCount(5, 8), 2);    // 40 bits
  EXPECT_EQ(packedWordCount(32, 1), 1);
}

TEST(BitPackingTest, FourBitCodes) {
  // Code i is nibble i, counted from the least significant nibble.
  std::vector<uint8_t> codes = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<uint32_t> words = packCodes(codes, 4);
  EXPECT_EQ(words, std::vector<uint32_t>{0x87654321u});
  EXPECT_EQ(unpackCodes(words, 8, 4), codes);
}

TEST(BitPackingTest, TwoBitCodes) {
  // Each hex digit holds two codes: digit = c[2k] | c[2k+1] << 2.
  //   (0,1) -> 0x4, (2,3) -> 0xE, (3,2) -> 0xB, (1,0) -> 0x1,
  //   (1,1) -> 0x5, (1,1) -> 0x5, (2,2) -> 0xA, (2,2) -> 0xA
  // read from the low digit up: 0xAA551BE4.
  std::vector<uint8_t> codes = {0, 1, 2, 3, 3, 2, 1, 0, 1, 1, 1, 1, 2, 2, 2, 2};
  std::vector<uint32_t> words = packCodes(codes, 2);
  EXPECT_EQ(words, std::vector<uint32_t>{0xAA551BE4u});
  EXPECT_EQ(unpackCodes(words, 16, 2), codes);
}

TEST(BitPackingTest, EightBitCodes) {
  // Bytes in little-endian order; the fifth code starts word 1, whose other
  // three bytes are zero padding.
  std::vector<uint8_t> codes = {0x11, 0x22, 0x33, 0x44, 0xAB};
  std::vector<uint32_t> words = packCodes(codes, 8);
  EXPECT_EQ(words, (std::vector<uint32_t>{0x44332211u, 0x000000ABu}));
  EXPECT_EQ(unpackCodes(words, 5, 8), codes);
}

TEST(BitPackingTest, ThreeBitCodesStraddleWords) {
  // Codes 0..7 fill bits 0-23 as the octal number 076543210
  //   = 111 110 101 100 011 010 001 000 b = 0x00FAC688.
  // Code 8 = 0 (bits 24-26); code 9 = 1 at bit 27 -> 0x08000000.
  // Code 10 = 6 = 110b uses bits 30-32: its low bits 10b go to bits 30-31 of
  // word 0 (-> 0x80000000) and its high bit 1 to bit 0 of word 1.
  // Code 11 = 3 = 011b at bits 33-35 = bits 1-3 of word 1 -> 0x6.
  //   word 0 = 0x00FAC688 | 0x08000000 | 0x80000000 = 0x88FAC688
  //   word 1 = 0x1 | 0x6 = 0x7
  std::vector<uint8_t> codes = {0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 6, 3};
  std::vector<uint32_t> words = packCodes(codes, 3);
  EXPECT_EQ(words, (std::vector<uint32_t>{0x88FAC688u, 0x00000007u}));
  EXPECT_EQ(extractCode(words.data(), 10, 3), 6u);
  EXPECT_EQ(extractCode(words.data(), 11, 3), 3u);
  EXPECT_EQ(unpackCodes(words, 12, 3), codes);
}

TEST(BitPackingTest, ThreeBitSingleStraddlingCode) {
  // Only code 10 = 5 = 101b: bit 0 of the code -> bit 30 of word 0,
  // bit 1 (0) -> bit 31, bit 2 (1) -> bit 0 of word 1.
  std::vector<uint8_t> codes(11, 0);
  codes[10] = 5;
  std::vector<uint32_t> words = packCodes(codes, 3);
  EXPECT_EQ(words, (std::vector<uint32_t>{0x40000000u, 0x00000001u}));
  EXPECT_EQ(extractCode(words.data(), 10, 3), 5u);
}

TEST(BitPackingTest, ThreeBitSecondStraddle) {
  // The next straddling 3-bit code is code 21 (bits 63-65): bit 31 of word 1
  // and bits 0-1 of word 2. Code 21 = 7 -> word 1 = 0x80000000, word 2 = 0x3.
  std::vector<uint8_t> codes(22, 0);
  codes[21] = 7;
  std::vector<uint32_t> words = packCodes(codes, 3);
  EXPECT_EQ(words, (std::vector<uint32_t>{0u, 0x80000000u, 0x00000003u}));
  EXPECT_EQ(extractCode(words.data(), 21, 3), 7u);
}

TEST(BitPackingTest, PackOverwritesDestination) {
  // packCodes must clear what was there, including the padding bits 20-31.
  // Codes 1..5 as nibbles: 0x00054321.
  uint8_t codes[] = {1, 2, 3, 4, 5};
  uint32_t words[2] = {0xFFFFFFFFu, 0xDEADBEEFu};
  packCodes(codes, 5, 4, words);
  EXPECT_EQ(words[0], 0x00054321u);
  EXPECT_EQ(words[1], 0xDEADBEEFu); // one word needed; the next is untouched
}

TEST(BitPackingTest, MasksTooLargeCodes) {
  // 2-bit: 0xFF -> 3, 0x04 -> 0, 0x07 -> 3, 0x02 -> 2.
  //   digits (3,0) -> 0x3, (3,2) -> 0xB: 0x000000B3.
  EXPECT_EQ(packCodes({0xFF, 0x04, 0x07, 0x02}, 2),
            std::vector<uint32_t>{0x000000B3u});
  // 4-bit: 0x1F -> 0xF, 0xA0 -> 0x0: 0x0000000F. Without masking the high
  // bits of the first code would land in the second code.
  EXPECT_EQ(packCodes({0x1F, 0xA0}, 4), std::vector<uint32_t>{0x0000000Fu});
  // 3-bit code 10 = 0xFD -> 101b: same words as the single-straddle test.
  std::vector<uint8_t> codes(11, 0);
  codes[10] = 0xFD;
  EXPECT_EQ(packCodes(codes, 3),
            (std::vector<uint32_t>{0x40000000u, 0x00000001u}));
}

TEST(BitPackingTest, MatrixRowsArePadded) {
  // 3 x 5 codes of 4 bits: 20 bits per row, padded to one word each.
  uint8_t codes[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 0, 15, 0, 15};
  std::vector<uint32_t> words = packMatrix(codes, 3, 5, 4);
  EXPECT_EQ(words,
            (std::vector<uint32_t>{0x00054321u, 0x000A9876u, 0x000F0F0Fu}));
  EXPECT_EQ(unpackMatrix(words.data(), 3, 5, 4),
            std::vector<uint8_t>(codes, codes + 15));
}

TEST(BitPackingTest, MatrixRowsStartOnWordBoundary) {
  // 2 x 12 codes of 3 bits: 36 bits per row -> 2 words per row.
  // Row 0 is the straddling example above: {0x88FAC688, 0x7}.
  // Row 1 is twelve 7s: 36 one bits -> {0xFFFFFFFF, 0xF}. Had the rows been
  // packed as one stream, row 1 would start at bit 4 of word 1.
  uint8_t codes[] = {0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 6, 3,
                     7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
  std::vector<uint32_t> words = packMatrix(codes, 2, 12, 3);
  EXPECT_EQ(words, (std::vector<uint32_t>{0x88FAC688u, 0x00000007u, 0xFFFFFFFFu,
                                          0x0000000Fu}));
  EXPECT_EQ(unpackMatrix(words.data(), 2, 12, 3),
            std::vector<uint8_t>(codes, codes + 24));
}

TEST(BitPackingTest, MatrixLayout) {
  // 3 bits x 100 columns = 300 bits -> 10 words per row.
  PackedMatrixLayout layout{4, 100, 3};
  EXPECT_EQ(layout.wordsPerRow(), 10);
  EXPECT_EQ(layout.totalWords(), 40);
  EXPECT_EQ(layout.wordIndex(0, 0), 0);
  EXPECT_EQ(layout.bitOffset(0), 0u);
  // Column 10 starts at bit 30 of the row: word 2 * 10 + 0, bit 30.
  EXPECT_EQ(layout.wordIndex(2, 10), 20);
  EXPECT_EQ(layout.bitOffset(10), 30u);
  // Column 11 starts at bit 33: word 2 * 10 + 1, bit 1.
  EXPECT_EQ(layout.wordIndex(2, 11), 21);
  EXPECT_EQ(layout.bitOffset(11), 1u);
  // Column 99 starts at bit 297 = 9 * 32 + 9: word 3 * 10 + 9, bit 9.
  EXPECT_EQ(layout.wordIndex(3, 99), 39);
  EXPECT_EQ(layout.bitOffset(99), 9u);

  // 4 bits x 100 columns = 400 bits = 12.5 words -> 13 words per row.
  PackedMatrixLayout nibbles{2, 100, 4};
  EXPECT_EQ(nibbles.wordsPerRow(), 13);
  EXPECT_EQ(nibbles.totalWords(), 26);
  // Column 9 starts at bit 36: word 13 + 1, bit 4.
  EXPECT_EQ(nibbles.wordIndex(1, 9), 14);
  EXPECT_EQ(nibbles.bitOffset(9), 4u);
}

TEST(BitPackingTest, LayoutAgreesWithPackedMatrix) {
  // Code (1, 10) of a 2 x 12 3-bit matrix: word 2 + 0, bit 30, straddling
  // into word 3. Put 5 = 101b there: bit 30 of word 2 and bit 0 of word 3.
  std::vector<uint8_t> codes(24, 0);
  codes[12 + 10] = 5;
  std::vector<uint32_t> words = packMatrix(codes.data(), 2, 12, 3);
  PackedMatrixLayout layout{2, 12, 3};
  EXPECT_EQ(layout.wordIndex(1, 10), 2);
  EXPECT_EQ(layout.bitOffset(10), 30u);
  EXPECT_EQ(words, (std::vector<uint32_t>{0u, 0u, 0x40000000u, 0x00000001u}));
}

TEST(BitPackingTest, GroupSpanThreeBitsGroup32) {
  // 32 codes * 3 bits = 96 bits = exactly 3 words.
  GroupSpan g0 = groupSpan(0, 32, 3);
  EXPECT_EQ(g0.firstWord, 0);
  EXPECT_EQ(g0.firstBit, 0u);
  EXPECT_EQ(g0.lastWord, 2);
  EXPECT_TRUE(g0.wordAligned);
  // Group 1: bits 96-191 = words 3-5.
  GroupSpan g1 = groupSpan(1, 32, 3);
  EXPECT_EQ(g1.firstWord, 3);
  EXPECT_EQ(g1.firstBit, 0u);
  EXPECT_EQ(g1.lastWord, 5);
  EXPECT_TRUE(g1.wordAligned);
}

TEST(BitPackingTest, GroupSpanThreeBitsGroup16) {
  // 16 codes * 3 bits = 48 bits: half-word boundaries.
  // Group 0: bits 0-47 -> words 0-1, ends mid-word 1.
  GroupSpan g0 = groupSpan(0, 16, 3);
  EXPECT_EQ(g0.firstWord, 0);
  EXPECT_EQ(g0.firstBit, 0u);
  EXPECT_EQ(g0.lastWord, 1);
  EXPECT_FALSE(g0.wordAligned);
  // Group 1: bits 48-95 -> starts at bit 16 of word 1, ends with word 2.
  GroupSpan g1 = groupSpan(1, 16, 3);
  EXPECT_EQ(g1.firstWord, 1);
  EXPECT_EQ(g1.firstBit, 16u);
  EXPECT_EQ(g1.lastWord, 2);
  EXPECT_FALSE(g1.wordAligned);
  // Group 2: bits 96-143 -> word 3 bit 0 to word 4 (143 / 32 = 4).
  GroupSpan g2 = groupSpan(2, 16, 3);
  EXPECT_EQ(g2.firstWord, 3);
  EXPECT_EQ(g2.firstBit, 0u);
  EXPECT_EQ(g2.lastWord, 4);
  EXPECT_FALSE(g2.wordAligned);
}

TEST(BitPackingTest, GroupSpanFourBitsGroup128) {
  // 128 codes * 4 bits = 512 bits = 16 words.
  GroupSpan g0 = groupSpan(0, 128, 4);
  EXPECT_EQ(g0.firstWord, 0);
  EXPECT_EQ(g0.lastWord, 15);
  EXPECT_TRUE(g0.wordAligned);
  // Group 2: bits 1024-1535 = words 32-47.
  GroupSpan g2 = groupSpan(2, 128, 4);
  EXPECT_EQ(g2.firstWord, 32);
  EXPECT_EQ(g2.firstBit, 0u);
  EXPECT_EQ(g2.lastWord, 47);
  EXPECT_TRUE(g2.wordAligned);
}

TEST(BitPackingTest, GroupSpanSmallGroups) {
  // 2 bits * 8 codes = 16 bits: group 1 is bits 16-31, the upper half of
  // word 0 - inside one word but not starting on a boundary.
  GroupSpan g = groupSpan(1, 8, 2);
  EXPECT_EQ(g.firstWord, 0);
  EXPECT_EQ(g.firstBit, 16u);
  EXPECT_EQ(g.lastWord, 0);
  EXPECT_FALSE(g.wordAligned);
  // 8 bits * 4 codes = 32 bits: group 3 is exactly word 3.
  GroupSpan b = groupSpan(3, 4, 8);
  EXPECT_EQ(b.firstWord, 3);
  EXPECT_EQ(b.firstBit, 0u);
  EXPECT_EQ(b.lastWord, 3);
  EXPECT_TRUE(b.wordAligned);
}

TEST(BitPackingTest, RandomRoundTripEveryWidth) {
  std::mt19937 rng(1234);
  for (unsigned bits = 1; bits <= 8; ++bits) {
    // Odd counts leave a partly filled last word.
    for (int64_t count : {1, 31, 32, 33, 257, 1000}) {
      std::uniform_int_distribution<int> dist(0, (1 << bits) - 1);
      std::vector<uint8_t> codes(count);
      for (uint8_t &c : codes)
        c = static_cast<uint8_t>(dist(rng));
      std::vector<uint32_t> words = packCodes(codes, bits);
      ASSERT_EQ(static_cast<int64_t>(words.size()), (count * bits + 31) / 32);
      EXPECT_EQ(unpackCodes(words, count, bits), codes)
          << "bits " << bits << " count " << count;
      for (int64_t i = 0; i < count; ++i)
        ASSERT_EQ(extractCode(words.data(), i, bits), codes[i]);
      // Padding bits past the last code stay zero.
      int64_t usedBits = count * bits % 32;
      if (usedBits != 0) {
        EXPECT_EQ(words.back() >> usedBits, 0u);
      }
    }
  }
}

TEST(BitPackingTest, RandomMatrixRoundTripEveryWidth) {
  std::mt19937 rng(99);
  for (unsigned bits = 1; bits <= 8; ++bits) {
    std::uniform_int_distribution<int> dist(0, (1 << bits) - 1);
    int64_t rows = 5, cols = 37;
    std::vector<uint8_t> codes(rows * cols);
    for (uint8_t &c : codes)
      c = static_cast<uint8_t>(dist(rng));
    std::vector<uint32_t> words = packMatrix(codes.data(), rows, cols, bits);
    PackedMatrixLayout layout{rows, cols, bits};
    ASSERT_EQ(static_cast<int64_t>(words.size()), layout.totalWords());
    EXPECT_EQ(unpackMatrix(words.data(), rows, cols, bits), codes);
    // Each row decodes on its own from its first word.
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        ASSERT_EQ(extractCode(&words[layout.wordIndex(r, 0)], c, bits),
                  codes[r * cols + c]);
  }
}

} // namespace
