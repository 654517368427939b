// ember-submit: runs a job plugin. With a local master the job runs in this process, on the
// same engine a cluster runs (local[N]); see --help.

#include <glog/logging.h>

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "common/conf.h"
#include "common/job.h"
#include "driver/local_backend.h"
#include "executor/plugin_loader.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitJobFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitBadPlugin = 3;
constexpr int kExitUnsupported = 4;

constexpr char kUsage[] = R"(Usage: ember-submit [options] PLUGIN.so [-- JOB ARGS...]

Runs an Ember job plugin (a shared library with an EMBER_JOB entry point).

Options:
  --master MASTER         where to run: local (1 slot), local[N], local[*], local[N,F]
                          (F attempts per task) run the job in this process;
                          ember://HOST:PORT submits it to a driver (default: local[2])
  --name NAME             the application name (ember.app.name)
  --conf KEY=VALUE        a configuration key; repeatable
  --properties-file FILE  KEY=VALUE lines ('#' starts a comment); --conf wins over it
  --help                  this text

Exit codes: 0 the job finished, 1 the job failed, 2 bad usage, 3 the plugin cannot be
loaded, 4 the master is not supported by this build.
)";

bool SplitKeyValue(const std::string& kv, std::string* key, std::string* value) {
  size_t eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  *key = kv.substr(0, eq);
  *value = kv.substr(eq + 1);
  return true;
}

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
        if (!SplitKeyValue(v, &key, &val))
          return Usage("--conf takes KEY=VALUE, not " + std::string(v));
        confs.emplace_back(key, val);
      }
    } else if (a.rfind("--", 0) == 0) {
      return Usage("unknown option " + a);
    } else if (plugin.empty()) {
      plugin = a;
    } else {
      return Usage("unexpected argument " + a + " (job arguments go after --)");
    }
  }
  if (plugin.empty()) return Usage("no job plugin given");

  if (!properties.empty()) {
    std::ifstream in(properties);
    if (!in) return Usage("cannot read properties file " + properties);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      size_t hash = line.find('#');
      if (hash != std::string::npos) line.resize(hash);
      line.erase(0, line.find_first_not_of(" \t"));
      line.erase(line.find_last_not_of(" \t\r") + 1);
      if (line.empty()) continue;
      std::string key, val;
      if (!SplitKeyValue(line, &key, &val)) {
        return Usage(properties + ":" + std::to_string(n) + ": expected KEY=VALUE");
      }
      conf.setIfMissing(key, val);
    }
  }
  for (const auto& [k, v] : confs) conf.set(k, v);
  conf.setIfMissing("ember.master", "local[2]");
  if (!conf.contains("ember.app.name")) {
    std::string base = plugin.substr(plugin.find_last_of('/') + 1);
    conf.setAppName(base);
  }

  int slots = 0, failures = 0;
  if (!ember::internal::ParseLocalMaster(conf.master(), &slots, &failures)) {
    if (conf.master().rfind("ember://", 0) == 0) {
      std::cerr << "ember-submit: this build runs jobs in local mode only; cluster submission ("
                << conf.master() << ") comes with the distributed runtime\n";
      return kExitUnsupported;
    }
    return Usage("unknown master '" + conf.master() +
                 "' (use local, local[N], local[*], local[N,F] or ember://HOST:PORT)");
  }

  auto loaded = ember::internal::LoadPlugin(plugin);
  if (!loaded.ok()) {
    std::cerr << "ember-submit: " << loaded.status().message() << "\n";
    return kExitBadPlugin;
  }
  ember::JobContext job(conf, job_args);
  absl::Status s = (*loaded)->RunJob(job);
  if (!s.ok()) {
    std::cerr << "ember-submit: job " << conf.appName() << " failed: " << s.message() << "\n";
    return kExitJobFailed;
  }
  return kExitOk;
}
