// UTF-8, both ways, for the plugins that turn text into tokens and back: strict decoding
// that reports where input goes wrong, and encoding of code points.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace genlab::plugins::utf8 {

// Appends the UTF-8 form of code point `c` (<= U+10FFFF).
inline void append(std::string& out, uint32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
    return;
  }
  const int extra = c < 0x800 ? 1 : c < 0x10000 ? 2 : 3;
  static const unsigned char lead[] = {0, 0xC0, 0xE0, 0xF0};
  out += static_cast<char>(lead[extra] | (c >> (6 * extra)));
  for (int k = extra - 1; k >= 0; --k) out += static_cast<char>(0x80 | ((c >> (6 * k)) & 0x3F));
}

// Decodes `text` into `out`; on a malformed sequence (bad lead byte, missing continuation,
// overlong form, surrogate, > U+10FFFF) returns false with its byte offset in `bad_at`.
inline bool decode(const std::string& text, std::vector<uint32_t>& out, size_t& bad_at) {
  const auto* b = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  out.reserve(out.size() + n);
  for (size_t i = 0; i < n;) {
    const unsigned char first = b[i];
    const size_t length = first < 0x80             ? 1
                          : (first & 0xE0) == 0xC0 ? 2
                          : (first & 0xF0) == 0xE0 ? 3
                          : (first & 0xF8) == 0xF0 ? 4
                                                   : 0;
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    bool ok = length > 0 && i + length <= n;
    uint32_t c = length == 1 ? first : first & (0x7Fu >> length);
    for (size_t k = 1; ok && k < length; ++k) {
      ok = (b[i + k] & 0xC0) == 0x80;
      c = (c << 6) | (b[i + k] & 0x3F);
    }
    if (!ok || c < least[length] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
      bad_at = i;
      return false;
    }
    out.push_back(c);
    i += length;
  }
  return true;
}

// "U+00E9 'é'" (the character itself only when printable).
inline std::string describe(uint32_t c) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "U+%04X", static_cast<unsigned>(c));
  if (c < 0x20 || c == 0x7F) return hex;
  std::string printable;
  append(printable, c);
  return std::string(hex) + " '" + printable + "'";
}

}  // namespace genlab::plugins::utf8
