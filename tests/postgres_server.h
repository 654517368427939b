#pragma once
// A throwaway PostgreSQL server for tests: Debian's PostgreSQL 15 (`initdb` into a fresh
// directory, `postgres` on a port chosen now, listening on 127.0.0.1 only), stopped and
// removed by the destructor, which runs when a test fails too.
//
// PostgreSQL refuses to run as root: under root (containers, CI) initdb and the server run as
// `nobody` through setpriv, in a directory under /tmp that nobody owns (the test's own
// TEST_TMPDIR sits under root's home, which nobody cannot enter).

#include <netinet/in.h>
#include <postgresql/libpq-fe.h>  // Debian keeps libpq's headers under postgresql/
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/process.h"
#include "tests/wait.h"

namespace ember {
namespace testing {

class PostgresServer {
 public:
  static constexpr char kBin[] = "/usr/lib/postgresql/15/bin/";

  PostgresServer() { Start(); }
  ~PostgresServer() { Stop(); }
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Empty when the server runs; else what went wrong, with the server's own output.
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  std::string connInfo(const std::string& db = "postgres") const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + db;
  }

  // Runs `sql` (one or more statements) and returns the last one's rows as text, NULL as
  // nullopt. Throws std::runtime_error with PostgreSQL's message when it fails.
  using Rows = std::vector<std::vector<std::optional<std::string>>>;
  Rows Query(const std::string& sql) const {
    PGconn* conn = PQconnectdb(connInfo().c_str());
    if (PQstatus(conn) != CONNECTION_OK) {
      std::string e = PQerrorMessage(conn);
      PQfinish(conn);
      throw std::runtime_error("connect: " + e);
    }
    PGresult* r = PQexec(conn, sql.c_str());
    const ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
      std::string e = PQresultErrorMessage(r);
      PQclear(r);
      PQfinish(conn);
      throw std::runtime_error(sql + ": " + e);
    }
    Rows rows;
    for (int i = 0; i < PQntuples(r); ++i) {
      std::vector<std::optional<std::string>> row;
      for (int j = 0; j < PQnfields(r); ++j) {
        if (PQgetisnull(r, i, j)) {
          row.push_back(std::nullopt);
        } else {
          row.emplace_back(std::string(PQgetvalue(r, i, j), PQgetlength(r, i, j)));
        }
      }
      rows.push_back(std::move(row));
    }
    PQclear(r);
    PQfinish(conn);
    return rows;
  }

  // Stops the server: fast shutdown (clients are disconnected), SIGKILL if that hangs.
  void Stop() {
    if (server_ != nullptr) {
      server_->Kill(SIGINT);
      if (server_->Wait(std::chrono::seconds(30)) == -1000) server_->Kill(SIGKILL);
      server_.reset();
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
      dir_.clear();
    }
  }

 private:
  // argv run as the server's user. Changing user clears the parent-death signal Subprocess
  // sets: setpriv sets one again (SIGINT, PostgreSQL's fast shutdown), so that a test that
  // dies leaves no server behind.
  std::vector<std::string> AsServerUser(std::vector<std::string> argv) const {
    if (geteuid() != 0) return argv;
    std::vector<std::string> out = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                    "--clear-groups", "--pdeathsig=SIGINT"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
  }

  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    int port = -1;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    close(fd);
    return port;
  }

  void Start() {
    char tmpl[] = "/tmp/ember-pg-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      error_ = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    if (geteuid() == 0 && chown(dir_.c_str(), 65534, 65534) != 0) {
      error_ = "chown " + dir_ +
               " to nobody failed (a sandbox's user namespace? run the test "
               "with tags = [\"local\"])";
      return;
    }
    const std::string data = dir_ + "/data";
    {
      Subprocess initdb(AsServerUser({std::string(kBin) + "initdb", "-D", data, "-U", "postgres",
                                      "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"}),
                        dir_, "initdb");
      if (initdb.Wait(std::chrono::seconds(120)) != 0) {
        error_ = "initdb failed: " + initdb.Stdout() + initdb.Stderr();
        return;
      }
    }
    port_ = FreePort();
    // fsync off: the tests kill Ember's processes, never the server's machine.
    server_ = std::make_unique<Subprocess>(
        AsServerUser({std::string(kBin) + "postgres", "-D", data, "-k", dir_, "-p",
                      std::to_string(port_), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                      "-c", "max_connections=200"}),
        dir_, "postgres");
    const std::string ping = "host=127.0.0.1 port=" + std::to_string(port_) +
                             " user=postgres dbname=postgres connect_timeout=2";
    const bool up =
        WaitForCondition([&] { return !server_->running() || PQping(ping.c_str()) == PQPING_OK; },
                         std::chrono::seconds(60), std::chrono::milliseconds(20));
    if (!up || !server_->running()) {
      error_ = "postgres did not start: " + server_->Stderr();
    }
  }

  std::string dir_;
  int port_ = -1;
  std::unique_ptr<Subprocess> server_;
  std::string error_;
};

}  // namespace testing
}  // namespace ember
