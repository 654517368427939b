#pragma once
// ember-submit's cluster side: a client of the driver's gRPC service that submits a plugin and
// follows the job's output, and the operational commands (--status, --list, --kill, --logs).
// Each command returns ember-submit's exit code and writes what the user sees to `out`
// (results) and `err` (messages).

#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proto/cluster.grpc.pb.h"

namespace ember {
namespace submit {

constexpr int kExitOk = 0;
constexpr int kExitJobFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitBadPlugin = 3;
constexpr int kExitDriver = 5;
constexpr int kExitNoApp = 6;

class ClusterClient {
 public:
  // `address` is HOST:PORT (no ember:// prefix).
  ClusterClient(std::string address, std::string secret, std::ostream& out, std::ostream& err,
                int connect_timeout_s = 10);

  int Submit(const std::string& plugin_path, const std::string& name,
             const std::map<std::string, std::string>& conf, const std::vector<std::string>& args,
             bool detach);
  // Submits a complete request (ember-submit --from-checkpoint: one kept in a checkpoint).
  int SubmitRequest(const proto::SubmitJobRequest& request, bool detach);
  // Copies the job's output from `offset` on; with `follow`, until it ends (re-attaching
  // when the connection breaks), and returns its exit code; without, returns 0.
  int Follow(const std::string& app_id, bool follow);
  int Status(const std::string& app_id);
  int List();
  int Kill(const std::string& app_id);
  // Replaces the application's plugin (ember-submit --upgrade APP PLUGIN).
  int Upgrade(const std::string& app_id, const std::string& plugin_path);

 private:
  bool Connect();
  // Reads and checks a plugin file; false (the reason printed) when it cannot be sent.
  bool ReadPlugin(const std::string& path, std::string* bytes);
  int Fail(const grpc::Status& s, const std::string& what);

  const std::string address_, secret_;
  std::ostream& out_;
  std::ostream& err_;
  const int connect_timeout_s_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<proto::Driver::Stub> stub_;
};

}  // namespace submit
}  // namespace ember
