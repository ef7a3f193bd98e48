// The report's "Search" section ([search]: docs/search.md), written by report.cpp.
#pragma once

#include "document.hpp"
#include "genlab/core/experiment.hpp"

namespace genlab {

// What each search group's tuning got and cost, its best trial, and the metric against each
// searched parameter. Adds nothing for an experiment without [search].
void add_search(doc::Document& d, const Experiment& e);

}  // namespace genlab
