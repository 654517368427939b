#include "driver/job_registry.h"

#include <glog/logging.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/errors.h"
#include "driver/progress_events.h"
#include "proto/names.h"
#include "rpc/call.h"
#include "rpc/rpc.h"
#include "runtime/plugin_file.h"
#include "util/durable_file.h"
#include "util/file_names.h"

namespace ember {
namespace internal {

namespace {

// Checks a plugin's bytes as data and writes them to `path` (this process never maps it); an
// error names `shown` (the file the user gave), not the driver's copy.
absl::Status StorePlugin(const std::string& path, const std::string& bytes,
                         const std::string& shown) {
  auto checked = CheckPluginBytes(bytes, shown);
  if (!checked.ok()) return checked.status();
  if (!WriteFileSynced(path, bytes).ok()) {
    return absl::ResourceExhaustedError("cannot write the plugin to " + path + " (disk full?)");
  }
  return absl::OkStatus();
}

// Kept so that a restarted driver starts the application again (written atomically).
absl::Status KeepSubmission(const std::string& dir, const proto::SubmitJobRequest& request) {
  return WriteFileAtomically(dir + "/submission.pb", request.SerializeAsString());
}

constexpr size_t kMaxNameBytes = 256;
constexpr int kMaxArgs = 4096;

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// The plugin's file name in the work directory: safe characters, at most kMaxPluginFileName
// of them (prefixes are added to it, and a file name has 255 bytes at most), and ".so"
// (dlopen needs no suffix, but people reading the directory do).
constexpr size_t kMaxPluginFileName = 100;
std::string PluginFileName(const std::string& name) {
  std::string out = SafeFileName(name);
  if (out.size() >= 3 && out.substr(out.size() - 3) == ".so") out.resize(out.size() - 3);
  if (out.size() > kMaxPluginFileName - 3) out.resize(kMaxPluginFileName - 3);
  return out + ".so";
}

bool Printable(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

JobRegistry::JobRegistry(Options options) : options_(std::move(options)) {}

JobRegistry::~JobRegistry() { Shutdown(); }

void JobRegistry::SetDriverUrl(std::string url) {
  absl::MutexLock lock(&mu_);
  driver_url_ = std::move(url);
}

std::string JobRegistry::NewAppId() {
  std::time_t now = std::time(nullptr);
  std::tm tm;
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
  return absl::StrFormat("app-%s-%04d", stamp, ++next_app_);
}

absl::StatusOr<std::string> JobRegistry::Submit(const proto::SubmitJobRequest& request,
                                                const std::string& recovered_id) {
  if (request.plugin().empty()) return absl::InvalidArgumentError("the job plugin is empty");
  if (request.name().size() > kMaxNameBytes || !Printable(request.name())) {
    return absl::InvalidArgumentError("the application name must be at most 256 printable bytes");
  }
  if (request.args_size() > kMaxArgs) return absl::InvalidArgumentError("too many job arguments");
  for (const auto& [k, v] : request.conf()) {
    if (k.empty() || !Printable(k)) {
      return absl::InvalidArgumentError("configuration keys must be non-empty and printable");
    }
  }
  auto app = std::make_shared<App>();
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return absl::UnavailableError("the driver is shutting down");
    app->id = recovered_id;
    while (app->id.empty() || (recovered_id.empty() &&
                               std::filesystem::exists(options_.work_dir + "/apps/" + app->id))) {
      app->id = NewAppId();
    }
  }
  std::string plugin_name = request.plugin_name().empty() ? "job.so" : request.plugin_name();
  app->name = request.name().empty() ? plugin_name : request.name();
  for (const auto& [k, v] : options_.defaults.all()) app->conf.set(k, v);
  for (const auto& [k, v] : request.conf()) app->conf.set(k, v);
  try {
    app->driver_memory = app->conf.getSizeAsBytes("ember.driver.memory", 0, 1 << 20);
    app->task_memory = app->conf.getSizeAsBytes("ember.executor.memory", 0, 1 << 20);
    app->max_restarts = static_cast<int>(app->conf.getInt("ember.driver.maxRestarts", 3));
    app->restart_backoff = absl::Milliseconds(
        app->conf.getDuration("ember.driver.restartBackoff", Seconds(1)).milliseconds());
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(e.what());
  }
  if (app->max_restarts < 0) {
    return absl::InvalidArgumentError("ember.driver.maxRestarts must not be negative");
  }
  std::string dir = options_.work_dir + "/apps/" + app->id;
  app->dir = dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError("cannot create " + dir + ": " + ec.message());
  // A new path per application: dlopen of a path already loaded returns the old library.
  app->plugin_path = dir + "/" + PluginFileName(plugin_name);
  app->plugin_shown = plugin_name;
  absl::Status stored = StorePlugin(app->plugin_path, request.plugin(), plugin_name);
  if (!stored.ok()) {
    std::filesystem::remove_all(dir, ec);
    return stored;
  }
  if (recovered_id.empty() && !KeepSubmission(dir, request).ok()) {
    std::filesystem::remove_all(dir, ec);
    return absl::ResourceExhaustedError("cannot keep the submission in " + dir + " (disk full?)");
  }
  app->plugin_bytes = request.plugin();
  app->args.assign(request.args().begin(), request.args().end());
  {
    absl::MutexLock lock(&mu_);
    app->conf.setMaster(driver_url_);
  }
  app->conf.setAppName(app->name);
  app->conf.set("ember.app.id", app->id);
  // Copied into the job's checkpoint directory, which then suffices to start it again.
  app->conf.set("ember.app.submission", dir + "/submission.pb");
  app->submitted_ms = NowMs();
  {
    absl::MutexLock lock(&mu_);
    apps_[app->id] = app;
  }
  app->thread = std::thread([this, app] { RunApp(app); });
  absl::Status started;
  {
    absl::MutexLock lock(&app->mu);
    app->mu.Await(absl::Condition(&app->started));
    started = app->start_status;
  }
  if (!started.ok()) {
    app->thread.join();
    {
      absl::MutexLock lock(&mu_);
      apps_.erase(app->id);
    }
    if (recovered_id.empty()) std::filesystem::remove_all(dir, ec);
    return started;
  }
  LOG(INFO) << "Application " << app->id << " (" << app->name << ", plugin " << plugin_name
            << ") submitted";
  return app->id;
}

std::shared_ptr<AppRunner> JobRegistry::MakeRunner(App* app, bool probe) {
  AppRunner::Options o;
  o.app_id = app->id;
  o.plugin_path = app->plugin_path;
  o.plugin_shown = app->plugin_shown;
  o.conf = app->conf;
  o.args = app->args;
  o.emit = [this, app](const std::string& text) { Append(app, text); };
  o.probe = probe;
  o.run_id = rpc::NewToken().substr(0, 16);
  std::shared_ptr<AppRunner> runner;
  if (options_.isolation == Isolation::kThread) {
    runner = std::make_shared<ThreadRunner>(std::move(o), options_.executors);
  } else {
    ProcessRunner::Process p;
    p.program = options_.program;
    p.daemon_address = options_.local_address;
    p.token = options_.local_token;
    p.secret = options_.executors->secret();
    p.heartbeat_timeout = options_.executors->heartbeat_timeout();
    p.memory_limit_bytes = app->driver_memory;
    std::string run_id = o.run_id;
    runner = std::make_shared<ProcessRunner>(std::move(o), std::move(p));
    absl::MutexLock lock(&mu_);
    for (auto it = runs_.begin(); it != runs_.end();) {
      it = it->second.expired() ? runs_.erase(it) : std::next(it);
    }
    runs_[run_id] = runner;
  }
  return runner;
}

void JobRegistry::RunApp(const std::shared_ptr<App>& app) {
  RunEnd end;
  for (int run = 0;; ++run) {
    std::shared_ptr<AppRunner> runner = MakeRunner(app.get(), /*probe=*/false);
    {
      absl::MutexLock lock(&app->mu);
      app->runner = runner;
    }
    absl::Status started = runner->Start();
    if (run == 0) {
      absl::MutexLock lock(&app->mu);
      app->started = true;
      app->start_status = started;
      // Refused: Submit says so and forgets the application.
      if (!started.ok()) return;
    }
    if (started.ok()) {
      end = runner->Wait();
    } else {
      end.state = proto::APP_FAILED;
      end.error = "its restart failed: " + std::string(started.message());
      end.crashed = false;
    }
    absl::Duration backoff;
    {
      absl::MutexLock lock(&app->mu);
      bool stopping = app->killed || app->driver_shutdown || app->upgrading;
      if (!end.crashed || stopping) break;
      if (app->restarts >= app->max_restarts) {
        end.error +=
            absl::StrCat(" (restarted ", app->restarts, app->restarts == 1 ? " time" : " times",
                         ", ember.driver.maxRestarts)");
        break;
      }
      backoff = app->restart_backoff * (int64_t{1} << std::min(app->restarts, 5));
      ++app->restarts;
    }
    LOG(WARNING) << "Application " << app->id << ": " << end.error << "; restarting it in "
                 << absl::FormatDuration(backoff) << " (restart " << app->restarts << " of "
                 << app->max_restarts << ")";
    Append(app.get(), absl::StrCat("[ember] ", end.error, "; restarting the application\n"));
    // Its receivers and task processes on the executors go first: the new run places its own.
    CleanupExecutors(app->id);
    absl::MutexLock lock(&app->mu);
    auto stop = [&app]() ABSL_SHARED_LOCKS_REQUIRED(app->mu) {
      return app->killed || app->driver_shutdown;
    };
    if (app->mu.AwaitWithTimeout(absl::Condition(&stop), backoff)) break;
  }
  // The application's state on the executors goes with it.
  CleanupExecutors(app->id);

  absl::MutexLock lock(&app->mu);
  if (app->killed) {
    app->state = proto::APP_KILLED;
  } else {
    app->state = end.state;
    app->error = end.error;
  }
  app->ended_ms = NowMs();
  if (!app->driver_shutdown && !app->upgrading) {
    // Ended for good: a restarted driver does not start it again.
    std::ofstream(app->dir + "/ended") << proto::AppStateName(app->state) << "\n";
  }
  LOG(INFO) << "Application " << app->id << " " << proto::AppStateName(app->state)
            << (app->error.empty() ? "" : ": " + app->error);
}

void JobRegistry::CleanupExecutors(const std::string& app_id) {
  proto::CleanupRequest cleanup;
  cleanup.set_app_id(app_id);
  cleanup.set_app_ended(true);
  cleanup.set_clear_cache(true);
  for (const auto& e : options_.executors->Alive()) {
    proto::CleanupReply reply;
    rpc::Call(*e->stub, &proto::Executor::Stub::Cleanup, cleanup, &reply,
              {options_.executors->secret(), rpc::Deadline::kControl});
  }
}

void JobRegistry::Append(App* app, const std::string& text) {
  absl::MutexLock lock(&app->mu);
  app->output += text;
  if (app->output.size() > options_.max_output_bytes) {
    size_t drop = app->output.size() - options_.max_output_bytes;
    app->output.erase(0, drop);
    app->output_base += static_cast<int64_t>(drop);
  }
}

std::shared_ptr<JobRegistry::App> JobRegistry::Find(const std::string& app_id) const {
  absl::MutexLock lock(&mu_);
  auto it = apps_.find(app_id);
  return it == apps_.end() ? nullptr : it->second;
}

std::shared_ptr<AppRunner> JobRegistry::CurrentRunner(App* app) {
  absl::MutexLock lock(&app->mu);
  return app->runner;
}

absl::StatusOr<proto::AppState> JobRegistry::Kill(const std::string& app_id, bool graceful) {
  auto app = Find(app_id);
  if (app == nullptr) return absl::NotFoundError("no application " + app_id);
  std::shared_ptr<AppRunner> runner;
  {
    absl::MutexLock lock(&app->mu);
    if (app->state != proto::APP_RUNNING) return app->state;
    app->killed = true;
    runner = app->runner;
  }
  LOG(INFO) << "Killing application " << app_id;
  if (runner != nullptr) runner->Stop(graceful);
  // The job's entry point returns once its context stopped (awaitTermination wakes up).
  auto ended = [&app]()
                   ABSL_SHARED_LOCKS_REQUIRED(app->mu) { return app->state != proto::APP_RUNNING; };
  {
    absl::MutexLock lock(&app->mu);
    if (app->mu.AwaitWithTimeout(absl::Condition(&ended), absl::Seconds(30))) return app->state;
  }
  // A job that does not return when its context stops: its process is killed.
  if (runner == nullptr || !runner->ForceEnd()) return proto::APP_KILLING;
  LOG(WARNING) << "application " << app_id << " did not stop within 30 s: killed its process";
  absl::MutexLock lock(&app->mu);
  if (!app->mu.AwaitWithTimeout(absl::Condition(&ended), absl::Seconds(10))) {
    return proto::APP_KILLING;
  }
  return app->state;
}

absl::Status JobRegistry::Probe(App* app, const std::string& path, const std::string& shown) {
  App probe;
  probe.id = app->id;
  probe.plugin_path = path;
  probe.plugin_shown = shown;
  probe.conf = app->conf;
  probe.driver_memory = app->driver_memory;
  std::shared_ptr<AppRunner> runner = MakeRunner(&probe, /*probe=*/true);
  absl::Status s = runner->Start();
  if (s.ok()) runner->Wait();
  return s;
}

absl::Status JobRegistry::Upgrade(const std::string& app_id, const std::string& plugin,
                                  const std::string& plugin_name) {
  absl::MutexLock upgrade_lock(&upgrade_mu_);
  auto app = Find(app_id);
  if (app == nullptr) return absl::NotFoundError("no application " + app_id);
  {
    absl::MutexLock lock(&app->mu);
    if (app->state != proto::APP_RUNNING) {
      return absl::FailedPreconditionError("application " + app_id + " is " +
                                           proto::AppStateName(app->state) +
                                           ": only a running application can be upgraded");
    }
  }
  proto::SubmitJobRequest previous;
  {
    std::ifstream in(app->dir + "/submission.pb", std::ios::binary);
    if (!in || !previous.ParseFromIstream(&in)) {
      return absl::InternalError("cannot read the submission of " + app_id);
    }
  }
  if (plugin.empty()) return absl::InvalidArgumentError("the new plugin is empty");
  std::string name = plugin_name.empty() ? "job.so" : plugin_name;
  // The new plugin must load before the running one is touched.
  std::string probe_path = absl::StrCat(app->dir, "/probe-", NowMs(), "-", PluginFileName(name));
  absl::Status probed = StorePlugin(probe_path, plugin, name);
  if (probed.ok()) probed = Probe(app.get(), probe_path, name);
  if (!probed.ok()) {
    if (absl::IsResourceExhausted(probed)) return probed;
    return absl::InvalidArgumentError(probed.message());
  }

  LOG(INFO) << "Upgrading application " << app_id << " to plugin " << name;
  {
    absl::MutexLock lock(&app->mu);
    app->upgrading = true;
  }
  auto stopped = Kill(app_id, /*graceful=*/true);
  if (!stopped.ok()) return stopped.status();
  if (app->thread.joinable()) app->thread.join();

  // Started again under its id; each start loads its plugin from a new path.
  auto start = [&](const std::string& bytes, const std::string& tag) {
    proto::SubmitJobRequest request = previous;
    request.set_plugin(bytes);
    request.set_plugin_name(absl::StrCat(tag, "-", NowMs(), "-", PluginFileName(name)));
    request.set_name(app->name);
    return Submit(request, app_id);
  };
  auto started = start(plugin, "upgrade");
  std::string failure;
  if (started.ok()) {
    auto next = Find(app_id);
    absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (true) {
      {
        absl::MutexLock lock(&next->mu);
        if (next->state != proto::APP_RUNNING) {
          failure = next->error.empty() ? "it ended (" + proto::AppStateName(next->state) + ")"
                                        : next->error;
          break;
        }
      }
      auto runner = CurrentRunner(next.get());
      if (runner != nullptr && runner->ContextActive()) break;
      if (absl::Now() > deadline) break;  // still starting: leave it be
      absl::SleepFor(absl::Milliseconds(20));
    }
    if (failure.empty()) {
      proto::SubmitJobRequest kept = previous;
      kept.set_plugin(plugin);
      kept.set_plugin_name(name);
      if (!KeepSubmission(app->dir, kept).ok()) {
        LOG(ERROR) << "cannot keep the upgraded submission of " << app_id
                   << ": a restarted driver would start the previous plugin";
      }
      LOG(INFO) << "Application " << app_id << " upgraded";
      return absl::OkStatus();
    }
    if (next->thread.joinable()) next->thread.join();
  } else {
    failure = std::string(started.status().message());
  }
  // The new plugin did not start: the previous one runs again.
  std::error_code ec;
  std::filesystem::remove(app->dir + "/ended", ec);
  LOG(WARNING) << "upgrade of " << app_id << " failed (" << failure
               << "); starting its previous plugin again";
  auto back = start(previous.plugin(), "rollback");
  return absl::AbortedError("the new plugin did not start: " + failure +
                            (back.ok() ? "; the application runs its previous plugin again"
                                       : "; and the previous plugin did not start either: " +
                                             std::string(back.status().message())));
}

absl::Status JobRegistry::Watch(const std::string& app_id, int64_t offset, const std::string& run,
                                bool follow,
                                const std::function<bool(const proto::JobEvent&)>& write,
                                const std::function<bool()>& cancelled) {
  auto app = Find(app_id);
  if (app == nullptr) return absl::NotFoundError("no application " + app_id);
  if (offset < 0) return absl::InvalidArgumentError("negative output offset");
  // An offset into an earlier driver's output: this driver's output from its start.
  if (!run.empty() && run != app->output_run) offset = 0;
  while (true) {
    proto::JobEvent event;
    event.set_run(app->output_run);
    bool finished;
    {
      absl::MutexLock lock(&app->mu);
      int64_t end = app->output_base + static_cast<int64_t>(app->output.size());
      auto changed = [&]() ABSL_SHARED_LOCKS_REQUIRED(app->mu) {
        return app->output_base + static_cast<int64_t>(app->output.size()) > offset ||
               app->state != proto::APP_RUNNING;
      };
      if (follow && end <= offset && app->state == proto::APP_RUNNING) {
        app->mu.AwaitWithTimeout(absl::Condition(&changed), absl::Milliseconds(500));
        end = app->output_base + static_cast<int64_t>(app->output.size());
      }
      if (offset < app->output_base) offset = app->output_base;
      if (end > offset) {
        event.set_output(app->output.substr(static_cast<size_t>(offset - app->output_base)));
        offset = end;
      }
      finished = app->state != proto::APP_RUNNING;
      if (finished) {
        event.set_finished(true);
        event.set_state(app->state);
        event.set_error(app->error);
      }
    }
    if ((!event.output().empty() || event.finished()) && !write(event)) return absl::OkStatus();
    if (finished || !follow) return absl::OkStatus();
    if (cancelled && cancelled()) return absl::CancelledError("watch cancelled");
  }
}

void JobRegistry::FillInfo(App* app, proto::AppInfo* info) {
  info->set_app_id(app->id);
  info->set_name(app->name);
  info->set_submitted_ms(app->submitted_ms);
  {
    absl::MutexLock lock(&app->mu);
    info->set_state(app->state);
    info->set_error(app->error);
    info->set_ended_ms(app->ended_ms);
  }
  // Its progress: the daemon's copy of the process's reports, or the context's own.
  std::shared_ptr<StreamingProgress> progress = Monitor::Global().Find(app->id);
  if (progress == nullptr) return;
  StreamingProgress::Summary s = progress->Summarize();
  info->set_batch_interval_ms(s.batch_interval_ms);
  info->set_completed_batches(s.completed_batches);
  info->set_last_batch_ms(s.last_batch_ms);
  info->set_records(s.records);
  info->set_avg_processing_ms(s.avg_processing_ms);
  info->set_avg_total_delay_ms(s.avg_total_delay_ms);
  for (const auto& r : s.receivers) {
    auto* out = info->add_receivers();
    out->set_stream_id(r.streamId);
    out->set_executor_id(r.active ? r.executorId : "");
    out->set_active(r.active);
    out->set_last_error(r.lastErrorMessage);
    out->set_last_error_time_ms(r.lastErrorTime);
  }
}

absl::Status JobRegistry::Status(const std::string& app_id, proto::StatusReply* reply) {
  if (!app_id.empty()) {
    auto app = Find(app_id);
    if (app == nullptr) return absl::NotFoundError("no application " + app_id);
    FillInfo(app.get(), reply->add_apps());
    return absl::OkStatus();
  }
  std::vector<std::shared_ptr<App>> apps;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, a] : apps_) apps.push_back(a);
  }
  for (const auto& a : apps) FillInfo(a.get(), reply->add_apps());
  for (auto& e : options_.executors->Infos()) *reply->add_executors() = std::move(e);
  return absl::OkStatus();
}

absl::Status JobRegistry::FillPlugin(const std::string& app_id, proto::FetchPluginReply* reply) {
  auto app = Find(app_id);
  if (app == nullptr) return absl::NotFoundError("no application " + app_id);
  reply->set_plugin(app->plugin_bytes);
  reply->set_task_process_memory_bytes(app->task_memory);
  return absl::OkStatus();
}

absl::StatusOr<std::string> JobRegistry::Broadcast(const std::string& app_id, int64_t id) {
  std::vector<std::shared_ptr<App>> apps;
  if (!app_id.empty()) {
    auto app = Find(app_id);
    if (app == nullptr) return absl::NotFoundError("no application " + app_id);
    apps.push_back(std::move(app));
  } else {
    absl::MutexLock lock(&mu_);
    for (const auto& [aid, a] : apps_) apps.push_back(a);
  }
  for (const auto& app : apps) {
    auto runner = CurrentRunner(app.get());
    if (runner == nullptr || runner->Ended()) continue;
    auto bytes = runner->Broadcast(id);
    if (bytes.ok() || !absl::IsNotFound(bytes.status()) || !app_id.empty()) return bytes;
  }
  return absl::NotFoundError("no broadcast variable " + std::to_string(id));
}

absl::StatusOr<int64_t> JobRegistry::OnBlock(const proto::ReportBlockRequest& request) {
  auto app = Find(request.app_id());
  if (app == nullptr) return 0;
  if (auto runner = CurrentRunner(app.get())) return runner->OnBlock(request);
  return 0;
}

void JobRegistry::OnReceiverEvent(const proto::ReportReceiverEventRequest& request) {
  auto app = Find(request.app_id());
  if (app == nullptr) return;
  if (auto runner = CurrentRunner(app.get())) runner->OnReceiverEvent(request);
}

void JobRegistry::OnReport(const proto::ReportAppRequest& request) {
  std::shared_ptr<AppRunner> runner;
  {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(request.run_id());
    if (it != runs_.end()) runner = it->second.lock();
  }
  if (runner == nullptr) return;  // a run that ended
  runner->OnReport(request);
  if (request.tasks() > 0 || request.failed_tasks() > 0) {
    Monitor::Global().CountTasks(request.tasks(), request.failed_tasks());
  }
  auto app = Find(request.app_id());
  if (app == nullptr || request.events().empty()) return;
  absl::MutexLock lock(&app->mu);
  if (app->runner != runner) return;  // a probe's, or a late report of an earlier run
  for (const auto& e : request.events()) {
    std::shared_ptr<StreamingProgress> before = app->progress;
    ApplyProgressEvent(app->id, e, &app->progress);
    if (app->progress != before) Monitor::Global().Add(app->progress);
  }
}

std::vector<std::string> JobRegistry::RecoverAll() {
  std::vector<std::string> recovered;
  std::error_code ec;
  std::vector<std::filesystem::path> dirs;
  for (const auto& entry : std::filesystem::directory_iterator(options_.work_dir + "/apps", ec)) {
    if (entry.is_directory()) dirs.push_back(entry.path());
  }
  std::sort(dirs.begin(), dirs.end());
  for (const auto& dir : dirs) {
    std::string id = dir.filename().string();
    if (std::filesystem::exists(dir / "ended") || !std::filesystem::exists(dir / "submission.pb")) {
      continue;
    }
    proto::SubmitJobRequest request;
    std::ifstream in(dir / "submission.pb", std::ios::binary);
    if (!request.ParseFromIstream(&in)) {
      LOG(WARNING) << "cannot recover application " << id << ": its submission is unreadable";
      continue;
    }
    auto started = Submit(request, id);
    if (started.ok()) {
      LOG(INFO) << "Recovered application " << id << " (" << request.name()
                << "): started again; its state and pending batches start afresh";
      recovered.push_back(id);
    } else {
      LOG(WARNING) << "cannot recover application " << id << ": " << started.status();
      std::ofstream(dir / "ended") << "FAILED\n";
    }
  }
  absl::MutexLock lock(&mu_);
  recovered_ = true;
  return recovered;
}

void JobRegistry::SkipRecovery() {
  absl::MutexLock lock(&mu_);
  recovered_ = true;
}

bool JobRegistry::LiveApps(std::vector<std::string>* ids) const {
  std::vector<std::shared_ptr<App>> apps;
  {
    absl::MutexLock lock(&mu_);
    if (!recovered_) return false;
    for (const auto& [id, a] : apps_) apps.push_back(a);
  }
  for (const auto& a : apps) {
    absl::MutexLock lock(&a->mu);
    if (a->state == proto::APP_RUNNING || a->state == proto::APP_KILLING) ids->push_back(a->id);
  }
  return true;
}

void JobRegistry::Shutdown() {
  std::vector<std::shared_ptr<App>> apps;
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    for (const auto& [id, a] : apps_) apps.push_back(a);
  }
  for (const auto& a : apps) {
    bool running;
    {
      absl::MutexLock lock(&a->mu);
      running = a->state == proto::APP_RUNNING;
    }
    bool graceful = false;
    try {
      graceful = a->conf.getBoolean("ember.streaming.stopGracefullyOnShutdown", false);
    } catch (const std::exception&) {
    }
    {
      absl::MutexLock lock(&a->mu);
      a->driver_shutdown = true;
    }
    if (running) Kill(a->id, graceful).IgnoreError();
  }
  for (const auto& a : apps) {
    // A job that ignores its context's end cannot be waited for forever.
    if (a->thread.joinable()) a->thread.detach();
  }
}

}  // namespace internal
}  // namespace ember
