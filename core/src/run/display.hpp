// How the scheduler shows its running nodes: live progress bars on a terminal, plain
// periodic lines otherwise or with --quiet (scheduler.cpp).
#pragma once

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "trials.hpp"

namespace genlab {

// Live progress on a terminal; plain periodic lines otherwise or with --quiet.
class Display {
 public:
  explicit Display(bool live) : live_(live) {}
  void event(const std::string& line) {
    clear();
    std::cerr << line << "\n";
    drawn_ = 0;
  }
  void update(std::vector<Node>& nodes) {
    const auto now = Clock::now();
    if (live_) {
      if (now - last_draw_ < std::chrono::milliseconds(250)) return;
      last_draw_ = now;
      clear();
      for (auto& n : nodes)
        if (n.result.state == NodeState::Running) {
          std::cerr << bar(n, now) << "\n";
          ++drawn_;
        }
      std::cerr.flush();
      return;
    }
    for (auto& n : nodes) {
      if (n.result.state != NodeState::Running || now - n.last_plain_line < std::chrono::seconds(10)) continue;
      n.last_plain_line = now;
      std::cerr << text(n, now) << "\n";
    }
  }
  void finish() { clear(); }

 private:
  static std::string text(const Node& n, Clock::time_point now) {
    const NodeProgress& p = n.progress;
    std::ostringstream out;
    const double seconds = std::chrono::duration<double>(now - p.started).count();
    out << n.result.label << ": ";
    if (p.step > 0) {
      out << "step " << p.step;
      if (p.total > 0) out << "/" << p.total;
      if (!p.loss_name.empty()) out << " " << p.loss_name << " " << std::setprecision(4) << p.loss;
      const double since = std::chrono::duration<double>(now - p.first_step_time).count();
      if (p.step > p.first_step && since > 0) {
        const double rate = (p.step - p.first_step) / since;
        out << " " << std::fixed << std::setprecision(1) << rate << " steps/s";
        if (p.total > 0) out << " ETA " << format_duration((p.total - p.step) / rate);
      }
    } else if (!p.status.empty()) {
      out << p.status << " (" << format_duration(seconds) << ")";
    } else {
      out << "starting (" << format_duration(seconds) << ")";
    }
    return out.str();
  }
  static std::string bar(const Node& n, Clock::time_point now) {
    const int width = 20;
    const NodeProgress& p = n.progress;
    const double fraction = p.total > 0 ? std::min(1.0, double(p.step) / double(p.total)) : 0.0;
    const int filled = static_cast<int>(fraction * width);
    std::string b = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
    return b + text(n, now);
  }
  void clear() {
    if (!live_) return;
    for (int i = 0; i < drawn_; ++i) std::cerr << "\x1b[1A\x1b[2K";
    drawn_ = 0;
  }
  bool live_;
  int drawn_ = 0;
  Clock::time_point last_draw_;
};

}  // namespace genlab
