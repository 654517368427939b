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
#include "proto/names.h"
#include "rpc/call.h"
#include "rpc/rpc.h"
#include "runtime/plugin_file.h"
#include "util/durable_file.h"
#include "util/file_names.h"

namespace ember {
namespace internal {

namespace {

// Writes a plugin's bytes to `path` and loads it from there; errors name `shown` (the file the
// user gave), not the driver's copy.
absl::StatusOr<std::shared_ptr<LoadedPlugin>> StoreAndLoadPlugin(const std::string& path,
                                                                 const std::string& bytes,
                                                                 const std::string& shown) {
  // Checked as data before it is written or mapped (plugin_file.h).
  auto checked = CheckPluginBytes(bytes, shown);
  if (!checked.ok()) return checked.status();
  absl::Status written = WriteFileSynced(path, bytes);
  if (!written.ok()) {
    return absl::ResourceExhaustedError("cannot write the plugin to " + path + " (disk full?)");
  }
  auto plugin = LoadPlugin(path);
  if (plugin.ok()) return plugin;
  std::string message(plugin.status().message());
  size_t at = message.find(path);
  if (at != std::string::npos) message.replace(at, path.size(), shown);
  return absl::Status(plugin.status().code(), message);
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
  std::string dir = options_.work_dir + "/apps/" + app->id;
  app->dir = dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError("cannot create " + dir + ": " + ec.message());
  // A new path per application: dlopen of a path already loaded returns the old library.
  auto plugin =
      StoreAndLoadPlugin(dir + "/" + PluginFileName(plugin_name), request.plugin(), plugin_name);
  if (!plugin.ok()) {
    std::filesystem::remove_all(dir, ec);
    return plugin.status();
  }
  if (recovered_id.empty() && !KeepSubmission(dir, request).ok()) {
    std::filesystem::remove_all(dir, ec);
    return absl::ResourceExhaustedError("cannot keep the submission in " + dir + " (disk full?)");
  }
  app->plugin = std::move(*plugin);
  app->plugin_bytes = request.plugin();
  app->args.assign(request.args().begin(), request.args().end());
  for (const auto& [k, v] : options_.defaults.all()) app->conf.set(k, v);
  for (const auto& [k, v] : request.conf()) app->conf.set(k, v);
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
  LOG(INFO) << "Application " << app->id << " (" << app->name << ", plugin " << plugin_name
            << ", Ember " << app->plugin->version() << ") submitted";
  app->thread = std::thread([this, app] { RunApp(app); });
  return app->id;
}

void JobRegistry::RunApp(const std::shared_ptr<App>& app) {
  App* raw = app.get();
  SetThreadClusterServicesFactory(
      [this, raw](ContextCore* ctx, const Conf& conf) -> std::shared_ptr<ContextServices> {
        AppServices::Options o;
        o.app_id = raw->id;
        o.executors = options_.executors;
        o.emit = [this, raw](const std::string& text) { Append(raw, text); };
        o.replication = static_cast<int>(conf.getInt("ember.storage.replication", 2));
        if (o.replication < 1) throw EmberError("ember.storage.replication must be at least 1");
        o.slot_wait = absl::Milliseconds(
            conf.getDuration("ember.scheduler.executorWait", Seconds(60)).milliseconds());
        auto services = std::make_shared<AppServices>(std::move(o), ctx);
        services->Init();
        // Checked and registered at once: a kill either sees these services or is seen here.
        absl::MutexLock lock(&raw->mu);
        if (raw->killed) throw EmberError("application " + raw->id + " was killed");
        raw->services.push_back(services);
        return services;
      });
  JobContext job(app->conf, app->args);
  absl::Status s = app->plugin->RunJob(job);
  SetThreadClusterServicesFactory(nullptr);

  // The application's state on the executors goes with it.
  proto::CleanupRequest cleanup;
  cleanup.set_app_id(app->id);
  cleanup.set_app_ended(true);
  cleanup.set_clear_cache(true);
  for (const auto& e : options_.executors->Alive()) {
    proto::CleanupReply reply;
    rpc::Call(*e->stub, &proto::Executor::Stub::Cleanup, cleanup, &reply,
              {options_.executors->secret(), rpc::Deadline::kControl});
  }

  absl::MutexLock lock(&app->mu);
  if (app->killed) {
    app->state = proto::APP_KILLED;
  } else if (s.ok()) {
    app->state = proto::APP_FINISHED;
  } else {
    app->state = proto::APP_FAILED;
    app->error = std::string(s.message());
  }
  app->ended_ms = NowMs();
  if (!app->driver_shutdown && !app->upgrading) {
    // Ended for good: a restarted driver does not start it again.
    std::ofstream(app->dir + "/ended") << proto::AppStateName(app->state) << "\n";
  }
  LOG(INFO) << "Application " << app->id << " " << proto::AppStateName(app->state)
            << (app->error.empty() ? "" : ": " + app->error);
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

std::shared_ptr<AppServices> JobRegistry::CurrentServices(App* app) {
  absl::MutexLock lock(&app->mu);
  for (auto it = app->services.rbegin(); it != app->services.rend(); ++it) {
    if (auto s = it->lock()) return s;
  }
  return nullptr;
}

absl::StatusOr<proto::AppState> JobRegistry::Kill(const std::string& app_id, bool graceful) {
  auto app = Find(app_id);
  if (app == nullptr) return absl::NotFoundError("no application " + app_id);
  std::vector<std::shared_ptr<AppServices>> services;
  {
    absl::MutexLock lock(&app->mu);
    if (app->state != proto::APP_RUNNING) return app->state;
    app->killed = true;
    for (auto& w : app->services) {
      if (auto s = w.lock()) services.push_back(std::move(s));
    }
  }
  LOG(INFO) << "Killing application " << app_id;
  for (auto& s : services) s->StopContext(graceful);
  // The job's entry point returns once its context stopped (awaitTermination wakes up).
  absl::MutexLock lock(&app->mu);
  auto ended = [&app]()
                   ABSL_SHARED_LOCKS_REQUIRED(app->mu) { return app->state != proto::APP_RUNNING; };
  if (!app->mu.AwaitWithTimeout(absl::Condition(&ended), absl::Seconds(30))) {
    return proto::APP_KILLING;
  }
  return app->state;
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
  auto loaded = StoreAndLoadPlugin(
      absl::StrCat(app->dir, "/probe-", NowMs(), "-", PluginFileName(name)), plugin, name);
  if (!loaded.ok()) {
    if (absl::IsResourceExhausted(loaded.status())) return loaded.status();
    return absl::InvalidArgumentError(loaded.status().message());
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
      auto services = CurrentServices(next.get());
      if (services != nullptr && services->ContextActive()) break;
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

absl::Status JobRegistry::Watch(const std::string& app_id, int64_t offset, bool follow,
                                const std::function<bool(const proto::JobEvent&)>& write,
                                const std::function<bool()>& cancelled) {
  auto app = Find(app_id);
  if (app == nullptr) return absl::NotFoundError("no application " + app_id);
  if (offset < 0) return absl::InvalidArgumentError("negative output offset");
  while (true) {
    proto::JobEvent event;
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
  if (auto s = CurrentServices(app)) s->FillInfo(info);
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

absl::StatusOr<std::string> JobRegistry::PluginBytes(const std::string& app_id) {
  auto app = Find(app_id);
  if (app == nullptr) return absl::NotFoundError("no application " + app_id);
  return app->plugin_bytes;
}

void JobRegistry::OnBlock(const proto::ReportBlockRequest& request) {
  auto app = Find(request.app_id());
  if (app == nullptr) return;
  if (auto s = CurrentServices(app.get())) s->OnBlock(request);
}

void JobRegistry::OnReceiverEvent(const proto::ReportReceiverEventRequest& request) {
  auto app = Find(request.app_id());
  if (app == nullptr) return;
  if (auto s = CurrentServices(app.get())) s->OnReceiverEvent(request);
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
  return recovered;
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
