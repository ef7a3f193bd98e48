#include "genlab/util/sha256.hpp"

#include <openssl/evp.h>

#include <fstream>

#include "genlab/util/error.hpp"

namespace genlab {

// OpenSSL's libcrypto: a vetted, hardware-accelerated SHA-256 instead of our own rounds.

namespace {
[[noreturn]] void openssl_failed(const char* call) {
  throw HostError(std::string("SHA-256: OpenSSL's ") + call + " failed");
}
}  // namespace

Sha256::Sha256() : context_(EVP_MD_CTX_new()) {
  if (context_ == nullptr) openssl_failed("EVP_MD_CTX_new");
  if (EVP_DigestInit_ex(context_, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(context_);
    openssl_failed("EVP_DigestInit_ex");
  }
}

Sha256::~Sha256() { EVP_MD_CTX_free(context_); }

Sha256::Sha256(const Sha256& other) : context_(EVP_MD_CTX_new()) {
  if (context_ == nullptr) openssl_failed("EVP_MD_CTX_new");
  if (EVP_MD_CTX_copy_ex(context_, other.context_) != 1) {
    EVP_MD_CTX_free(context_);
    openssl_failed("EVP_MD_CTX_copy_ex");
  }
}

Sha256& Sha256::operator=(const Sha256& other) {
  if (this != &other && EVP_MD_CTX_copy_ex(context_, other.context_) != 1) openssl_failed("EVP_MD_CTX_copy_ex");
  return *this;
}

void Sha256::update(const void* data, size_t size) {
  if (size == 0) return;  // data may be null then (an empty vector's data())
  if (EVP_DigestUpdate(context_, data, size) != 1) openssl_failed("EVP_DigestUpdate");
}

std::string Sha256::hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context_, digest, &length) != 1) openssl_failed("EVP_DigestFinal_ex");
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    out += digits[digest[i] >> 4];
    out += digits[digest[i] & 0xf];
  }
  return out;
}

std::string sha256_hex(const std::string& text) {
  Sha256 h;
  h.update(text);
  return h.hex();
}

std::string sha256_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw HostError(file.string() + ": cannot read to hash it");
  Sha256 h;
  char buffer[1 << 16];
  while (in) {
    in.read(buffer, sizeof buffer);
    h.update(buffer, static_cast<size_t>(in.gcount()));
  }
  return h.hex();
}

}  // namespace genlab
