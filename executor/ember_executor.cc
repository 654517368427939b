// ember-executor: runs tasks and receivers for a driver. See --help.

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <string>
#include <thread>

#include "executor/executor_server.h"
#include "executor/task_process.h"
#include "rpc/rpc.h"
#include "util/child_process.h"
#include "util/log_level.h"
#include "util/properties.h"

namespace {

constexpr char kUsage[] = R"(Usage: ember-executor --driver HOST:PORT [options]

Every flag has a configuration key for --conf and --properties-file: ember.executor.driver,
.bind, .advertise, .port, .dataDir, .slots, .secretFile, .allowInsecure, .isolation (flags
win).

An Ember executor: registers with the driver, runs its tasks in task slots, hosts receivers
and keeps their blocks in RocksDB, replicated to another executor. Each application's tasks
and receivers run in a task process of the application's own, which the executor starts and
watches: a crash in job code ends that process, never the executor.

Options:
  --driver HOST:PORT   the driver's address (required)
  --bind ADDR          address to listen on (default 127.0.0.1)
  --advertise HOST     the host name or address the driver and other executors reach this
                       executor at (default: the --bind address, or the machine's host name
                       when binding 0.0.0.0 or ::)
  --port N             port to listen on (default 0: chosen by the system)
  --data-dir DIR       RocksDB blocks and fetched plugins (default ./ember-executor-data)
  --slots N            task slots (default: the number of cores)
  --secret-file FILE   the cluster secret (first line; the file must be private to its owner);
                       an executor bound beyond loopback needs it, or --allow-insecure
  --allow-insecure     accept a non-loopback --bind without a secret (a trusted network)
  --tls-cert FILE      TLS on every TCP connection (ember.tls.cert): this executor's
  --tls-key FILE       certificate chain and key (PEM), for its server and, with mutual TLS,
                       as the client of the driver and its peers
  --tls-ca FILE        the CA of the driver's and peers' certificates; mutual TLS
  --tls-server-name N  the name the driver's and peers' certificates carry
  --isolation MODE     process (default): each application's code in a process of its own;
                       thread: in the executor's process (no isolation; for debugging and
                       benchmarks)
  --conf KEY=VALUE     a configuration key (repeatable); any other flag's name may be given
                       as a key too: --conf ember.executor.slots=4
  --properties-file F  KEY=VALUE lines ('#' starts a comment); flags and --conf win over it
  --log-level LEVEL    ALL, TRACE, DEBUG, INFO (default), WARN, ERROR, FATAL or OFF; its
                       task processes log at it too
  --help               this text

Prints "ember-executor listening on HOST:PORT" once it serves, then registers (retrying with
backoff while the driver is unreachable). Exit codes: 0 stopped by SIGTERM/SIGINT, 1 cannot
start (data directory, port), 2 bad usage.
)";

int Usage(const std::string& error) {
  std::cerr << "ember-executor: " << error << "\n\n" << kUsage;
  return 2;
}

bool ParseInt(const std::string& text, int max, int* out) {
  if (text.empty() || text.size() > 9) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  *out = std::stoi(text);
  return *out <= max;
}

}  // namespace

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  // An application's task process: started by an executor, never by hand.
  if (argc == 2 && std::string(argv[1]) == "--task-process") {
    return ember::internal::TaskProcessMain();
  }

  ember::internal::ExecutorServer::Options o;
  o.data_dir = "./ember-executor-data";
  o.slots = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string bind = "127.0.0.1", secret_file, advertise, properties;
  int port = 0;
  bool flag_data_dir = false, flag_slots = false, flag_bind = false, flag_port = false;
  bool allow_insecure = false;
  std::string isolation, log_level;
  std::map<std::string, std::string> confs;
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
    const char* tls_key = ember::rpc::TlsFlagKey(a);
    if (a != "--driver" && a != "--bind" && a != "--advertise" && a != "--properties-file" &&
        a != "--port" && a != "--data-dir" && a != "--slots" && a != "--secret-file" &&
        a != "--conf" && a != "--isolation" && a != "--log-level" && tls_key == nullptr) {
      return Usage("unknown option " + a);
    }
    if (i + 1 >= argc) return Usage(a + " needs a value");
    std::string v = argv[++i];
    if (tls_key != nullptr) {
      confs[tls_key] = v;
    } else if (a == "--driver") {
      o.driver = v;
    } else if (a == "--bind") {
      bind = v;
      flag_bind = true;
    } else if (a == "--advertise") {
      advertise = v;
    } else if (a == "--port") {
      if (!ParseInt(v, 65535, &port)) return Usage("--port takes a port number, not " + v);
      flag_port = true;
    } else if (a == "--data-dir") {
      o.data_dir = v;
      flag_data_dir = true;
    } else if (a == "--slots") {
      if (!ParseInt(v, 4096, &o.slots) || o.slots < 1) {
        return Usage("--slots takes a number from 1 to 4096, not " + v);
      }
      flag_slots = true;
    } else if (a == "--secret-file") {
      secret_file = v;
    } else if (a == "--isolation") {
      isolation = v;
    } else if (a == "--log-level") {
      log_level = v;
    } else if (a == "--properties-file") {
      properties = v;
    } else {
      std::string key, value;
      if (!ember::SplitKeyValue(v, &key, &value)) {
        return Usage("--conf takes KEY=VALUE, not " + v);
      }
      confs[key] = value;
    }
  }
  // Keys from the file, then --conf, fill what no flag gave.
  std::map<std::string, std::string> keys;
  if (!properties.empty()) {
    auto file = ember::ReadPropertiesFile(properties);
    if (!file.ok()) return Usage(std::string(file.status().message()));
    keys = std::move(*file);
  }
  for (const auto& [k, v] : confs) keys[k] = v;
  for (const auto& [k, v] : keys) {
    if (k == "ember.executor.driver" && o.driver.empty()) {
      o.driver = v;
    } else if (k == "ember.executor.dataDir" && !flag_data_dir) {
      o.data_dir = v;
    } else if (k == "ember.executor.slots" && !flag_slots) {
      if (!ParseInt(v, 4096, &o.slots) || o.slots < 1) {
        return Usage(k + " takes a number from 1 to 4096, not " + v);
      }
    } else if (k == "ember.executor.bind" && !flag_bind) {
      bind = v;
    } else if (k == "ember.executor.port" && !flag_port) {
      if (!ParseInt(v, 65535, &port)) return Usage(k + " takes a port number, not " + v);
    } else if (k == "ember.executor.advertise" && advertise.empty()) {
      advertise = v;
    } else if (k == "ember.executor.secretFile" && secret_file.empty()) {
      secret_file = v;
    } else if (k == "ember.executor.isolation" && isolation.empty()) {
      isolation = v;
    } else if (k == "ember.log.level" && log_level.empty()) {
      log_level = v;
    } else if (k == "ember.executor.allowInsecure") {
      if (v != "true" && v != "false") return Usage(k + " takes true or false, not " + v);
      allow_insecure = allow_insecure || v == "true";
    } else if (k.rfind("ember.executor.", 0) == 0) {
      return Usage("unknown configuration key " + k);
    }
  }
  if (!log_level.empty()) {
    absl::Status s = ember::internal::SetLogLevel(log_level);
    if (!s.ok()) return Usage(std::string(s.message()));
    o.log_level = log_level;
  }
  if (isolation == "thread") {
    o.isolation = ember::internal::ExecutorServer::Isolation::kThread;
  } else if (!isolation.empty() && isolation != "process") {
    return Usage("--isolation takes process or thread, not " + isolation);
  }
  {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
      std::cerr << "ember-executor: cannot find its own executable (/proc/self/exe)\n";
      return 1;
    }
    o.program.assign(self, static_cast<size_t>(n));
  }
  if (o.driver.empty()) return Usage("--driver HOST:PORT is required");
  if (o.driver.rfind(':') == std::string::npos) {
    return Usage("--driver takes HOST:PORT, not " + o.driver);
  }
  if (!secret_file.empty()) {
    auto s = ember::rpc::ReadSecretFile(secret_file);
    if (!s.ok()) return Usage(std::string(s.status().message()));
    o.secret = *s;
  }
  const ember::rpc::TlsOptions tls = ember::rpc::TlsOptionsFrom([&](const std::string& k) {
    auto it = keys.find(k);
    return it == keys.end() ? std::string() : it->second;
  });
  if (tls.enabled()) {
    if (tls.cert_file.empty()) {
      return Usage("TLS on an executor needs its certificate and key (--tls-cert, --tls-key)");
    }
    absl::Status s = ember::rpc::ConfigureTls(tls);
    if (!s.ok()) return Usage(std::string(s.message()));
  }
  // As the driver: tasks and receivers are a job's code, and a block store is its data.
  if (!ember::rpc::IsLoopbackAddress(bind) && o.secret.empty() && !allow_insecure) {
    std::cerr << "ember-executor: refusing to listen on " << bind
              << " without a cluster secret: anyone who can reach the port could run tasks "
                 "and read blocks. Give --secret-file FILE (the driver's), or --allow-insecure "
                 "on a trusted network.\n";
    return 2;
  }

  sigset_t signals = ember::internal::BlockTerminationSignals();

  auto server = ember::internal::ExecutorServer::Create(o);
  if (!server.ok()) {
    std::cerr << "ember-executor: " << server.status().message() << "\n";
    return 1;
  }
  std::string host = bind.find(':') != std::string::npos ? "[" + bind + "]" : bind;
  int selected = 0;
  // Tasks carry their inline partitions, and replicas whole blocks: the larger request limit.
  std::unique_ptr<grpc::Server> grpc_server =
      ember::rpc::StartServer(host + ":" + std::to_string(port), {server->get()},
                              {o.secret, ember::rpc::kMaxMessageBytes}, &selected);
  if (grpc_server == nullptr || selected == 0) {
    std::cerr << "ember-executor: cannot listen on " << host << ":" << port << "\n";
    return 1;
  }
  if (advertise.empty()) {
    advertise = host;
    if (bind == "0.0.0.0" || bind == "::") {
      char name[256] = {0};
      gethostname(name, sizeof(name) - 1);
      advertise = name;
    }
  } else if (advertise.find(':') != std::string::npos && advertise[0] != '[') {
    advertise = "[" + advertise + "]";
  }
  std::string address = advertise + ":" + std::to_string(selected);
  std::cout << "ember-executor listening on " << address << std::endl;
  LOG(INFO) << "ember-executor listening on " << address << " with " << o.slots
            << " slot(s), data in " << o.data_dir << ", driver " << o.driver;
  (*server)->Start(address);

  int sig = 0;
  sigwait(&signals, &sig);
  LOG(INFO) << "ember-executor: signal " << sig << ", shutting down";
  (*server)->Shutdown();
  grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  std::cout << std::flush;
  _exit(0);
}
