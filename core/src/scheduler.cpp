#include "genlab/core/scheduler.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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
#include <sstream>
#include <thread>

#include "genlab/core/error.hpp"
#include "genlab/core/json.hpp"
#include "genlab/core/report.hpp"
#include "genlab/core/util/files.hpp"
#include "genlab/core/util/sha256.hpp"

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
  }
  return "?";
}

size_t ScheduleResult::failed() const {
  return static_cast<size_t>(std::count_if(nodes.begin(), nodes.end(), [](const NodeResult& n) {
    return n.state == NodeState::Failed || n.state == NodeState::Skipped;
  }));
}

namespace {

using Clock = std::chrono::steady_clock;

// ASan and TSan map terabytes of shadow memory: an address-space limit would stop every
// worker of a sanitizer build at start, so such builds do not set one.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizedBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitizedBuild = true;
#else
constexpr bool kSanitizedBuild = false;
#endif
#else
constexpr bool kSanitizedBuild = false;
#endif

std::atomic<int> stop_signal{0};
extern "C" void on_host_signal(int signal) { stop_signal.store(signal); }

struct Node {
  NodeResult result;
  std::vector<size_t> deps;
  int threads = 1;
  double timeout = 0;
  int64_t memory_limit_mb = 0;
  std::vector<std::string> args;  // worker arguments after the executable
  // While running:
  pid_t pid = -1;
  int out_fd = -1;
  std::string out_buffer;
  Clock::time_point started;
  bool timed_out = false;
  bool term_sent = false;
  std::unique_ptr<FolderLock> lock;
  int64_t step = 0, total = 0;
  int64_t first_step = -1;             // the first progress line: rates leave start-up out
  Clock::time_point first_step_time;
  std::string loss_name;
  double loss = NAN;
  std::string error;  // the "error ..." line the worker printed, if any
  Clock::time_point last_plain_line;
};

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

// The reason a worker gave for failing: its last error line, else its last line.
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
    std::ostringstream out;
    const double seconds = std::chrono::duration<double>(now - n.started).count();
    out << n.result.label << ": ";
    if (n.step > 0) {
      out << "step " << n.step;
      if (n.total > 0) out << "/" << n.total;
      if (!n.loss_name.empty()) out << " " << n.loss_name << " " << std::setprecision(4) << n.loss;
      const double since = std::chrono::duration<double>(now - n.first_step_time).count();
      if (n.step > n.first_step && since > 0) {
        const double rate = (n.step - n.first_step) / since;
        out << " " << std::fixed << std::setprecision(1) << rate << " steps/s";
        if (n.total > 0) out << " ETA " << format_duration((n.total - n.step) / rate);
      }
    } else {
      out << "starting (" << format_duration(seconds) << ")";
    }
    return out.str();
  }
  static std::string bar(const Node& n, Clock::time_point now) {
    const int width = 20;
    const double fraction = n.total > 0 ? std::min(1.0, double(n.step) / double(n.total)) : 0.0;
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

class Executor {
 public:
  Executor(const Experiment& e, const SchedulerOptions& o) : e_(e), o_(o), display_(!o.quiet && isatty(2)) {
    budget_ = o.thread_budget > 0 ? o.thread_budget : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    build();
  }

  ScheduleResult run() {
    struct sigaction action {}, old_int {}, old_term {};
    action.sa_handler = on_host_signal;
    sigemptyset(&action.sa_mask);
    stop_signal.store(0);
    sigaction(SIGINT, &action, &old_int);
    sigaction(SIGTERM, &action, &old_term);
    loop();
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    display_.finish();

    ScheduleResult out;
    out.interrupted = interrupted_;
    for (auto& n : nodes_) {
      if (n.result.state == NodeState::Pending) {
        n.result.state = NodeState::Skipped;
        n.result.reason = interrupted_ ? "not started: interrupted" : "not started: --fail-fast stopped after a failure";
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
      const size_t index = add(NodeKind::Prepare, "prepare " + r.dataset.name, dir, {}, 1, r.settings.timeout, 0);
      prepared.emplace(data_id, index);
      return index;
    };
    // train, then evaluate (after `eval_deps` too); returns the train node
    auto add_run = [&](const RunPlan& r, const fs::path& run_dir, std::vector<size_t> eval_deps) {
      const size_t prepare_index = prepare(r);
      fs::create_directories(run_dir);
      if (!fs::exists(run_dir / "run.toml")) write_toml(run_dir / "run.toml", r.resolved());
      const size_t train = add(NodeKind::Train, "train " + r.name, run_dir, {prepare_index}, r.settings.threads,
                               r.settings.timeout, r.settings.memory_limit_mb);
      const fs::path eval_dir = run_dir / ("eval-" + r.eval_id.substr(0, 12));
      fs::create_directories(eval_dir);
      eval_deps.push_back(train);
      add(NodeKind::Evaluate, "evaluate " + r.name, eval_dir, std::move(eval_deps), r.settings.threads,
          r.settings.timeout, r.settings.memory_limit_mb);
      return train;
    };
    for (const auto& net : e_.feature_runs) feature_nets[net.id] = add_run(net, e_.feature_folder(net), {});
    for (const auto& r : e_.runs) {
      std::vector<size_t> eval_deps;
      if (!r.features_id.empty()) eval_deps.push_back(feature_nets.at(r.features_id));
      add_run(r, folder / "runs" / r.folder_name(), std::move(eval_deps));
    }
  }

  size_t add(NodeKind kind, std::string label, fs::path dir, std::vector<size_t> deps, int threads, double timeout,
             int64_t memory_limit_mb) {
    Node n;
    n.result.kind = kind;
    n.result.label = std::move(label);
    n.result.dir = std::move(dir);
    n.deps = std::move(deps);
    n.threads = threads;
    n.timeout = timeout;
    n.memory_limit_mb = memory_limit_mb;
    if (fs::exists(done_file(n.result.dir, kind))) {
      n.result.state = NodeState::Finished;
      n.result.reused = true;
    }
    nodes_.push_back(std::move(n));
    return nodes_.size() - 1;
  }

  int running_threads() const {
    int sum = 0;
    for (const auto& n : nodes_)
      if (n.result.state == NodeState::Running) sum += n.threads;
    return sum;
  }
  size_t running_count() const {
    return static_cast<size_t>(std::count_if(nodes_.begin(), nodes_.end(),
                                             [](const Node& n) { return n.result.state == NodeState::Running; }));
  }

  void loop() {
    while (true) {
      if (!stopping_) launch_ready();
      if (running_count() == 0) break;
      wait_for_output(100);
      reap();
      enforce_timeouts();
      if (const int sig = stop_signal.exchange(0); sig != 0 && !stopping_) {
        interrupted_ = true;
        stopping_ = true;
        display_.event("interrupted: the running nodes save a checkpoint and stop (resume with --resume)");
        for (auto& n : nodes_)
          if (n.result.state == NodeState::Running) ::kill(n.pid, SIGINT);
      }
      display_.update(nodes_);
    }
  }

  void launch_ready() {
    bool progress = true;
    while (progress) {
      progress = false;
      for (size_t i = 0; i < nodes_.size(); ++i) {
        Node& n = nodes_[i];
        if (n.result.state != NodeState::Pending) continue;
        bool ready = true;
        for (size_t d : n.deps) {
          const NodeState s = nodes_[d].result.state;
          if (s == NodeState::Failed || s == NodeState::Skipped || s == NodeState::Cancelled) {
            n.result.state = NodeState::Skipped;
            n.result.reason = nodes_[d].result.label + " did not finish";
            write_state(n);
            progress = true;
            ready = false;
            break;
          }
          ready &= s == NodeState::Finished;
        }
        if (!ready || n.result.state != NodeState::Pending) continue;
        if (running_count() >= static_cast<size_t>(std::max(1, o_.jobs))) return;
        if (running_count() > 0 && running_threads() + n.threads > budget_) continue;
        start(n);
        progress = true;
      }
    }
  }

  void start(Node& n) {
    n.lock = std::make_unique<FolderLock>(n.result.dir);
    if (!n.lock->try_acquire()) {
      n.result.state = NodeState::Failed;
      n.result.reason = "another genlab process is running this node (" + (n.result.dir / ".lock").string() + ")";
      display_.event("FAILED " + n.result.label + ": " + n.result.reason);
      return;
    }
    const bool resume = n.result.kind == NodeKind::Train && o_.resume && fs::exists(checkpoint_file(n.result.dir));
    std::vector<std::string> args = {o_.executable.string(), "worker", node_kind_name(n.result.kind),
                                     n.result.dir.string()};
    if (resume) args.push_back("--resume");
    const fs::path log = log_file(n.result.dir, n.result.kind);
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw HostError("cannot create a pipe for a worker");
    const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (resume ? O_APPEND : O_TRUNC), 0644);
    if (log_fd < 0) throw HostError(log.string() + ": cannot write the worker's log");
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw HostError("cannot start a worker process (fork failed)");
    if (pid == 0) {
      // The worker dies with the host, so a kill -9 of the host leaves no orphan behind.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);
      ::dup2(pipe_fds[1], STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
      // The host owns both thread pools: LibTorch's OpenMP and OpenBLAS's.
      const std::string threads = std::to_string(n.threads);
      ::setenv("OMP_NUM_THREADS", threads.c_str(), 1);
      ::setenv("OPENBLAS_NUM_THREADS", threads.c_str(), 1);
      ::setenv("MKL_NUM_THREADS", threads.c_str(), 1);
      if (n.memory_limit_mb > 0 && !kSanitizedBuild) {
        const rlimit limit{static_cast<rlim_t>(n.memory_limit_mb) << 20, static_cast<rlim_t>(n.memory_limit_mb) << 20};
        ::setrlimit(RLIMIT_AS, &limit);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      const std::string message = "error: cannot start " + args[0] + ": " + std::strerror(errno) + "\n";
      (void)!::write(STDERR_FILENO, message.data(), message.size());
      ::_exit(127);
    }
    ::close(pipe_fds[1]);
    ::close(log_fd);
    ::fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
    n.pid = pid;
    n.out_fd = pipe_fds[0];
    n.started = Clock::now();
    n.last_plain_line = n.started;
    n.result.state = NodeState::Running;
    write_state(n);
    display_.event("start  " + n.result.label + (resume ? " (resuming from its checkpoint)" : ""));
  }

  void wait_for_output(int timeout_ms) {
    std::vector<pollfd> fds;
    for (const auto& n : nodes_)
      if (n.result.state == NodeState::Running && n.out_fd >= 0) fds.push_back(pollfd{n.out_fd, POLLIN, 0});
    if (fds.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
      return;
    }
    ::poll(fds.data(), fds.size(), timeout_ms);
    for (auto& n : nodes_)
      if (n.result.state == NodeState::Running) drain(n);
  }

  void drain(Node& n) {
    if (n.out_fd < 0) return;
    char buffer[4096];
    ssize_t got;
    while ((got = ::read(n.out_fd, buffer, sizeof buffer)) > 0) n.out_buffer.append(buffer, static_cast<size_t>(got));
    size_t newline;
    while ((newline = n.out_buffer.find('\n')) != std::string::npos) {
      std::istringstream line(n.out_buffer.substr(0, newline));
      n.out_buffer.erase(0, newline + 1);
      std::string tag;
      line >> tag;
      if (tag == "error") {  // the worker's error, said on the pipe too: its log may be on a full disk
        std::getline(line >> std::ws, n.error);
      } else if (tag == "progress") {
        line >> n.step >> n.total >> n.loss_name >> n.loss;
        if (n.first_step < 0) {
          n.first_step = n.step;
          n.first_step_time = Clock::now();
        }
      }
    }
  }

  void reap() {
    for (auto& n : nodes_) {
      if (n.result.state != NodeState::Running) continue;
      int status = 0;
      const pid_t done = ::waitpid(n.pid, &status, WNOHANG);
      if (done != n.pid) continue;
      drain(n);
      ::close(n.out_fd);
      n.out_fd = -1;
      n.result.seconds = std::chrono::duration<double>(Clock::now() - n.started).count();
      const fs::path log = log_file(n.result.dir, n.result.kind);
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && fs::exists(done_file(n.result.dir, n.result.kind))) {
        n.result.state = NodeState::Finished;
      } else if (WIFEXITED(status) && WEXITSTATUS(status) == 130) {
        n.result.state = NodeState::Cancelled;
        n.result.reason = "interrupted after a checkpoint; resume with --resume";
      } else {
        n.result.state = NodeState::Failed;
        if (n.timed_out) {
          n.result.reason = "timed out after " + format_duration(n.timeout) + " and was killed";
        } else if (WIFSIGNALED(status)) {
          const int sig = WTERMSIG(status);
          n.result.reason = std::string("killed by signal ") + std::to_string(sig) + " (" + strsignal(sig) + ")";
          if (sig == SIGKILL) n.result.reason += ": out of memory, or killed from outside";
        } else {
          n.result.reason = n.error.empty() ? failure_line(log) : n.error;
        }
      }
      n.lock.reset();
      write_state(n);
      if (n.result.state == NodeState::Finished) {
        display_.event("done   " + n.result.label + " (" + format_duration(n.result.seconds) + ")");
      } else if (n.result.state == NodeState::Failed) {
        display_.event("FAILED " + n.result.label + ": " + n.result.reason + "\n       log: " + log.string());
        if (o_.fail_fast && !stopping_) {
          stopping_ = true;
          for (auto& other : nodes_)
            if (other.result.state == NodeState::Running) ::kill(other.pid, SIGTERM);
        }
      } else {
        display_.event("stop   " + n.result.label + ": " + n.result.reason);
      }
    }
  }

  void enforce_timeouts() {
    const auto now = Clock::now();
    for (auto& n : nodes_) {
      if (n.result.state != NodeState::Running || n.timeout <= 0) continue;
      const double seconds = std::chrono::duration<double>(now - n.started).count();
      if (seconds > n.timeout && !n.term_sent) {
        n.timed_out = n.term_sent = true;
        ::kill(n.pid, SIGTERM);
      } else if (seconds > n.timeout + 3) {
        ::kill(n.pid, SIGKILL);  // it ignored SIGTERM (a hang in plugin code)
      }
    }
  }

  void write_state(const Node& n) {
    toml::table state{{"node", node_kind_name(n.result.kind)},
                      {"label", n.result.label},
                      {"state", node_state_name(n.result.state)},
                      {"seconds", n.result.seconds},
                      {"updated", static_cast<int64_t>(std::time(nullptr))}};
    if (n.result.state == NodeState::Running) state.insert("pid", static_cast<int64_t>(n.pid));
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
  int budget_ = 1;
  std::vector<Node> nodes_;
  bool stopping_ = false;
  bool interrupted_ = false;
};

std::string metric_text(const toml::node& node) {
  if (const auto* d = node.as_floating_point()) {
    std::ostringstream out;
    out << std::setprecision(5) << d->get();
    return out.str();
  }
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* s = node.as_string()) return s->get();
  return "?";
}

}  // namespace

ScheduleResult run_scheduler(const Experiment& experiment, const SchedulerOptions& options) {
  Executor executor(experiment, options);
  ScheduleResult result = executor.run();
  write_summary(experiment, result);
  try {
    write_report(experiment);
  } catch (const std::exception& err) {
    std::cerr << "warning: report not written: " << err.what() << "\n";
  }
  return result;
}

void write_summary(const Experiment& e, const ScheduleResult& result) {
  struct Row {
    std::string name, train, evaluate, reason;
    const toml::table* metrics = nullptr;
    std::optional<toml::table> done;
  };
  std::vector<Row> rows;
  std::map<std::string, size_t> by_name;
  for (const auto& node : result.nodes) {
    if (node.kind == NodeKind::Prepare) continue;
    const std::string name = node.label.substr(node.label.find(' ') + 1);
    auto [it, inserted] = by_name.emplace(name, rows.size());
    if (inserted) rows.push_back(Row{name, "", "", "", nullptr, std::nullopt});
    Row& row = rows[it->second];
    (node.kind == NodeKind::Train ? row.train : row.evaluate) = node_state_name(node.state);
    if (!node.reason.empty() && row.reason.empty()) row.reason = node.reason;
    if (node.kind == NodeKind::Evaluate && node.state == NodeState::Finished) {
      row.done = read_toml(done_file(node.dir, NodeKind::Evaluate));
      if (row.done) row.metrics = (*row.done)["metrics"].as_table();
    }
  }
  std::vector<std::string> columns;
  for (const auto& row : rows)
    if (row.metrics)
      for (const auto& [k, v] : *row.metrics)
        if (std::find(columns.begin(), columns.end(), std::string(k.str())) == columns.end())
          columns.emplace_back(k.str());
  if (!e.report.sort_by.empty()) {
    auto value = [&](const Row& r) {
      const toml::node* n = r.metrics ? r.metrics->get(e.report.sort_by) : nullptr;
      return n && n->is_number() ? n->value_or(0.0) : INFINITY;
    };
    std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) { return value(a) < value(b); });
  }

  toml::array runs;
  std::ostringstream md;
  md << "# " << e.report.title << "\n\nManifest: `" << e.file.string() << "`\n\n| run | train | evaluate |";
  for (const auto& c : columns) md << " " << c << " |";
  md << "\n|---|---|---|";
  for (size_t i = 0; i < columns.size(); ++i) md << "---|";
  md << "\n";
  for (const auto& row : rows) {
    toml::table t{{"run", row.name}, {"train", row.train}, {"evaluate", row.evaluate}};
    if (!row.reason.empty()) t.insert("reason", row.reason);
    if (row.metrics) t.insert("metrics", *row.metrics);
    runs.push_back(std::move(t));
    md << "| " << row.name << " | " << row.train << " | " << row.evaluate << " |";
    for (const auto& c : columns) {
      const toml::node* n = row.metrics ? row.metrics->get(c) : nullptr;
      md << " " << (n ? metric_text(*n) : "") << " |";
    }
    md << "\n";
  }
  for (const auto& row : rows)
    if (!row.reason.empty()) md << "\n- " << row.name << ": " << row.reason;
  md << "\n";
  try {
    fs::create_directories(e.folder());
    write_file_atomic(e.folder() / "summary.json",
                      to_json(toml::table{{"experiment", e.name}, {"manifest", e.file.string()}, {"runs", std::move(runs)}}) + "\n",
                      Durability::AtomicOnly);
    write_file_atomic(e.folder() / "summary.md", md.str(), Durability::AtomicOnly);
  } catch (const HostError& err) {
    std::cerr << "warning: summary not written: " << err.what() << "\n";
  }
}

std::string workspace_status(const fs::path& workspace) {
  if (!fs::is_directory(workspace)) throw HostError(workspace.string() + ": no such workspace");
  std::ostringstream out;
  out << std::left << std::setw(44) << "RUN" << std::setw(13) << "TRAIN" << std::setw(13) << "EVALUATE"
      << std::setw(16) << "PROGRESS" << std::setw(10) << "TIME" << "REASON\n";
  std::vector<fs::path> experiments;
  for (const auto& entry : fs::directory_iterator(workspace))
    if (fs::is_directory(entry.path() / "runs")) experiments.push_back(entry.path());
  std::sort(experiments.begin(), experiments.end());
  for (const auto& folder : experiments) {
    out << folder.filename().string() << "/\n";
    std::vector<fs::path> runs;
    for (const auto& entry : fs::directory_iterator(folder / "runs")) runs.push_back(entry.path());
    std::sort(runs.begin(), runs.end());
    for (const auto& run : runs) {
      auto state_of = [](const fs::path& dir, NodeKind kind) -> std::pair<std::string, toml::table> {
        if (fs::exists(done_file(dir, kind))) return {"finished", read_toml(state_file(dir, kind)).value_or(toml::table{})};
        auto s = read_toml(state_file(dir, kind));
        if (!s) return {"pending", {}};
        std::string state = (*s)["state"].value_or(std::string("?"));
        // A "running" state whose lock is free belongs to a host that died: interrupted.
        if (state == "running") {
          FolderLock probe(dir);
          if (probe.try_acquire()) state = "interrupted";
        }
        return {state, *s};
      };
      auto [train, train_state] = state_of(run, NodeKind::Train);
      std::string eval = "pending";
      toml::table eval_state;
      for (const auto& entry : fs::directory_iterator(run))
        if (entry.is_directory() && entry.path().filename().string().rfind("eval-", 0) == 0)
          std::tie(eval, eval_state) = state_of(entry.path(), NodeKind::Evaluate);
      std::string progress;
      if (auto done = read_toml(done_file(run, NodeKind::Train))) {
        progress = std::to_string((*done)["steps"].value_or(int64_t{0})) + " steps";
      } else {
        const std::string last = last_lines(run / "losses.jsonl", 1);
        if (last.rfind("{\"step\":", 0) == 0) progress = "step " + std::to_string(std::stoll(last.substr(8)) + 1);
      }
      const double seconds = train_state["seconds"].value_or(0.0) + eval_state["seconds"].value_or(0.0);
      std::string reason = train_state["reason"].value_or(eval_state["reason"].value_or(std::string()));
      const std::string name = run.filename().string().substr(0, run.filename().string().rfind("--"));
      out << "  " << std::left << std::setw(42) << name << std::setw(13) << train << std::setw(13) << eval
          << std::setw(16) << progress << std::setw(10) << (seconds > 0 ? format_duration(seconds) : "") << reason
          << "\n";
    }
  }
  return out.str();
}

}  // namespace genlab
