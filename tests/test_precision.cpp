// Mixed precision (experiment.precision, ABI 1.5): bf16 trains every family that declares it
// on the CPU to a loss near fp32's; it is part of a run's identity; what a model or device
// cannot run is refused before anything runs.
#include "catch.hpp"

#include <cmath>
#include <filesystem>
#include <string>

#include "genlab/core/workspace.hpp"
#include "support.hpp"

using genlab::test::Contains;
using genlab::test::run_genlab;
using genlab::test::TempDir;
namespace fs = std::filesystem;

namespace {

// One family's tiny configuration and the relative gap allowed between its bf16 and fp32
// final losses after 30 steps. bf16 keeps 8 bits of mantissa: a few percent; a GAN's losses
// are a game's, not a descent's, and wander more.
struct Family {
  const char* name;
  const char* data;   // a [datasets.d] body
  const char* model;  // a [models.m] body
  const char* loss;   // the loss compared
  double tolerance;
};

const Family kFamilies[] = {
    {"vae", "plugin = \"digits-csv\"\n", "plugin = \"vae\"\nhidden = 32\nlatent = 4\n", "loss", 0.05},
    {"gan", "plugin = \"digits-csv\"\n", "plugin = \"gan\"\nwidth = 0.25\nnoise = 8\n", "g_loss", 0.25},
    {"diffusion", "plugin = \"digits-csv\"\n",
     "plugin = \"diffusion\"\nchannels = 8\nchannel_mult = \"1,2\"\ntimesteps = 50\nscore_samples = 1\n", "loss", 0.05},
    {"transformer", "plugin = \"text\"\nblock_size = 16\nsubset = 5000\n",
     "plugin = \"transformer\"\nn_layer = 1\nn_head = 2\nn_embd = 16\n", "loss", 0.05},
};

// The final first loss of the only run of a manifest trained at `precision`.
double final_loss(const TempDir& dir, const Family& f, const std::string& precision) {
  const fs::path file = dir.write(
      precision + ".toml", "[experiment]\nname = \"" + precision + "\"\nsteps = 30\nbatch_size = 32\nprecision = \"" +
                               precision + "\"\nworkspace = \"" + (dir.path() / "ws").string() +
                               "\"\n[features]\nenabled = false\n[evaluation]\nsamples = 8\nsplit = \"" +
                               (std::string(f.name) == "transformer" ? "val" : "test") +
                               "\"\n"
                               "[datasets.d]\n" +
                               f.data + "[models.m]\n" + f.model);
  const auto r = run_genlab("run --quiet " + file.string());
  INFO(f.name << " at " << precision << ": " << r.output);
  REQUIRE(r.exit_code == 0);
  for (const auto& run : fs::directory_iterator(dir.path() / "ws" / precision / "runs")) {
    const auto done = genlab::read_toml(genlab::done_file(run.path(), genlab::NodeKind::Train));
    REQUIRE(done);
    const auto loss = (*done)["final_losses"][f.loss].value<double>();
    REQUIRE(loss);
    return *loss;
  }
  FAIL("no run");
  return NAN;
}

}  // namespace

TEST_CASE("bf16 trains every family that declares mixed precision to a loss near fp32's", "[precision][slow]") {
  for (const auto& f : kFamilies) {
    TempDir dir;
    const double fp32 = final_loss(dir, f, "fp32");
    const double bf16 = final_loss(dir, f, "bf16");
    INFO(f.name << ": fp32 " << fp32 << ", bf16 " << bf16 << ", tolerance " << f.tolerance);
    CHECK(std::isfinite(bf16));
    CHECK(std::abs(bf16 - fp32) <= f.tolerance * std::abs(fp32));
    CHECK(bf16 != fp32);  // it did compute in bf16
  }
}

TEST_CASE("precision is part of a run's identity and what cannot run at it is refused", "[precision][manifest]") {
  TempDir dir;
  auto manifest = [&](const std::string& keys, const std::string& model) {
    return dir.write("m.toml", "[experiment]\nname = \"exp\"\nsteps = 5\nworkspace = \"" +
                                   (dir.path() / "ws").string() +
                                   "\"\nplugin_paths = [\"" GENLAB_TEST_PLUGIN_DIR "\"]\n" + keys +
                                   "[features]\nenabled = false\n[datasets.d]\nplugin = \"digits-csv\"\n"
                                   "[models.m]\n" +
                                   model);
  };
  const auto fp32 = run_genlab("validate --json " + manifest("", "plugin = \"vae\"\n").string());
  const auto bf16 = run_genlab("validate --json " + manifest("precision = \"bf16\"\n", "plugin = \"vae\"\n").string());
  REQUIRE(fp32.exit_code == 0);
  REQUIRE(bf16.exit_code == 0);
  CHECK(fp32.output.substr(fp32.output.find("\"id\" : ")) != bf16.output.substr(bf16.output.find("\"id\" : ")));
  const auto fp16 = run_genlab("validate " + manifest("precision = \"fp16\"\n", "plugin = \"vae\"\n").string());
  CHECK(fp16.exit_code == 1);
  CHECK_THAT(fp16.output, Contains("cannot run at precision fp16 on the CPU"));
  // The example mixture does not declare mixed precision.
  const auto gmm = run_genlab("validate " + manifest("precision = \"bf16\"\n", "plugin = \"example-gmm\"\n").string());
  CHECK(gmm.exit_code == 1);
  CHECK_THAT(gmm.output, Contains("model 'm' (plugin 'example-gmm') cannot run at precision bf16: it does not declare "
                                  "mixed precision"));
  const auto bad = run_genlab("validate " + manifest("precision = \"fp8\"\n", "plugin = \"vae\"\n").string());
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.output, Contains("expected precision \"fp32\", \"bf16\" or \"fp16\", got \"fp8\""));
}

TEST_CASE("device = cuda on a machine without CUDA is refused before anything runs", "[precision][cuda][manifest]") {
  TempDir dir;
  const fs::path file =
      dir.write("m.toml", "[experiment]\nname = \"exp\"\nsteps = 5\ndevice = \"cuda\"\nworkspace = \"" +
                              (dir.path() / "ws").string() +
                              "\"\n[features]\nenabled = false\n[datasets.d]\nplugin = \"digits-csv\"\n"
                              "[models.m]\nplugin = \"vae\"\n");
  const auto r = run_genlab("validate " + file.string());
  if (r.exit_code == 0) GENLAB_SKIP("this machine has a CUDA driver and device");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output,
             Contains("run 'm-d-s0' (model plugin 'vae') asks for cuda, but this machine has no CUDA driver") ||
                 Contains("reports no device"));
  CHECK_FALSE(fs::exists(dir.path() / "ws" / "exp" / "runs"));
}
