#include "driver/app_driver.h"

#include "common/errors.h"
#include "common/job.h"

namespace ember {
namespace internal {

absl::StatusOr<std::unique_ptr<AppDriver>> AppDriver::Load(Options options) {
  auto plugin = LoadPlugin(options.plugin_path);
  if (!plugin.ok()) {
    std::string message(plugin.status().message());
    size_t at = message.find(options.plugin_path);
    if (at != std::string::npos)
      message.replace(at, options.plugin_path.size(), options.plugin_shown);
    return absl::Status(plugin.status().code(), message);
  }
  return std::unique_ptr<AppDriver>(new AppDriver(std::move(options), std::move(*plugin)));
}

absl::Status AppDriver::Run() {
  SetThreadClusterServicesFactory(
      [this](ContextCore* ctx, const Conf& conf) -> std::shared_ptr<ContextServices> {
        AppServices::Options o;
        o.app_id = options_.app_id;
        o.executors = options_.executors;
        o.emit = options_.emit;
        o.replication = static_cast<int>(conf.getInt("ember.storage.replication", 2));
        if (o.replication < 1) throw EmberError("ember.storage.replication must be at least 1");
        o.slot_wait = absl::Milliseconds(
            conf.getDuration("ember.scheduler.executorWait", Seconds(60)).milliseconds());
        // Above every incarnation an earlier context, or an earlier run of the application's
        // driver process, gave (placements are far rarer than one a microsecond).
        o.incarnation_base = absl::ToUnixMicros(absl::Now());
        absl::MutexLock lock(&mu_);
        auto services = std::make_shared<AppServices>(std::move(o), ctx);
        services->Init();
        // Checked and registered at once: a stop either sees these services or is seen here.
        if (stopped_) throw EmberError("application " + options_.app_id + " was stopped");
        services_.push_back(services);
        return services;
      });
  JobContext job(options_.conf, options_.args);
  absl::Status s = plugin_->RunJob(job);
  SetThreadClusterServicesFactory(nullptr);
  return s;
}

std::shared_ptr<AppServices> AppDriver::CurrentServices() {
  absl::MutexLock lock(&mu_);
  for (auto it = services_.rbegin(); it != services_.rend(); ++it) {
    if (auto s = it->lock()) return s;
  }
  return nullptr;
}

void AppDriver::Stop(bool graceful) {
  std::vector<std::shared_ptr<AppServices>> services;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    for (auto& w : services_) {
      if (auto s = w.lock()) services.push_back(std::move(s));
    }
  }
  for (auto& s : services) s->StopContext(graceful);
}

bool AppDriver::ContextActive() {
  auto s = CurrentServices();
  return s != nullptr && s->ContextActive();
}

int64_t AppDriver::OnBlock(const proto::ReportBlockRequest& request) {
  auto s = CurrentServices();
  return s != nullptr ? s->OnBlock(request) : 0;
}

void AppDriver::OnReceiverEvent(const proto::ReportReceiverEventRequest& request) {
  if (auto s = CurrentServices()) s->OnReceiverEvent(request);
}

}  // namespace internal
}  // namespace ember
