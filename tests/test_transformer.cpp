// Text data and the transformer plugin through the host: the text dataset's tokenisers and
// its errors, and the GPT's causal mask, KV cache, training, vocabulary and state, on the
// real Moby-Dick (scripts/fetch-data.sh moby-dick) and on small generated texts.
#include "catch.hpp"

#include "model_support.hpp"

using namespace genlab;
using namespace genlab::test;
using genlab::test::Contains;

namespace {

std::vector<int64_t> int64s(const genlab_tensor_map& map, size_t index = 0) {
  const DLTensor& t = map.tensors[index]->dl_tensor;
  const int64_t* x = static_cast<const int64_t*>(t.data);
  return std::vector<int64_t>(x, x + genlab_util_numel(&t));
}

std::string text_of(const genlab_tensor_map& map, size_t row) {
  const long index = genlab_util_tensor_map_find(&map, "text");
  REQUIRE(index >= 0);
  const DLTensor& t = map.tensors[index]->dl_tensor;
  const char* bytes = static_cast<const char*>(t.data) + row * t.shape[1];
  return std::string(bytes, strnlen(bytes, static_cast<size_t>(t.shape[1])));
}

// A tiny GPT on the first 20,000 characters of Moby-Dick, windows of 32 + 1.
struct TinyGpt : ModelOnData {
  TinyGpt()
      : ModelOnData("transformer", toml::table{{"n_layer", 2}, {"n_head", 2}, {"n_embd", 32}, {"warmup", 10}}, "text",
                    toml::table{{"block_size", 32}, {"subset", 20000}}) {}
};

}  // namespace

TEST_CASE("text: characters become tokens through a sorted vocabulary, and back", "[text]") {
  TempDir dir;
  const std::string body = "caf\xC3\xA9 au lait, ba\nbaa bab\n";  // "café": one token for é
  std::string text;
  for (int i = 0; i < 20; ++i) text += body;
  const auto file = dir.write("t.txt", text);
  DatasetInstance data(builtin("text"), settings(), toml::table{{"path", file.string()}, {"block_size", 8}});
  const genlab_dataset_info& info = data.info();
  REQUIRE(info.vocabulary != nullptr);
  CHECK(std::string(info.vocabulary) == "\n ,abcfiltu\xC3\xA9");
  CHECK(info.vocab_size == 12);
  CHECK(std::string(info.modality) == "tokens");
  const int64_t chars = 20 * 25, val = chars / 10;
  CHECK(data.split_size("train") == chars - val - 8);
  CHECK(data.split_size("val") == (val - 1) / 8);
  // Window 3 of train is characters 3..11, decoded through the vocabulary.
  const auto tokens = int64s(*data.get_batch("train", {3}, 0));
  REQUIRE(tokens.size() == 9);
  std::vector<uint32_t> symbols = {'\n', ' ', ',', 'a', 'b', 'c', 'f', 'i', 'l', 't', 'u', 0xE9};
  std::u32string decoded;
  for (int64_t t : tokens) decoded += static_cast<char32_t>(symbols[t]);
  CHECK(decoded == U"\u00e9 au lait");
  // Byte level: 256 tokens, no vocabulary, the UTF-8 bytes themselves.
  DatasetInstance bytes(builtin("text"), settings(),
                        toml::table{{"path", file.string()}, {"block_size", 8}, {"tokenizer", "byte"}});
  CHECK(bytes.info().vocab_size == 256);
  CHECK(bytes.info().vocabulary == nullptr);
  CHECK(int64s(*bytes.get_batch("train", {3}, 0)).at(0) == 0xC3);
}

TEST_CASE("text: malformed UTF-8, a character the training split lacks and a short text are refused",
          "[text][bad-input]") {
  TempDir dir;
  const auto bad = dir.write("bad.txt", std::string(100, 'a') + "\xC3(" + std::string(100, 'b'));
  CHECK_THAT(
      create_error("text", toml::table{{"path", bad.string()}}),
      Contains("bad.txt: not UTF-8 text at byte offset 100: byte 0xC3 starts a 2-byte sequence, but byte offset 101 "
               "holds 0x28, not a continuation byte; expected UTF-8 text, or use tokenizer = \"byte\" for any bytes"));
  const auto late = dir.write("late.txt", std::string(450, 'a') + std::string(549, 'b') + "z");
  CHECK_THAT(
      create_error("text", toml::table{{"path", late.string()}, {"block_size", 8}}),
      Contains("character U+007A 'z' (character 999) of the val split is not in the training split's vocabulary"));
  CHECK(DatasetInstance(builtin("text"), settings(),
                        toml::table{{"path", late.string()}, {"block_size", 8}, {"vocabulary_from", "all"}})
            .info()
            .vocab_size == 3);
  CHECK_THAT(create_error("text", toml::table{{"path", late.string()}, {"block_size", 500}}),
             Contains("each must be longer than block_size (500)"));
}

TEST_CASE("text: a folder holding a binary file names that file and the byte offset", "[text][bad-input]") {
  TempDir dir;
  dir.write("corpus/a.txt", std::string(300, 'a'));
  dir.write("corpus/b/c.txt", std::string(300, 'b') + "\xE2\x82");  // ends inside a 3-byte sequence
  const std::string png("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16);
  dir.write("corpus/b/logo.png", png);
  const std::string folder = (dir.path() / "corpus").string();
  CHECK_THAT(
      create_error("text", toml::table{{"path", folder}, {"block_size", 8}}),
      Contains((dir.path() / "corpus/b/c.txt").string() + ": not UTF-8 text at byte offset 300: the file ends inside "
                                                          "the 3-byte sequence that byte 0xE2 starts"));
  dir.write("corpus/b/c.txt", std::string(300, 'b'));
  CHECK_THAT(
      create_error("text", toml::table{{"path", folder}, {"block_size", 8}}),
      Contains((dir.path() / "corpus/b/logo.png").string() +
               ": not UTF-8 text at byte offset 0: byte 0x89 is a continuation byte that no lead byte starts (it "
               "holds NUL bytes: a binary file?); expected UTF-8 text, or use tokenizer = \"byte\" for any bytes"));
  // Bytes are bytes: the same folder reads with the byte tokenizer.
  CHECK(DatasetInstance(builtin("text"), settings(),
                        toml::table{{"path", folder}, {"block_size", 8}, {"tokenizer", "byte"}})
            .info()
            .vocab_size == 256);
}

TEST_CASE("transformer: the causal mask holds: a later token changes no earlier prediction", "[transformer]") {
  TinyGpt g;
  auto model = g.make();
  g.train(*model, 5, 8);
  TensorMapPtr a = g.examples("val", 2);
  std::vector<int64_t> tokens = int64s(*a);
  const auto before = floats(*model->score(*a), 1);  // nll_per_token [2, 32]: nll[i] predicts token i + 1
  const int k = 20;
  tokens[k] = (tokens[k] + 1) % 10;
  tokens[33 + k] = (tokens[33 + k] + 3) % 10;
  TensorMapPtr changed = MapBuilder().add_int64("tokens", tokens, {2, 33}).build();
  const auto after = floats(*model->score(*changed), 1);
  for (int row = 0; row < 2; ++row) {
    for (int i = 0; i < k - 1; ++i) CHECK(after[row * 32 + i] == before[row * 32 + i]);
    bool later_changed = false;
    for (int i = k - 1; i < 32; ++i) later_changed |= after[row * 32 + i] != before[row * 32 + i];
    CHECK(later_changed);
  }
}

TEST_CASE("transformer: greedy generation with the KV cache equals generation without it", "[transformer]") {
  TinyGpt g;
  auto model = g.make();
  g.train(*model, 30, 8);
  // 7 prompt characters + 80 new tokens cross the 32-token window twice.
  toml::table cached{{"prompt", "Call me"}, {"max_new_tokens", 80}, {"temperature", 0.0}};
  toml::table plain = cached;
  plain.insert_or_assign("kv_cache", false);
  TensorMapPtr with = model->generate(3, &cached, nullptr), without = model->generate(3, &plain, nullptr);
  CHECK(int64s(*with) == int64s(*without));
  CHECK(int64s(*with).size() == 3 * 87);
  CHECK(text_of(*with, 0).rfind("Call me", 0) == 0);
  // Sampling draws differ from greedy ones: the check above is not vacuous.
  toml::table sampled{{"prompt", "Call me"}, {"max_new_tokens", 80}, {"temperature", 1.0}};
  CHECK(int64s(*model->generate(3, &sampled, nullptr)) != int64s(*with));
}

TEST_CASE("transformer: the loss falls on a small text, the same seed repeats it, the state round-trips",
          "[transformer]") {
  TinyGpt g;
  auto model = g.make(7);
  const auto losses = g.train(*model, 150, 16);
  const double first = mean(losses, 0, 10), last = mean(losses, 140, 150);
  INFO("cross-entropy, first 10 steps " << first << ", last 10 " << last
                                        << " (ln V = " << std::log(g.data.info().vocab_size) << ")");
  CHECK(last < 0.75 * first);
  auto again = g.make(7);
  CHECK(g.train(*again, 150, 16) == losses);
  TensorMapPtr state = model->export_state();
  toml::table greedy{{"prompt", "The"}, {"max_new_tokens", 20}, {"temperature", 0.0}};
  auto restored = g.make(99);
  restored->import_state(*state);
  CHECK(int64s(*restored->generate(1, &greedy, nullptr)) == int64s(*model->generate(1, &greedy, nullptr)));
}

TEST_CASE("transformer: a prompt outside the vocabulary is refused (char) or works (byte), a foreign state is refused",
          "[transformer][bad-input]") {
  TinyGpt g;
  auto model = g.make();
  toml::table prompt{{"prompt", "Call me \xE2\x98\x83"}, {"max_new_tokens", 5}};  // a snowman
  CHECK_THROWS_WITH(
      model->generate(1, &prompt, nullptr),
      Contains("prompt character 8, U+2603 '\xE2\x98\x83', is not in the vocabulary of the training text"));
  ModelOnData bytes("transformer", g.config, "text",
                    toml::table{{"block_size", 32}, {"subset", 20000}, {"tokenizer", "byte"}});
  auto byte_model = bytes.make();
  TensorMapPtr out = byte_model->generate(1, &prompt, nullptr);
  CHECK(text_of(*out, 0).rfind("Call me \xE2\x98\x83", 0) == 0);
  CHECK_THROWS_WITH(byte_model->import_state(*model->export_state()), Contains("the state's vocabulary differs"));
}

TEST_CASE("transformer: options out of range are refused, naming the option and the value",
          "[transformer][bad-input]") {
  TinyGpt g;
  auto model = g.make();
  toml::table cold{{"temperature", -0.5}};
  CHECK_THROWS_WITH(model->generate(1, &cold, nullptr), Contains("expected temperature >= 0, got -0.5"));
  g.config.insert_or_assign("n_head", 3);
  CHECK_THROWS_WITH(g.make(), Contains("expected n_embd divisible by n_head, got 32 and 3"));
  g.config.insert_or_assign("n_head", 2);
  g.config.insert_or_assign("dropout", 1.0);
  CHECK_THROWS_WITH(g.make(), Contains("expected 0 <= dropout < 1, got 1.0"));
}
