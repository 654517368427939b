// ember-driver: the cluster's driver daemon. Executors register with it; ember-submit sends it
// job plugins, whose StreamingContexts it runs on the executors. See --help.

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

#include "common/conf.h"
#include "driver/app_process.h"
#include "driver/driver_local.h"
#include "driver/driver_service.h"
#include "driver/executor_registry.h"
#include "driver/job_registry.h"
#include "driver/web_ui.h"
#include "rpc/rpc.h"
#include "runtime/streaming_progress.h"
#include "util/child_process.h"
#include "util/log_level.h"
#include "util/properties.h"

namespace {

constexpr int kExitUsage = 2;

constexpr char kUsage[] = R"(Usage: ember-driver [options]

The Ember driver daemon: executors register with it, and `ember-submit --master
ember://HOST:PORT` runs jobs on it.

Options:
  --bind ADDR             address to listen on (default 127.0.0.1); an address beyond
                          loopback needs --secret-file or --allow-insecure
  --port N                gRPC port (default 7077; 0 = chosen by the system)
  --ui-port N             web UI, REST API and /metrics port (default 4040; 0 = chosen by
                          the system), on the --bind address
  --work-dir DIR          where submitted plugins and checkpoints live (default ./ember-work)
  --secret-file FILE      the cluster secret (first line; the file must be private to its
                          owner); every call must carry it
  --allow-insecure        accept a non-loopback --bind without a secret
  --tls-cert FILE         TLS on every TCP connection (ember.tls.cert): this driver's
  --tls-key FILE          certificate chain and key (PEM); plaintext clients are refused
  --tls-ca FILE           the CA of the executors' and clients' certificates: mutual TLS,
                          a client without a certificate it signed is refused
  --tls-server-name NAME  the name executors' certificates carry, when the addresses the
                          driver dials them at are not in them
  --recover               start again the applications an earlier run of the driver left
                          running in --work-dir, each recovering from its checkpoint (default)
  --no-recover            do not
  --isolation MODE        process (default): each application's driver side (its entry
                          point, its schedulers) in a process of its own, supervised here;
                          thread: on a thread of this daemon (no isolation; for debugging
                          and benchmarks)
  --log-level LEVEL       ALL, TRACE, DEBUG, INFO (default), WARN, ERROR, FATAL or OFF;
                          the applications' driver processes start at it too
  --conf KEY=VALUE        a configuration key (repeatable); see the README
  --properties-file FILE  KEY=VALUE lines ('#' starts a comment); --conf wins over it
  --help                  this text

Configuration keys read by the driver:
  ember.executor.heartbeatInterval  how often executors heartbeat (default 500ms)
  ember.executor.heartbeatTimeout   an executor silent this long is lost (default 10s)
  ember.driver.isolation            as --isolation
  ember.driver.memory, ember.executor.memory, ember.driver.maxRestarts,
  ember.driver.restartBackoff       per application (see the README)
Jobs see every key too (a job's own --conf keys win).

Prints "ember-driver listening on HOST:PORT" once it serves. Exit codes: 0 stopped by
SIGTERM/SIGINT, 1 cannot start (port taken, work directory unusable), 2 bad usage.
)";

int Usage(const std::string& error) {
  std::cerr << "ember-driver: " << error << "\n\n" << kUsage;
  return kExitUsage;
}

bool ParsePort(const std::string& text, int* port) {
  if (text.empty() || text.size() > 5) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  *port = std::stoi(text);
  return *port <= 65535;
}

}  // namespace

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  // An application's driver process: started by the daemon, never by hand.
  if (argc == 2 && std::string(argv[1]) == "--app-process") {
    return ember::internal::AppProcessMain();
  }

  std::string bind = "127.0.0.1", work_dir = "./ember-work", secret_file, properties, isolation;
  int port = 7077, ui_port = 4040;
  bool allow_insecure = false, recover = true;
  ember::Conf conf;
  std::vector<std::pair<std::string, std::string>> confs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (a == "--allow-insecure") {
      allow_insecure = true;
      continue;
    }
    if (a == "--no-recover" || a == "--recover") {
      recover = a == "--recover";
      continue;
    }
    static const char* kValued[] = {"--bind",        "--port", "--ui-port",         "--work-dir",
                                    "--secret-file", "--conf", "--properties-file", "--isolation",
                                    "--log-level"};
    bool valued = false;
    for (const char* f : kValued) valued = valued || a == f;
    const char* tls_key = ember::rpc::TlsFlagKey(a);
    if (!valued && tls_key == nullptr) return Usage("unknown option " + a);
    if (i + 1 >= argc) return Usage(a + " needs a value");
    std::string v = argv[++i];
    if (tls_key != nullptr) {
      confs.emplace_back(tls_key, v);
    } else if (a == "--bind") {
      bind = v;
    } else if (a == "--port") {
      if (!ParsePort(v, &port)) return Usage("--port takes a port number, not " + v);
    } else if (a == "--ui-port") {
      if (!ParsePort(v, &ui_port)) return Usage("--ui-port takes a port number, not " + v);
    } else if (a == "--work-dir") {
      work_dir = v;
    } else if (a == "--secret-file") {
      secret_file = v;
    } else if (a == "--properties-file") {
      properties = v;
    } else if (a == "--isolation") {
      isolation = v;
    } else if (a == "--log-level") {
      confs.emplace_back("ember.log.level", v);
    } else {
      std::string key, val;
      if (!ember::SplitKeyValue(v, &key, &val)) return Usage("--conf takes KEY=VALUE, not " + v);
      confs.emplace_back(key, val);
    }
  }
  if (!properties.empty()) {
    auto keys = ember::ReadPropertiesFile(properties);
    if (!keys.ok()) return Usage(std::string(keys.status().message()));
    for (const auto& [k, v] : *keys) conf.set(k, v);
  }
  for (const auto& [k, v] : confs) conf.set(k, v);

  std::string secret;
  if (!secret_file.empty()) {
    auto s = ember::rpc::ReadSecretFile(secret_file);
    if (!s.ok()) return Usage(std::string(s.status().message()));
    secret = *s;
  }
  const ember::rpc::TlsOptions tls =
      ember::rpc::TlsOptionsFrom([&](const std::string& k) { return conf.get(k, ""); });
  if (tls.enabled()) {
    if (tls.cert_file.empty()) {
      return Usage("TLS on the driver needs its certificate and key (--tls-cert, --tls-key)");
    }
    absl::Status s = ember::rpc::ConfigureTls(tls);
    if (!s.ok()) return Usage(std::string(s.message()));
  }
  if (!ember::rpc::IsLoopbackAddress(bind) && secret.empty() && !allow_insecure) {
    std::cerr << "ember-driver: refusing to listen on " << bind
              << " without a cluster secret: a job plugin is code, and anyone who can reach "
                 "the port could run it. Give --secret-file FILE, or --allow-insecure on a "
                 "trusted network.\n";
    return kExitUsage;
  }

  ember::internal::ExecutorRegistry::Options eo;
  try {
    eo.heartbeat_interval = absl::Milliseconds(
        conf.getDuration("ember.executor.heartbeatInterval", ember::Milliseconds(500))
            .milliseconds());
    eo.heartbeat_timeout = absl::Milliseconds(
        conf.getDuration("ember.executor.heartbeatTimeout", ember::Seconds(10)).milliseconds());
  } catch (const std::exception& e) {
    return Usage(e.what());
  }
  if (eo.heartbeat_interval <= absl::ZeroDuration() ||
      eo.heartbeat_timeout <= eo.heartbeat_interval) {
    return Usage("ember.executor.heartbeatTimeout must exceed a positive heartbeatInterval");
  }
  eo.secret = secret;

  if (auto level = conf.getOption("ember.log.level")) {
    absl::Status s = ember::internal::SetLogLevel(*level);
    if (!s.ok()) return Usage(std::string(s.message()));
  }
  if (isolation.empty()) isolation = conf.get("ember.driver.isolation", "process");
  if (isolation != "process" && isolation != "thread") {
    return Usage("--isolation takes process or thread, not " + isolation);
  }
  std::string program;
  {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
      std::cerr << "ember-driver: cannot find its own executable (/proc/self/exe)\n";
      return 1;
    }
    program.assign(self, static_cast<size_t>(n));
  }

  std::error_code ec;
  std::filesystem::create_directories(work_dir + "/apps", ec);
  if (ec) {
    std::cerr << "ember-driver: cannot use work directory " << work_dir << ": " << ec.message()
              << "\n";
    return 1;
  }

  // Signals are taken by one thread with sigwait; block them before any thread starts.
  sigset_t signals = ember::internal::BlockTerminationSignals();

  auto executors = std::make_unique<ember::internal::ExecutorRegistry>(eo);
  std::string host_port = bind.find(':') != std::string::npos && bind[0] != '['
                              ? "[" + bind + "]:" + std::to_string(port)
                              : bind + ":" + std::to_string(port);
  ember::internal::JobRegistry::Options jo;
  jo.work_dir = work_dir;
  jo.executors = executors.get();
  jo.defaults = conf;
  jo.isolation = isolation == "thread" ? ember::internal::JobRegistry::Isolation::kThread
                                       : ember::internal::JobRegistry::Isolation::kProcess;
  jo.program = program;
  jo.local_address = ember::rpc::NewLocalAddress("driver");
  jo.local_token = ember::rpc::NewToken();
  std::unique_ptr<ember::internal::JobRegistry> jobs;
  jobs = std::make_unique<ember::internal::JobRegistry>(jo);
  // The applications' driver processes reach the daemon here.
  ember::internal::DriverLocalService local(executors.get(), jobs.get(), jo.local_token);
  // Their reports carry what job code failed with, however long: the larger request limit.
  std::unique_ptr<grpc::Server> local_server = ember::rpc::StartServer(
      jo.local_address, {&local}, {jo.local_token, ember::rpc::kMaxMessageBytes});
  if (local_server == nullptr) {
    std::cerr << "ember-driver: cannot serve its application processes on " << jo.local_address
              << "\n";
    return 1;
  }
  ember::internal::DriverService service(executors.get(), jobs.get(), secret);
  int selected = 0;
  std::unique_ptr<grpc::Server> server = ember::rpc::StartServer(
      host_port, {&service}, {secret, ember::rpc::kMaxRequestBytes}, &selected);
  if (server == nullptr || selected == 0) {
    std::cerr << "ember-driver: cannot listen on " << host_port
              << " (is the port in use, or the address not local?)\n";
    return 1;
  }
  std::string address =
      (host_port.substr(0, host_port.rfind(':'))) + ":" + std::to_string(selected);
  // Jobs see the real address as their master (the port may have been chosen just now).
  jobs->SetDriverUrl("ember://" + address);
  ember::internal::WebUi::Options uo;
  uo.bind = bind;
  uo.port = ui_port;
  uo.port_retries = 16;  // as Spark: the next ports when this one is taken
  ember::internal::ExecutorRegistry* registry = executors.get();
  uo.executors = [registry] {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : registry->Infos()) {
      out.push_back({{"id", e.executor_id()},
                     {"address", e.address()},
                     {"slots", e.slots()},
                     {"runningTasks", e.running_tasks()},
                     {"completedTasks", e.completed_tasks()},
                     {"blocks", e.blocks()},
                     {"blockBytes", e.block_bytes()},
                     {"receivers", e.receivers()},
                     {"orphanBlocksRemoved", e.orphan_blocks_removed()},
                     {"lastHeartbeat", ember::internal::IsoTime(e.last_heartbeat_ms())},
                     {"unhealthy", e.unhealthy()},
                     {"state", !e.alive()              ? "lost"
                               : e.unhealthy().empty() ? "alive"
                                                       : "unhealthy"}});
    }
    return out;
  };
  auto ui = ember::internal::WebUi::Start(uo);
  if (!ui.ok()) {
    std::cerr << "ember-driver: " << ui.status().message() << "\n";
    return 1;
  }
  std::cout << "ember-driver listening on " << address << std::endl;
  std::cout << "ember-driver web UI at " << (*ui)->url() << std::endl;
  if (recover) {
    auto recovered = jobs->RecoverAll();
    if (!recovered.empty()) {
      LOG(INFO) << "ember-driver: started again " << recovered.size()
                << " application(s) of the previous run";
    }
  } else {
    jobs->SkipRecovery();
  }
  LOG(INFO) << "ember-driver listening on " << address << ", work directory " << work_dir
            << (secret.empty() ? ", no cluster secret" : ", cluster secret required");

  int sig = 0;
  sigwait(&signals, &sig);
  LOG(INFO) << "ember-driver: signal " << sig << ", shutting down";
  jobs->Shutdown();
  local.Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  local_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  // Application threads may still hold the registries: exit without destroying them.
  std::cout << std::flush;
  _exit(0);
}
