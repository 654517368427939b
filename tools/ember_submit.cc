// ember-submit: runs a job plugin. With a local master the job runs in this process, on the
// same engine a cluster runs (local[N]); see --help.

#include <glog/logging.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/conf.h"
#include "common/job.h"
#include "driver/web_ui.h"
#include "rpc/rpc.h"
#include "runtime/checkpoint_store.h"
#include "runtime/context_core.h"
#include "runtime/local_backend.h"
#include "runtime/plugin_loader.h"
#include "tools/cluster_client.h"
#include "util/durable_file.h"
#include "util/log_level.h"
#include "util/properties.h"

namespace {

using ember::submit::kExitBadPlugin;
using ember::submit::kExitJobFailed;
using ember::submit::kExitOk;
using ember::submit::kExitUsage;

constexpr char kUsage[] = R"(Usage: ember-submit [options] PLUGIN.so [-- JOB ARGS...]
       ember-submit --master ember://HOST:PORT --status [APP] | --list | --kill APP |
                    --logs APP [--follow] | --upgrade APP PLUGIN.so

       ember-submit [options] --from-checkpoint DIR [-- JOB ARGS...]

Runs an Ember job plugin (a shared library with an EMBER_JOB entry point).

Options:
  --master MASTER         where to run: local (1 slot), local[N], local[*], local[N,F]
                          (F attempts per task) run the job in this process;
                          ember://HOST:PORT submits it to a driver (default: local[2])
  --name NAME             the application name (ember.app.name)
  --conf KEY=VALUE        a configuration key; repeatable
  --properties-file FILE  KEY=VALUE lines ('#' starts a comment); --conf wins over it
  --log-level LEVEL       ALL, TRACE, DEBUG, INFO, WARN, ERROR, FATAL or OFF: what this
                          process logs (default WARN, so that a local job's print() shows
                          plainly; ember.log.level says the same), and a job submitted to a
                          driver gets it as its ember.log.level
  --secret-file FILE      the cluster secret (ember:// only)
  --tls-ca FILE           TLS to the driver (ember:// only; ember.tls.ca): the CA that signed
                          its certificate
  --tls-cert FILE         with mutual TLS, this client's certificate and key
  --tls-key FILE
  --tls-server-name NAME  the name the driver's certificate carries, when --master's host is
                          not in it
  --detach                submit, print the application id and return (ember:// only);
                          otherwise ember-submit follows the job's output until it ends
  --connect-timeout S     seconds to wait for the driver (default 10)
  --from-checkpoint DIR   start the job kept in checkpoint directory DIR again (its plugin,
                          name, configuration and arguments, as submitted to ember-driver;
                          --conf and job arguments given here win), on any driver or in this
                          process; the job recovers from DIR
  --help                  this text

Cluster commands (with --master ember://HOST:PORT, no plugin):
  --status [APP]          the executors and applications, or one application's batches,
                          delays and receivers
  --list                  one line per application: id, name, state
  --kill APP              stop an application
  --logs APP [--follow]   the application's output so far (and what follows)
  --upgrade APP PLUGIN.so replace a running application's plugin, keeping its checkpointed
                          state: it stops gracefully and recovers with the new code, whose
                          operators must be the same (function bodies may change); if the
                          new plugin does not start, the previous one runs again (exit 1)

Exit codes: 0 ok, 1 the job failed or was killed, 2 bad usage, 3 the plugin cannot be loaded
or the driver refused it, 5 the driver cannot be reached or refused the call (wrong secret),
6 no such application.
)";

int Usage(const std::string& error) {
  std::cerr << "ember-submit: " << error << "\n\n" << kUsage;
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;

  ember::Conf conf;
  std::vector<std::pair<std::string, std::string>> confs;
  std::string plugin, properties;
  std::vector<std::string> job_args;
  std::string command, app, secret_file, from_checkpoint, log_level;
  bool detach = false, follow = false;
  int connect_timeout = 10;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      if (i + 1 >= argc) return nullptr;
      (void)flag;
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return kExitOk;
    } else if (a == "--") {
      for (++i; i < argc; ++i) job_args.push_back(argv[i]);
    } else if (a == "--master" || a == "--name" || a == "--conf" || a == "--properties-file") {
      const char* v = value(a.c_str());
      if (v == nullptr) return Usage(a + " needs a value");
      if (a == "--master") {
        conf.setMaster(v);
      } else if (a == "--name") {
        conf.setAppName(v);
      } else if (a == "--properties-file") {
        properties = v;
      } else {
        std::string key, val;
        if (!ember::SplitKeyValue(v, &key, &val))
          return Usage("--conf takes KEY=VALUE, not " + std::string(v));
        confs.emplace_back(key, val);
      }
    } else if (a == "--detach") {
      detach = true;
    } else if (a == "--follow") {
      follow = true;
    } else if (a == "--list") {
      command = "list";
    } else if (a == "--status") {
      command = "status";
      if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) app = argv[++i];
    } else if (a == "--from-checkpoint") {
      const char* v = value(a.c_str());
      if (v == nullptr) return Usage(a + " needs a checkpoint directory");
      from_checkpoint = v;
    } else if (a == "--log-level") {
      const char* v = value(a.c_str());
      if (v == nullptr) return Usage(a + " needs a level");
      log_level = v;
    } else if (const char* tls_key = ember::rpc::TlsFlagKey(a)) {
      const char* v = value(a.c_str());
      if (v == nullptr) return Usage(a + " needs a file");
      confs.emplace_back(tls_key, v);
    } else if (a == "--kill" || a == "--logs" || a == "--upgrade" || a == "--secret-file" ||
               a == "--connect-timeout") {
      const char* v = value(a.c_str());
      if (v == nullptr) return Usage(a + " needs a value");
      if (a == "--secret-file") {
        secret_file = v;
      } else if (a == "--connect-timeout") {
        connect_timeout = std::atoi(v);
        if (connect_timeout <= 0) return Usage("--connect-timeout takes a positive number");
      } else {
        command = a.substr(2);
        app = v;
      }
    } else if (a.rfind("--", 0) == 0) {
      return Usage("unknown option " + a);
    } else if (plugin.empty()) {
      plugin = a;
    } else {
      return Usage("unexpected argument " + a + " (job arguments go after --)");
    }
  }
  if (command == "upgrade" && plugin.empty()) return Usage("--upgrade APP needs a plugin");
  if (!command.empty() && command != "upgrade" && !plugin.empty()) {
    return Usage("--" + command + " takes no plugin (" + plugin + ")");
  }
  // The job as it was submitted to a driver, kept in its checkpoint directory.
  ember::proto::SubmitJobRequest kept;
  if (!from_checkpoint.empty()) {
    if (!plugin.empty() || !command.empty()) {
      return Usage("--from-checkpoint DIR takes the plugin from DIR: no plugin or command");
    }
    auto bytes = ember::internal::ReadCheckpointSubmission(from_checkpoint);
    if (!bytes.ok() || !kept.ParseFromString(*bytes)) {
      std::cerr << "ember-submit: " << from_checkpoint
                << " holds no job submission to start again ("
                << (bytes.ok() ? "it does not parse" : std::string(bytes.status().message()))
                << "); a job run by ember-driver keeps one in its checkpoint directory\n";
      return kExitBadPlugin;
    }
    if (job_args.empty()) job_args.assign(kept.args().begin(), kept.args().end());
    for (const auto& [k, v] : kept.conf()) conf.setIfMissing(k, v);
    if (!conf.contains("ember.app.name") && !kept.name().empty()) conf.setAppName(kept.name());
    plugin = kept.plugin_name().empty() ? "job.so" : kept.plugin_name();
  }
  if (plugin.empty() && command.empty()) return Usage("no job plugin given");

  if (!properties.empty()) {
    auto keys = ember::ReadPropertiesFile(properties);
    if (!keys.ok()) return Usage(std::string(keys.status().message()));
    for (const auto& [k, v] : *keys) conf.setIfMissing(k, v);
  }
  for (const auto& [k, v] : confs) conf.set(k, v);
  conf.setIfMissing("ember.master", "local[2]");
  // The terminal shows the job's output and warnings, not the engine's INFO lines, unless
  // asked (a job that runs on a driver gets --log-level as its ember.log.level).
  if (!log_level.empty()) conf.set("ember.log.level", log_level);
  {
    absl::Status s = ember::internal::SetLogLevel(conf.get("ember.log.level", "WARN"));
    if (!s.ok()) return Usage(std::string(s.message()));
  }
  if (!conf.contains("ember.app.name")) {
    std::string base = plugin.substr(plugin.find_last_of('/') + 1);
    conf.setAppName(base);
  }

  std::string master = conf.master();
  if (master.rfind("ember://", 0) == 0) {
    std::string address = master.substr(8);
    if (address.empty() || address.rfind(':') == std::string::npos) {
      return Usage("--master ember://HOST:PORT needs a host and a port, not " + master);
    }
    std::string secret;
    if (!secret_file.empty()) {
      auto s = ember::rpc::ReadSecretFile(secret_file);
      if (!s.ok()) return Usage(std::string(s.status().message()));
      secret = *s;
    }
    // TLS settings are this client's own: its files, not the application's configuration.
    const ember::rpc::TlsOptions tls =
        ember::rpc::TlsOptionsFrom([&](const std::string& k) { return conf.get(k, ""); });
    if (tls.enabled()) {
      absl::Status s = ember::rpc::ConfigureTls(tls);
      if (!s.ok()) return Usage(std::string(s.message()));
    }
    ember::submit::ClusterClient client(address, secret, std::cout, std::cerr, connect_timeout);
    if (command == "status") return client.Status(app);
    if (command == "list") return client.List();
    if (command == "kill") return client.Kill(app);
    if (command == "upgrade") return client.Upgrade(app, plugin);
    if (command == "logs") return client.Follow(app, follow);
    std::map<std::string, std::string> all;
    for (const auto& [k, v] : conf.all()) {
      if (k.rfind("ember.tls.", 0) != 0) all[k] = v;
    }
    if (!from_checkpoint.empty()) {
      kept.set_name(conf.appName());
      kept.mutable_conf()->clear();
      for (const auto& [k, v] : all) (*kept.mutable_conf())[k] = v;
      kept.clear_args();
      for (const auto& a : job_args) kept.add_args(a);
      return client.SubmitRequest(kept, detach);
    }
    return client.Submit(plugin, conf.appName(), all, job_args, detach);
  }
  if (!command.empty()) return Usage("--" + command + " needs --master ember://HOST:PORT");
  if (detach || !secret_file.empty()) {
    return Usage("--detach and --secret-file apply to --master ember://HOST:PORT only");
  }

  int slots = 0, failures = 0;
  if (!ember::internal::ParseLocalMaster(conf.master(), &slots, &failures)) {
    return Usage("unknown master '" + conf.master() +
                 "' (use local, local[N], local[*], local[N,F] or ember://HOST:PORT)");
  }

  // Removes the directory of a plugin taken from a checkpoint when the job is done.
  struct TempDir {
    std::string path;
    ~TempDir() {
      std::error_code ec;
      if (!path.empty()) std::filesystem::remove_all(path, ec);
    }
  } plugin_dir;
  if (!from_checkpoint.empty()) {
    // Run here: the kept plugin goes to a file of its own first.
    char tmp[] = "/tmp/ember-submit-XXXXXX";
    if (mkdtemp(tmp) == nullptr) {
      std::cerr << "ember-submit: cannot create a temporary directory for the plugin\n";
      return kExitBadPlugin;
    }
    plugin_dir.path = tmp;
    plugin = std::string(tmp) + "/" + plugin.substr(plugin.find_last_of('/') + 1);
    absl::Status s = ember::internal::WriteFileSynced(plugin, kept.plugin());
    if (!s.ok()) {
      std::cerr << "ember-submit: " << s.message() << "\n";
      return kExitBadPlugin;
    }
  }
  auto loaded = ember::internal::LoadPlugin(plugin);
  if (!loaded.ok()) {
    std::cerr << "ember-submit: " << loaded.status().message() << "\n";
    return kExitBadPlugin;
  }
  // Signals go to one thread (below): block them before any other thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // As Spark: while a local job runs, this process serves its web UI.
  std::unique_ptr<ember::internal::WebUi> ui;
  bool ui_enabled = true;
  try {
    ui_enabled = conf.getBoolean("ember.ui.enabled", true);
    conf.getInt("ember.ui.port", 4040);
  } catch (const std::exception& e) {
    return Usage(e.what());
  }
  if (ui_enabled) {
    ember::internal::WebUi::Options uo;
    uo.bind = conf.get("ember.ui.bind", "127.0.0.1");
    uo.port = static_cast<int>(conf.getInt("ember.ui.port", 4040));
    uo.port_retries = 16;
    int local_slots = slots;
    uo.executors = [local_slots] {
      return nlohmann::json::array({{{"id", "driver"},
                                     {"address", "localhost"},
                                     {"slots", local_slots},
                                     {"runningTasks", nullptr},
                                     {"blocks", nullptr},
                                     {"blockBytes", nullptr},
                                     {"receivers", nullptr},
                                     {"lastHeartbeat", nullptr},
                                     {"state", "alive"}}});
    };
    auto started = ember::internal::WebUi::Start(uo);
    if (started.ok()) {
      ui = std::move(*started);
      // Shown whatever the log level, as Spark's "Spark UI available at".
      std::cerr << "ember-submit: web UI at " << ui->url() << std::endl;
    } else {
      LOG(WARNING) << "no web UI: " << started.status().message();
    }
  }

  // SIGTERM/SIGINT stop the job's contexts (gracefully with
  // ember.streaming.stopGracefullyOnShutdown: every received block is processed first), and
  // the job's entry point returns as from an ordinary stop.
  bool graceful = false;
  try {
    graceful = conf.getBoolean("ember.streaming.stopGracefullyOnShutdown", false);
  } catch (const std::exception& e) {
    return Usage(e.what());
  }
  std::thread([signals, graceful]() mutable {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) return;
    LOG(INFO) << "signal " << sig << ": stopping the job's streaming contexts"
              << (graceful ? " gracefully" : "");
    ember::internal::StopAllContexts(graceful);
  }).detach();

  ember::JobContext job(conf, job_args);
  absl::Status s = (*loaded)->RunJob(job);
  if (!s.ok()) {
    std::cerr << "ember-submit: job " << conf.appName() << " failed: " << s.message() << "\n";
    return kExitJobFailed;
  }
  return kExitOk;
}
