// TLS on a real cluster: certificates made at run time with Debian's openssl, a driver and two
// executors with mutual TLS (and with server-only TLS) running a shuffle job exactly, and the
// clients that must be refused: plaintext, a certificate of another CA, no certificate.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <string>
#include <vector>

#include "rpc/rpc.h"
#include "tests/cluster_harness.h"

namespace ember {
namespace clustertest {
namespace {

void MakeCertificates(const std::string& dir, const std::string& name) {
  std::string error = testing::MakeTestCertificates(dir, name);
  ASSERT_EQ(error, "");
}

std::vector<std::string> TlsArgs(const std::string& dir, const std::string& name,
                                 bool with_ca = true, bool with_cert = true) {
  std::string p = dir + "/" + name;
  std::vector<std::string> args;
  if (with_cert) args = {"--tls-cert", p + ".pem", "--tls-key", p + ".key"};
  if (with_ca) {
    args.push_back("--tls-ca");
    args.push_back(p + "-ca.pem");
  }
  return args;
}

// ember-submit --list against the cluster with exactly `args`; its exit code.
int ListWith(Cluster& cluster, const std::string& dir, const std::vector<std::string>& args,
             const std::string& name, std::string* err) {
  std::vector<std::string> argv = {"tools/ember-submit", "--master", "ember://" + cluster.address(),
                                   "--connect-timeout", "3"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--list");
  Subprocess list(argv, dir, name);
  int code = list.Wait(30s);
  *err = list.Stderr();
  return code;
}

void RunShuffleJob(Cluster& cluster, const std::string& dir) {
  Subprocess job(cluster.Submit({"--name", "tls", "tests/jobs/libshuffle_sum.so", "--", "5", "3000",
                                 "250", "3000"}),
                 dir, "job");
  ASSERT_EQ(job.Wait(90s), 0) << job.Stderr() << cluster.driver().Stderr();
  EXPECT_EQ(job.Stdout(), ShuffleSumLines(5, 3000));
}

TEST(TlsTest, MutualTlsRunsJobsAndRefusesEveryOtherClient) {
  std::string dir = MakeTempDir("tls-mutual");
  MakeCertificates(dir, "cluster");
  MakeCertificates(dir, "other");
  // This process's own calls (the harness's status queries) use the cluster's certificate.
  ASSERT_TRUE(
      rpc::ConfigureTls({dir + "/cluster.pem", dir + "/cluster.key", dir + "/cluster-ca.pem", ""})
          .ok());
  Cluster cluster(dir, 2, {}, "", TlsArgs(dir, "cluster"));
  // Registration and heartbeats (executors to the driver), tasks (the driver's application
  // processes to the executors) and shuffle fetches (executor to executor) all over TLS.
  ASSERT_TRUE(cluster.WaitForExecutors(2)) << cluster.driver().Stderr();
  RunShuffleJob(cluster, dir);

  std::string err;
  EXPECT_EQ(ListWith(cluster, dir, TlsArgs(dir, "cluster"), "list-ok", &err), 0) << err;
  EXPECT_NE(ListWith(cluster, dir, {}, "list-plaintext", &err), 0);
  EXPECT_NE(err.find("cannot reach driver"), std::string::npos) << err;
  EXPECT_NE(ListWith(cluster, dir, TlsArgs(dir, "other"), "list-other-ca", &err), 0);
  EXPECT_NE(ListWith(cluster, dir, TlsArgs(dir, "cluster", true, false), "list-no-cert", &err), 0);
  // A client that trusts another CA does not accept the driver's certificate either.
  std::vector<std::string> wrong_ca = TlsArgs(dir, "cluster", false);
  wrong_ca.push_back("--tls-ca");
  wrong_ca.push_back(dir + "/other-ca.pem");
  EXPECT_NE(ListWith(cluster, dir, wrong_ca, "list-wrong-ca", &err), 0);
}

TEST(TlsTest, ServerOnlyTlsWithClientsTrustingTheCa) {
  std::string dir = MakeTempDir("tls-server-only");
  MakeCertificates(dir, "cluster");
  // No --tls-ca on the daemons: no client certificates asked for. Their clients (and this
  // process's) trust the CA as a system CA would be trusted: gRPC's default roots file.
  setenv("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", (dir + "/cluster-ca.pem").c_str(), 1);
  ASSERT_TRUE(rpc::ConfigureTls({dir + "/cluster.pem", dir + "/cluster.key", "", ""}).ok());
  Cluster cluster(dir, 2, {}, "", TlsArgs(dir, "cluster", false));
  ASSERT_TRUE(cluster.WaitForExecutors(2)) << cluster.driver().Stderr();
  RunShuffleJob(cluster, dir);
  std::string err;
  EXPECT_EQ(ListWith(cluster, dir, {"--tls-ca", dir + "/cluster-ca.pem"}, "list-ca", &err), 0)
      << err;
  EXPECT_NE(ListWith(cluster, dir, {}, "list-plaintext", &err), 0);
  unsetenv("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH");
}

TEST(TlsTest, BadTlsFlagsAreUsageErrors) {
  std::string dir = MakeTempDir("tls-flags");
  Subprocess no_key({"driver/ember-driver", "--port", "0", "--tls-cert", dir + "/missing.pem"}, dir,
                    "no-key");
  EXPECT_EQ(no_key.Wait(20s), 2);
  EXPECT_NE(no_key.Stderr().find("certificate and its key together"), std::string::npos)
      << no_key.Stderr();
  std::ofstream(dir + "/not.pem") << "not a certificate\n";
  Subprocess not_pem({"executor/ember-executor", "--driver", "127.0.0.1:1", "--tls-cert",
                      dir + "/not.pem", "--tls-key", dir + "/not.pem"},
                     dir, "not-pem");
  EXPECT_EQ(not_pem.Wait(20s), 2);
  EXPECT_NE(not_pem.Stderr().find("is not PEM"), std::string::npos) << not_pem.Stderr();
  Subprocess ca_only({"driver/ember-driver", "--port", "0", "--tls-ca", dir + "/not.pem"}, dir,
                     "ca-only");
  EXPECT_EQ(ca_only.Wait(20s), 2);
}

}  // namespace
}  // namespace clustertest
}  // namespace ember
