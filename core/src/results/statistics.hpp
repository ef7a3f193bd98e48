// Statistics over the runs of a group or a claim's cell, one module for the report and the
// claims: the summary over seeds (Stats, summarize: report.hpp) and the 95% intervals of
// claims' checks (mean, std, cv, failure rate: claims.hpp) are declared with the types that
// hold them and defined in statistics.cpp.
#pragma once

#include <cmath>
#include <string>

#include "genlab/core/claims.hpp"
#include "genlab/core/report.hpp"

namespace genlab {

// A number as the report and the claims write it: `digits` significant digits, NaN and
// infinities by name.
std::string number_text(double v, int digits = 4);
// A number in a chart's JSON data: 8 significant digits, null when not finite.
inline std::string json_number(double v) { return std::isfinite(v) ? number_text(v, 8) : "null"; }
// Student's t at 0.975 with `df` degrees of freedom (NaN for 0).
double t_quantile_975(size_t df);

}  // namespace genlab
