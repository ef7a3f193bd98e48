#include "genlab/core/scheduler.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <sstream>
#include <thread>

#include "genlab/util/error.hpp"
#include "genlab/core/executor.hpp"
#include "genlab/core/json.hpp"
#include "genlab/core/report.hpp"
#include "genlab/util/files.hpp"
#include "genlab/util/sha256.hpp"
#include "display.hpp"
#include "trials.hpp"

namespace genlab {
namespace fs = std::filesystem;

const char* node_state_name(NodeState state) {
  switch (state) {
    case NodeState::Pending: return "pending";
    case NodeState::Running: return "running";
    case NodeState::Finished: return "finished";
    case NodeState::Failed: return "failed";
    case NodeState::Skipped: return "skipped";
    case NodeState::Cancelled: return "cancelled";
    case NodeState::Paused: return "paused";
    case NodeState::Pruned: return "pruned";
  }
  return "?";
}

size_t ScheduleResult::failed() const {
  return static_cast<size_t>(std::count_if(nodes.begin(), nodes.end(), [](const NodeResult& n) {
    return n.state == NodeState::Failed || n.state == NodeState::Skipped;
  }));
}

std::string last_lines(const fs::path& file, size_t count) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(line);
  std::string out;
  for (size_t i = lines.size() > count ? lines.size() - count : 0; i < lines.size(); ++i) out += lines[i] + "\n";
  return out;
}

std::string failure_line(const fs::path& log) {
  const std::string tail = last_lines(log, 30);
  std::istringstream in(tail);
  std::string line, last, error;
  while (std::getline(in, line)) {
    last = line;
    if (line.find("error") != std::string::npos) error = line;
  }
  std::string reason = error.empty() ? last : error;
  // Drop the "[12:00:00] error " prefix of spdlog lines.
  if (const size_t at = reason.find("] error "); at != std::string::npos) reason = reason.substr(at + 8);
  return reason.empty() ? "no message in the log" : reason;
}

std::string format_duration(double seconds) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(seconds < 10 ? 1 : 0) << seconds << "s";
  return out.str();
}

void NodeProgress::feed(const char* data, size_t size) {
  buffer_.append(data, size);
  size_t newline;
  while ((newline = buffer_.find('\n')) != std::string::npos) {
    std::istringstream line(buffer_.substr(0, newline));
    buffer_.erase(0, newline + 1);
    std::string tag;
    line >> tag;
    if (tag == "error") {  // the worker's error, said on stdout too: its log may be on a full disk
      std::getline(line >> std::ws, error);
    } else if (tag == "progress") {
      line >> step >> total >> loss_name >> loss;
      status.clear();
      if (first_step < 0) {
        first_step = step;
        first_step_time = Clock::now();
      }
    }
  }
}

namespace {

std::atomic<int> stop_signal{0};
extern "C" void on_host_signal(int signal) { stop_signal.store(signal); }

// The runs with each one's first seed first, then every one's second, ...: the families
// of a comparison alternate, so that a slow spell of the machine falls on all of them
// rather than on one family's seeds (costs are measured in seconds; docs/metrics.md).
std::vector<const RunPlan*> seed_major(const std::vector<RunPlan>& runs) {
  std::map<std::string, size_t> seen;  // seed group -> runs of it so far
  std::vector<std::pair<size_t, const RunPlan*>> ranked;
  for (const auto& r : runs) ranked.emplace_back(seen[seed_group(r)]++, &r);
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<const RunPlan*> out;
  for (const auto& [rank, r] : ranked) out.push_back(r);
  return out;
}

// The DAG of an experiment's nodes, driven through an executor.
class Scheduler {
 public:
  Scheduler(const Experiment& e, const SchedulerOptions& o) : e_(e), o_(o), display_(!o.quiet && isatty(2)) {
    const std::string kind = o.executor.empty() ? e.executor.kind : o.executor;
    if (kind == "slurm") executor_ = make_slurm_executor(e.executor, o);
    else if (kind == "local") executor_ = make_local_executor(o);
    else throw HostError("unknown executor '" + kind + "'; expected local or slurm");
    build();
  }

  ScheduleResult run() {
    struct sigaction action {
    }, old_int{}, old_term{};
    action.sa_handler = on_host_signal;
    sigemptyset(&action.sa_mask);
    stop_signal.store(0);
    sigaction(SIGINT, &action, &old_int);
    sigaction(SIGTERM, &action, &old_term);
    reattach();
    trials_.promote();
    loop();
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    if (!stopping_) trials_.prune();
    display_.finish();

    ScheduleResult out;
    out.interrupted = interrupted_;
    for (auto& n : nodes_) {
      if (n.result.state == NodeState::Pending) {
        n.result.state = NodeState::Skipped;
        n.result.reason =
            interrupted_ ? "not started: interrupted" : "not started: --fail-fast stopped after a failure";
      }
      out.nodes.push_back(n.result);
    }
    return out;
  }

 private:
  void build() {
    const fs::path folder = e_.folder();
    std::map<std::string, size_t> prepared;      // dataset identity -> prepare node
    std::map<std::string, size_t> feature_nets;  // feature network run id -> its train node
    // prepare: once per distinct dataset configuration
    auto prepare = [&](const RunPlan& r) {
      const toml::table dataset{{"name", r.dataset.name},
                                {"plugin", r.dataset.plugin_name},
                                {"library", r.dataset.plugin->library().string()},
                                {"params", r.dataset.params}};
      std::ostringstream text;
      text << toml::json_formatter(dataset);
      const std::string data_id = sha256_hex(text.str() + library_sha256(r.dataset.plugin->library()));
      if (auto it = prepared.find(data_id); it != prepared.end()) return it->second;
      const fs::path dir = folder / "data" / (r.dataset.name + "--" + data_id.substr(0, 12));
      fs::create_directories(dir);
      if (!fs::exists(dir / "node.toml")) write_toml(dir / "node.toml", toml::table{{"dataset", dataset}});
      // Under the run's memory limit too: reading a data file is where a hostile one bites.
      RunSettings one_thread = r.settings;
      one_thread.threads = one_thread.processes = 1;
      const size_t index = add(NodeKind::Prepare, "prepare " + r.dataset.name, dir, {}, one_thread);
      prepared.emplace(data_id, index);
      return index;
    };
    // train, then evaluate (after `eval_deps` too); returns the train node
    auto add_run = [&](const RunPlan& r, const fs::path& run_dir, std::vector<size_t> eval_deps) {
      const size_t prepare_index = prepare(r);
      fs::create_directories(run_dir);
      // Written anew whenever the manifest's resolution differs (settings outside the
      // identity, such as a timeout, or a corrupt file): workers run what it says now.
      const toml::table resolved = r.resolved();
      write_toml_if_changed(run_dir / "run.toml", resolved);
      const size_t train = add(NodeKind::Train, "train " + r.name, run_dir, {prepare_index}, r.settings);
      const fs::path eval_dir = run_dir / r.eval_folder_name();
      fs::create_directories(eval_dir);
      // The evaluation reads its own copy: its metrics are those of its eval id.
      write_toml_if_changed(eval_dir / "run.toml", resolved);
      eval_deps.push_back(train);
      RunSettings one_process = r.settings;
      one_process.processes = 1;  // evaluation is not data-parallel
      add(NodeKind::Evaluate, "evaluate " + r.name, eval_dir, std::move(eval_deps), one_process);
      return train;
    };
    for (const auto& net : e_.feature_runs) feature_nets[net.id] = add_run(net, e_.feature_folder(net), {});
    for (const RunPlan* run : seed_major(e_.runs)) {
      const RunPlan& r = *run;
      std::vector<size_t> eval_deps;
      if (!r.features_id.empty()) eval_deps.push_back(feature_nets.at(r.features_id));
      const size_t train = add_run(r, folder / "runs" / r.folder_name(), std::move(eval_deps));
      if (r.trial >= 0) trials_.add(r, train);
    }
  }

  size_t add(NodeKind kind, std::string label, fs::path dir, std::vector<size_t> deps, const RunSettings& s) {
    Node n;
    n.result.kind = kind;
    n.result.label = std::move(label);
    n.result.dir = std::move(dir);
    n.deps = std::move(deps);
    n.job.kind = kind;
    n.job.label = n.result.label;
    n.job.dir = n.result.dir;
    n.job.threads = s.threads;
    n.job.processes = s.processes;
    n.job.timeout = s.timeout;
    n.job.memory_limit_mb = s.memory_limit_mb;
    if (fs::exists(done_file(n.result.dir, kind))) {
      n.result.state = NodeState::Finished;
      n.result.reused = true;
    }
    nodes_.push_back(std::move(n));
    return nodes_.size() - 1;
  }

  // Nodes that an earlier `genlab run` left running (its host died or was interrupted) and
  // that still run on the executor are tracked again, not started a second time.
  void reattach() {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      Node& n = nodes_[i];
      // A trial the search had promoted reads as paused at its last rung: it runs to the next.
      if (n.result.state != NodeState::Pending && n.result.state != NodeState::Paused) continue;
      const auto state = read_toml(state_file(n.result.dir, n.result.kind));
      if (!state || (*state)["state"].value_or(std::string()) != "running") continue;
      n.progress = NodeProgress{};
      n.progress.started = Clock::now();
      const NodeJob before = n.job;
      trials_.set_next_rung(i);
      if (!executor_->reattach(i, n.job, *state, n.progress)) {
        n.job = before;
        continue;
      }
      n.last_plain_line = n.progress.started;
      n.result.state = NodeState::Running;
      display_.event("attach " + n.result.label + " (still running: " + where_text(i) + ")");
    }
  }

  std::string where_text(size_t id) const {
    const toml::table where = executor_->where(id);
    if (auto job = where["slurm_job"].value<std::string>()) return "Slurm job " + *job;
    if (auto pid = where["pid"].value<int64_t>()) return "pid " + std::to_string(*pid);
    return "?";
  }

  int running_threads() const {
    int sum = 0;
    for (const auto& n : nodes_)
      if (n.result.state == NodeState::Running) sum += n.job.threads * n.job.processes;
    return sum;
  }
  size_t running_count() const {
    return static_cast<size_t>(std::count_if(nodes_.begin(), nodes_.end(),
                                             [](const Node& n) { return n.result.state == NodeState::Running; }));
  }

  void loop() {
    while (true) {
      if (!stopping_) launch_ready();
      if (running_count() == 0 && (stopping_ || !trials_.promote_leaders())) break;
      if (running_count() == 0) continue;
      for (auto& [id, outcome] : executor_->poll(100)) ended(nodes_[id], outcome);
      if (const int sig = stop_signal.exchange(0); sig != 0 && !stopping_) {
        interrupted_ = true;
        signal_ = sig;
        stopping_ = true;
        display_.event(executor_->interrupt());
      }
      display_.update(nodes_);
    }
  }

  void launch_ready() {
    // ASHA sends promoted trials on before it begins new ones.
    std::vector<size_t> order(nodes_.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_partition(order.begin(), order.end(), [&](size_t i) { return nodes_[i].promoted; });
    bool progress = true;
    while (progress) {
      progress = false;
      for (size_t i : order) {
        Node& n = nodes_[i];
        if (n.result.state != NodeState::Pending) continue;
        bool ready = true;
        for (size_t d : n.deps) {
          const NodeState s = nodes_[d].result.state;
          if (s == NodeState::Failed || s == NodeState::Skipped || s == NodeState::Cancelled) {
            n.result.state = NodeState::Skipped;
            n.result.reason = nodes_[d].result.label + " did not finish";
            write_state(i);
            progress = true;
            ready = false;
            break;
          }
          ready &= s == NodeState::Finished;
        }
        if (!ready || n.result.state != NodeState::Pending) continue;
        if (!executor_->has_room(running_count(), running_threads(), n.job.threads * n.job.processes)) continue;
        start(i);
        progress = true;
      }
    }
  }

  void start(size_t i) {
    Node& n = nodes_[i];
    if (n.result.kind == NodeKind::Train && (trials_.over_budget(i) || !set_rung_target(i))) return;
    // A promoted trial goes on from the checkpoint of its rung.
    const bool interrupted =
        !n.promoted && n.result.kind == NodeKind::Train && fs::exists(checkpoint_file(n.result.dir));
    // A checkpoint is never thrown away by accident: resumed, deleted when asked, or refused.
    if (interrupted && !o_.resume && !o_.restart) {
      n.result.state = NodeState::Failed;
      n.result.reason = "an interrupted run's checkpoint is kept in " + n.result.dir.string() +
                        ": genlab run --resume continues it, --restart trains it again from step 0";
      write_state(i);
      display_.event("FAILED " + n.result.label + ": " + n.result.reason);
      return;
    }
    if (interrupted && o_.restart) {
      std::error_code ec;
      fs::remove(checkpoint_file(n.result.dir), ec);
    }
    n.job.resume = (interrupted && o_.resume) || n.promoted;
    n.progress = NodeProgress{};
    n.progress.started = n.last_plain_line = Clock::now();
    try {
      executor_->start(i, n.job, n.progress);
    } catch (const HostError& err) {
      n.result.state = NodeState::Failed;
      n.result.reason = err.what();
      write_state(i);
      display_.event("FAILED " + n.result.label + ": " + n.result.reason);
      return;
    }
    n.result.state = NodeState::Running;
    write_state(i);
    display_.event("start  " + n.result.label + (n.job.resume ? " (resuming from its checkpoint)" : "") +
                   (where_text(i) == "?" ? "" : " [" + where_text(i) + "]"));
  }

  // The step a train node stops at, in its folder for the worker: ASHA's next rung, or none.
  bool set_rung_target(size_t i) {
    Node& n = nodes_[i];
    try {
      if (n.job.until > 0) {
        write_toml(rung_target_file(n.result.dir), toml::table{{"until", n.job.until}});
      } else if (fs::exists(rung_target_file(n.result.dir))) {
        fs::remove(rung_target_file(n.result.dir));
      }
    } catch (const std::exception& err) {
      n.result.state = NodeState::Failed;
      n.result.reason = std::string("cannot set the step its training stops at: ") + err.what();
      write_state(i);
      display_.event("FAILED " + n.result.label + ": " + n.result.reason);
      return false;
    }
    return true;
  }

  void ended(Node& n, const NodeOutcome& outcome) {
    const size_t i = static_cast<size_t>(&n - nodes_.data());
    if (outcome.kind == NodeOutcome::Kind::Finished && n.job.until > 0) {
      n.result.seconds += outcome.seconds;
      trials_.reached_rung(i);
      return;
    }
    n.promoted = false;
    n.result.seconds = outcome.seconds;
    n.result.reason = outcome.reason;
    switch (outcome.kind) {
      case NodeOutcome::Kind::Finished: n.result.state = NodeState::Finished; break;
      case NodeOutcome::Kind::Failed: n.result.state = NodeState::Failed; break;
      case NodeOutcome::Kind::Cancelled:
      case NodeOutcome::Kind::Detached: n.result.state = NodeState::Cancelled; break;
    }
    // Say who interrupted it: Ctrl-C here, or a SIGTERM from outside (timeout, kill, Slurm).
    if (outcome.kind == NodeOutcome::Kind::Cancelled && signal_ != 0)
      n.result.reason = std::string(signal_ == SIGINT ? "interrupted by Ctrl-C (SIGINT)"
                                                      : "interrupted by SIGTERM (timeout, kill or the system)") +
                        (n.result.reason.empty() ? std::string() : ": " + n.result.reason);
    // A detached node still runs on the cluster: its state file keeps saying so (and where),
    // which is what the next `genlab run` re-attaches by.
    if (outcome.kind != NodeOutcome::Kind::Detached) write_state(i);
    const fs::path log = log_file(n.result.dir, n.result.kind);
    if (n.result.state == NodeState::Finished) {
      display_.event("done   " + n.result.label + " (" + format_duration(n.result.seconds) + ")");
    } else if (n.result.state == NodeState::Failed) {
      display_.event("FAILED " + n.result.label + ": " + n.result.reason + "\n       log: " + log.string());
      if (o_.fail_fast && !stopping_) {
        stopping_ = true;
        for (size_t j = 0; j < nodes_.size(); ++j)
          if (nodes_[j].result.state == NodeState::Running) executor_->stop(j);
      }
    } else {
      display_.event("stop   " + n.result.label + ": " + n.result.reason);
    }
  }

  void write_state(size_t i) {
    const Node& n = nodes_[i];
    toml::table state{{"node", node_kind_name(n.result.kind)},
                      {"label", n.result.label},
                      {"state", node_state_name(n.result.state)},
                      {"seconds", n.result.seconds},
                      {"updated", static_cast<int64_t>(std::time(nullptr))}};
    if (n.result.state == NodeState::Running)
      for (const auto& [k, v] : executor_->where(i)) state.insert(k, v);
    if (!n.result.reason.empty()) state.insert("reason", n.result.reason);
    if (n.result.state == NodeState::Failed)
      state.insert("log_tail", last_lines(log_file(n.result.dir, n.result.kind), 20));
    try {
      write_toml(state_file(n.result.dir, n.result.kind), state, Durability::AtomicOnly);
    } catch (const HostError& e) {
      display_.event(std::string("warning: ") + e.what());
    }
  }

  const Experiment& e_;
  const SchedulerOptions& o_;
  Display display_;
  std::unique_ptr<Executor> executor_;
  std::vector<Node> nodes_;
  Trials trials_{e_, nodes_, [this](size_t i) { write_state(i); },
                 [this](const std::string& line) { display_.event(line); }};
  bool stopping_ = false;
  bool interrupted_ = false;
  int signal_ = 0;  // the signal that interrupted this run (SIGINT or SIGTERM); 0: none
};

}  // namespace

ScheduleResult run_scheduler(const Experiment& experiment, const SchedulerOptions& options) {
  Scheduler scheduler(experiment, options);
  ScheduleResult result = scheduler.run();
  write_summary(experiment, result);
  try {
    write_report(experiment);
  } catch (const std::exception& err) {
    std::cerr << "warning: report not written: " << err.what() << "\n";
  }
  return result;
}

}  // namespace genlab
