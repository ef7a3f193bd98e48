// `genlab data ...`: commands that make data sets (render-views: posed views of a mesh).
#pragma once

#include <string>
#include <vector>

namespace genlab::cli {

// Runs `genlab data SUBCOMMAND [ARGS...]` (`args` after the word "data") and returns the exit
// code. Bad options throw boost::program_options::error (a usage error for main); failures
// throw HostError.
int data_command(const std::vector<std::string>& args);

}  // namespace genlab::cli
