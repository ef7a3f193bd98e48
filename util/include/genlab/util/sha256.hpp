// SHA-256 (FIPS 180-4), for run identities, plugin build hashes and artifact checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX, kept out of this header

namespace genlab {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256& other);
  Sha256& operator=(const Sha256& other);
  void update(const void* data, size_t size);
  void update(const std::string& text) { update(text.data(), text.size()); }
  std::string hex();  // finishes the hash; the object is spent afterwards

 private:
  evp_md_ctx_st* context_;
};

std::string sha256_hex(const std::string& text);
// Throws HostError naming the file if it cannot be read.
std::string sha256_file(const std::filesystem::path& file);

}  // namespace genlab
