// `genlab data render-views`: posed views of a mesh in the NeRF-synthetic layout.
#include <iomanip>
#include <iostream>

#include "command.hpp"

#include "genlab/render_views/mesh.hpp"
#include "genlab/render_views/render_views.hpp"
#include "genlab/util/sha256.hpp"

namespace genlab::cli {
namespace {

const char* kDataOverview = R"(Usage: genlab data COMMAND [ARGS...]

Commands:
  render-views MESH.off|MESH.obj --out DIR [--size 100] [--train 100] [--val 10] [--test 20]
               [--hemisphere] [--radius 4] [--camera-angle-x A] [--seed 0] [--supersample 3]
               [--up z] [--force]
                      posed RGBA views of a mesh (or --scene blocks) in the NeRF-synthetic
                      (Blender) layout: transforms_{train,val,test}.json, train/ val/ test/
                      PNGs, scene.json; `genlab data render-views --help` for every option
)";

int render_views_command(const std::vector<std::string>& args) {
  data::RenderSettings settings;
  po::options_description options("data render-views");
  options.add_options()("mesh", po::value<std::string>(), "the mesh: ASCII OFF or Wavefront OBJ")(
      "scene", po::value<std::string>(), "a procedural scene instead of a mesh file (blocks)")(
      "out", po::value<std::string>()->required(), "the output folder (new or empty)")(
      "size", po::value<int>(&settings.size)->default_value(settings.size), "view width and height in pixels")(
      "train", po::value<int>(&settings.train)->default_value(settings.train), "training views (random directions)")(
      "val", po::value<int>(&settings.val)->default_value(settings.val), "validation views (random directions)")(
      "test", po::value<int>(&settings.test)->default_value(settings.test),
      "test views: a turntable at 30 degrees elevation")("hemisphere", po::bool_switch(&settings.hemisphere),
                                                         "train/val cameras on the upper half (z >= 0) only")(
      "radius", po::value<double>(&settings.radius)->default_value(settings.radius),
      "camera distance from the centre (the mesh is scaled into the unit sphere)")(
      "camera-angle-x",
      po::value<double>(&settings.camera_angle_x)->default_value(settings.camera_angle_x, "0.6911112070083618"),
      "horizontal field of view in radians (the Blender scenes' by default)")(
      "seed", po::value<uint64_t>(&settings.seed)->default_value(settings.seed), "seed of the random directions")(
      "supersample", po::value<int>(&settings.supersample)->default_value(settings.supersample),
      "N x N samples a pixel (antialiasing; alpha is the covered fraction)")(
      "up", po::value<std::string>()->default_value("z"),
      "the mesh's up axis (x, y or z), turned to the world's +z (Stanford meshes such as the bunny: y)")(
      "threads", po::value<int>(&settings.threads)->default_value(settings.threads),
      "render threads (0: one per core)")("force", "replace an earlier render in a non-empty --out");
  po::positional_options_description positional;
  positional.add("mesh", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm,
             "genlab data render-views MESH.off|MESH.obj --out DIR [options]\n"
             "       genlab data render-views --scene blocks --out DIR [options]"))
    return kOk;
  if (vm.count("mesh") == vm.count("scene"))
    throw po::error("render-views takes a mesh file or --scene NAME (" +
                    std::string(vm.count("mesh") ? "not both" : "neither was given") + ")");
  const std::string up = vm["up"].as<std::string>();
  if (up != "x" && up != "y" && up != "z") throw po::error("render-views: --up must be x, y or z, got '" + up + "'");
  settings.up_axis = up[0];
  if (const std::string problem = data::settings_problem(settings); !problem.empty())
    throw po::error("render-views: " + problem);

  data::Mesh mesh;
  data::MeshSource source;
  if (vm.count("mesh")) {
    const std::string file = vm["mesh"].as<std::string>();
    mesh = data::read_mesh(file);
    source = {file, sha256_file(file)};
  } else {
    const std::string scene = vm["scene"].as<std::string>();
    mesh = data::procedural_scene(scene);
    source = {"procedural:" + scene, data::mesh_sha256(mesh)};
  }
  const std::string out = vm["out"].as<std::string>();
  data::prepare_output_folder(out, vm.count("force") > 0);
  std::cout << "rendering " << (settings.train + settings.val + settings.test) << " views of " << source.name << " ("
            << mesh.triangles.size() << " triangles) at " << settings.size << "x" << settings.size << ", "
            << settings.supersample << "x" << settings.supersample << " samples a pixel\n"
            << std::flush;
  const data::RenderSummary summary = data::render_views(std::move(mesh), source, settings, out);
  std::cout << "wrote " << out << ": " << settings.train << " train, " << settings.val << " val, " << settings.test
            << " test views (" << settings.size << "x" << settings.size
            << " RGBA PNG), transforms_{train,val,test}.json, scene.json in " << std::fixed << std::setprecision(2)
            << summary.seconds << " s (" << std::setprecision(1) << summary.views / summary.seconds
            << " views/s); near " << std::setprecision(3) << settings.radius - 1.0 << ", far " << settings.radius + 1.0
            << "\n";
  return 0;
}

}  // namespace

int data_command(const std::vector<std::string>& args) {
  if (args.empty()) throw po::error("`genlab data` needs a command: render-views (see genlab data --help)");
  const std::string& sub = args[0];
  if (sub == "-h" || sub == "--help") {
    std::cout << kDataOverview;
    return 0;
  }
  if (sub == "render-views") return render_views_command({args.begin() + 1, args.end()});
  throw po::error("unknown command 'data " + sub + "' (expected render-views)");
}

}  // namespace genlab::cli
