#include "statistics.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/students_t.hpp>

namespace genlab {

std::string number_text(double v, int digits) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream out;
  out << std::setprecision(digits) << v;
  return out.str();
}

// Boost.Math's Student-t quantile: exact for every df, where a 3-decimal table and a 1/df tail were not.
double t_quantile_975(size_t df) {
  return df == 0 ? NAN : boost::math::quantile(boost::math::students_t(static_cast<double>(df)), 0.975);
}

Stats summarize(const std::vector<double>& values) {
  Stats s;
  double sum = 0;
  for (double v : values) {
    if (!std::isfinite(v)) {
      ++s.not_finite;
      continue;
    }
    ++s.n;
    sum += v;
  }
  if (s.n == 0) return s;
  s.mean = sum / static_cast<double>(s.n);
  if (s.n < 2) return s;
  double squares = 0;
  for (double v : values)
    if (std::isfinite(v)) squares += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(squares / static_cast<double>(s.n - 1));
  s.half_width = t_quantile_975(s.n - 1) * s.std / std::sqrt(static_cast<double>(s.n));
  return s;
}

// ------------------------------------------------------------------------ intervals

namespace {
constexpr double z975 = 1.959964;

std::vector<double> finite(const std::vector<double>& values) {
  std::vector<double> out;
  for (double v : values)
    if (std::isfinite(v)) out.push_back(v);
  return out;
}
}  // namespace

// Boost.Math's chi-square quantile: accurate for any df, no series and bisection of our own.
double chi_square_025(size_t df) {
  return df == 0 ? NAN : boost::math::quantile(boost::math::chi_squared(static_cast<double>(df)), 0.025);
}
double chi_square_975(size_t df) {
  return df == 0 ? NAN : boost::math::quantile(boost::math::chi_squared(static_cast<double>(df)), 0.975);
}

Estimate mean_estimate(const std::vector<double>& values) {
  const Stats s = summarize(values);
  Estimate e;
  e.n = s.n;
  if (s.n < 2) {
    e.value = s.n ? s.mean : NAN;
    e.why = std::to_string(s.n) + " finished run(s) with a number; an interval needs 2";
    return e;
  }
  e.value = s.mean;
  e.low = s.mean - s.half_width;
  e.high = s.mean + s.half_width;
  return e;
}

Estimate std_estimate(const std::vector<double>& values) {
  const Stats s = summarize(values);
  Estimate e;
  e.n = s.n;
  if (s.n < 2) {
    e.why = std::to_string(s.n) + " finished run(s) with a number; a spread needs 2";
    return e;
  }
  const double df = static_cast<double>(s.n - 1);
  e.value = s.std;
  e.low = s.std * std::sqrt(df / chi_square_975(s.n - 1));
  e.high = s.std * std::sqrt(df / chi_square_025(s.n - 1));
  return e;
}

Estimate cv_estimate(const std::vector<double>& values) {
  Estimate e = std_estimate(values);
  if (!e.valid()) return e;
  const double mean = std::abs(summarize(finite(values)).mean);
  if (!(mean > 0)) {
    e = Estimate{};
    e.n = finite(values).size();
    e.why = "the mean is 0: no relative spread";
    return e;
  }
  e.value /= mean;
  e.low /= mean;
  e.high /= mean;
  return e;
}

Estimate rate_estimate(size_t failures, size_t runs) {
  Estimate e;
  e.n = runs;
  if (runs == 0) {
    e.why = "no run ended";
    return e;
  }
  const double n = static_cast<double>(runs), k = static_cast<double>(failures), z2 = z975 * z975;
  const double center = (k + z2 / 2) / (n + z2);
  const double half = z975 / (n + z2) * std::sqrt(k * (n - k) / n + z2 / 4);
  e.value = k / n;
  e.low = std::max(0.0, center - half);
  e.high = std::min(1.0, center + half);
  return e;
}

}  // namespace genlab
