#pragma once
// The streaming web UI, the JSON REST API and the Prometheus endpoint, served over HTTP by the
// driver daemon (--ui-port) and by ember-submit in local mode (ember.ui.port), for every
// application in Monitor::Global():
//
//   /                                  applications and executors (HTML)
//   /apps/APP/                         the streaming page: timelines, histograms, receivers,
//                                      batches; updates itself every second
//   /apps/APP/batch/TIME               one batch and its output operations
//   /apps/APP/dashboards/NAME          a dashboard (DStream::dashboard): chart and table
//   /api/v1/applications[/APP/streaming/{statistics,receivers,batches[/TIME[/operations]]}]
//   /api/v1/applications/APP/dashboards[/NAME]   Ember's addition: the dashboards' data
//   /api/v1/executors                  Ember's addition
//   /metrics                           Prometheus text format
//   /static/chart.js                   Debian's Chart.js, served by the driver (no internet)
//
// Pages put every user-supplied string (job names, error messages) into the DOM as text, never
// as markup. Unknown applications and batches get 404 with a JSON error. Thread-safe.

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace ember {
namespace internal {

class WebUi {
 public:
  struct Options {
    std::string bind = "127.0.0.1";
    int port = 4040;       // 0: chosen by the system
    int port_retries = 0;  // try port+1.. when taken (local mode: several jobs on one host)
    // The executors table (/api/v1/executors); local mode shows the driver alone.
    std::function<nlohmann::json()> executors;
    std::string chart_js = "/usr/share/javascript/chart.js/chart.min.js";
  };
  static absl::StatusOr<std::unique_ptr<WebUi>> Start(Options options);
  ~WebUi();
  int port() const { return port_; }
  std::string url() const;

 private:
  explicit WebUi(Options options);
  void Routes();

  Options options_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace internal
}  // namespace ember
