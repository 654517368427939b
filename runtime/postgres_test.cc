// The PostgreSQL sink (common/postgres.h) against a real server that the suite starts
// (tests/postgres_server.h): append and upsert results, exactly once when batches and
// partitions run again, errors, and values that need COPY's escaping.

#include "common/postgres.h"

#include <gtest/gtest.h>

#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "runtime/testing.h"
#include "tests/postgres_server.h"

namespace ember {
namespace postgres {
namespace {

using testing::ManualStreams;
using testing::PostgresServer;
using Rows = PostgresServer::Rows;

// One server for the suite: initdb costs seconds.
class PostgresTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new PostgresServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->error().empty()) << server_->error(); }

  static Rows Query(const std::string& sql) { return server_->Query(sql); }
  static std::string Conn() { return server_->connInfo(); }
  // Each test is an application of its own: markers never meet another test's.
  static Conf AppConf() {
    return testing::ManualConf().setAppName(
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  static int64_t Count(const std::string& table) {
    return std::stoll(*Query("SELECT count(*) FROM " + table)[0][0]);
  }

  static PostgresServer* server_;
};
PostgresServer* PostgresTest::server_ = nullptr;

Rows R(std::vector<std::vector<std::optional<std::string>>> rows) { return rows; }

using Event = std::tuple<int64_t, std::string, double>;

TEST_F(PostgresTest, AppendWritesEveryRecordOfEveryBatchOnce) {
  Query("CREATE TABLE events (id bigint, name text, amount double precision)");
  ManualStreams env(Seconds(1), "local[2]", AppConf());
  auto queue = std::make_shared<RddQueue<Event>>();
  save(env.ssc().queueStream(queue), Conn(), "events", append());
  queue->push(env.ssc().parallelize<Event>({{1, "a", 1.5}, {2, "b", 2.25}, {3, "c", -3}}, 2));
  queue->push(env.ssc().parallelize<Event>({{4, "d", 0.1}}, 3));  // two empty partitions
  env.ssc().start();
  env.RunBatches(3);
  env.ssc().stop();
  EXPECT_EQ(Query("SELECT id, name, amount FROM events ORDER BY id"),
            R({{"1", "a", "1.5"}, {"2", "b", "2.25"}, {"3", "c", "-3"}, {"4", "d", "0.1"}}));
  // A marker per partition that held records: empty partitions (and the empty third batch)
  // write nothing, not even a marker.
  EXPECT_EQ(Query("SELECT output, batch_time_ms, count(*) FROM ember_output_commits "
                  "WHERE app = 'AppendWritesEveryRecordOfEveryBatchOnce' "
                  "GROUP BY 1, 2 ORDER BY 2"),
            R({{"events append", "1000", "2"}, {"events append", "2000", "1"}}));
}

// A struct whose serialize writes the columns' fields, and a table with a serial id and a
// default that the records do not fill (Options::columns).
struct Reading {
  std::string sensor;
  float value = 0;
  void serialize(Writer& w) const {
    Encode(sensor, w);
    Encode(value, w);
  }
  bool deserialize(Reader& r) { return Decode(r, &sensor) && Decode(r, &value); }
};

TEST_F(PostgresTest, StructRecordsFillTheNamedColumns) {
  Query(
      "CREATE TABLE readings (id serial PRIMARY KEY, sensor text NOT NULL, value real,"
      " source text DEFAULT 'ember')");
  ManualStreams env(Seconds(1), "local[2]", AppConf());
  auto queue = std::make_shared<RddQueue<Reading>>();
  Options options;
  options.columns = {"sensor", "VALUE"};  // unquoted names fold to lower case, as in SQL
  save(env.ssc().queueStream(queue), Conn(), "public.readings", append(), options);
  queue->push(env.ssc().parallelize<Reading>({{"t1", 20.5f}, {"t2", -1.25f}}, 1));
  env.ssc().start();
  env.RunBatches(1);
  env.ssc().stop();
  EXPECT_EQ(Query("SELECT id, sensor, value, source FROM readings ORDER BY id"),
            R({{"1", "t1", "20.5", "ember"}, {"2", "t2", "-1.25", "ember"}}));
}

TEST_F(PostgresTest, UpsertKeepsTheLastValueOfEachKey) {
  Query("CREATE TABLE counts (word text PRIMARY KEY, n bigint NOT NULL)");
  ManualStreams env(Seconds(1), "local[2]", AppConf());
  using WordCount = std::pair<std::string, int64_t>;
  auto queue = std::make_shared<RddQueue<WordCount>>();
  save(env.ssc().queueStream(queue), Conn(), "counts", upsert({"word"}));
  queue->push(env.ssc().parallelize<WordCount>({{"a", 1}, {"b", 2}}, 2));
  // One partition holding a key twice: its last record wins.
  queue->push(env.ssc().parallelize<WordCount>({{"a", 5}, {"c", 1}, {"c", 7}}, 1));
  env.ssc().start();
  env.RunBatches(2);
  env.ssc().stop();
  EXPECT_EQ(Query("SELECT word, n FROM counts ORDER BY word"),
            R({{"a", "5"}, {"b", "2"}, {"c", "7"}}));
}

TEST_F(PostgresTest, UpsertOfKeysOnlyInsertsWhatIsMissing) {
  Query("CREATE TABLE seen (a int, b text, PRIMARY KEY (a, b))");
  ManualStreams env(Seconds(1), "local[2]", AppConf());
  using Key = std::tuple<int32_t, std::string>;
  auto queue = std::make_shared<RddQueue<Key>>();
  save(env.ssc().queueStream(queue), Conn(), "seen", upsert({"a", "b"}));
  queue->push(env.ssc().parallelize<Key>({{1, "x"}, {2, "y"}}, 1));
  queue->push(env.ssc().parallelize<Key>({{1, "x"}, {1, "y"}}, 1));
  env.ssc().start();
  env.RunBatches(2);
  env.ssc().stop();
  EXPECT_EQ(Query("SELECT a, b FROM seen ORDER BY a, b"), R({{"1", "x"}, {"1", "y"}, {"2", "y"}}));
}

// A driver recovering runs the batches it had pending again, with the same times and
// partitions: a second context of the same application over the same batches writes only
// the batch the first did not.
TEST_F(PostgresTest, BatchesRunAgainWriteNothingTwice) {
  Query("CREATE TABLE again (id int, word text)");
  using Rec = std::pair<int32_t, std::string>;
  const std::vector<std::vector<Rec>> batches = {
      {{1, "a"}, {2, "b"}, {3, "c"}}, {{4, "d"}, {5, "e"}}, {{6, "f"}}};
  for (int run = 0; run < 2; ++run) {
    ManualStreams env(Seconds(1), "local[2]", AppConf());
    auto queue = std::make_shared<RddQueue<Rec>>();
    save(env.ssc().queueStream(queue), Conn(), "again", append());
    const int n = run == 0 ? 2 : 3;
    for (int b = 0; b < n; ++b) queue->push(env.ssc().parallelize(batches[b], 2));
    env.ssc().start();
    env.RunBatches(n);
    env.ssc().stop();
  }
  EXPECT_EQ(Query("SELECT id, word FROM again ORDER BY id"),
            R({{"1", "a"}, {"2", "b"}, {"3", "c"}, {"4", "d"}, {"5", "e"}, {"6", "f"}}));
  // The Rdd form, twice in one batch: the second call finds every partition's marker.
  ManualStreams env(Seconds(1), "local[2]", AppConf().setAppName("rdd-twice"));
  auto queue = std::make_shared<RddQueue<Rec>>();
  env.ssc().queueStream(queue).foreachRDD([conn = Conn()](const Rdd<Rec>& rdd, Time t) {
    save(rdd, t, conn, "again", append(), Options{{}, "twice"});
    save(rdd, t, conn, "again", append(), Options{{}, "twice"});
  });
  queue->push(env.ssc().parallelize<Rec>({{7, "g"}, {8, "h"}}, 2));
  env.ssc().start();
  env.RunBatches(1);
  env.ssc().stop();
  EXPECT_EQ(Count("again"), 8);
}

// A task whose write fails (a trigger fails the first COPY; sequences are not transactional,
// so the retry passes) is retried (local[2,3]: three attempts): the failed attempt left
// neither rows nor marker, and the retry writes the partition once. (Attempts that committed
// before failing are the re-run and concurrent cases: their marker makes the next skip.)
TEST_F(PostgresTest, ARetriedTaskWritesItsPartitionOnce) {
  Query(
      "CREATE TABLE retried (id int); CREATE SEQUENCE attempts;"
      "CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
      "  IF nextval('attempts') = 1 THEN RAISE EXCEPTION 'transient failure'; END IF;"
      "  RETURN NULL; END $$;"
      "CREATE TRIGGER fail_once AFTER INSERT ON retried FOR EACH STATEMENT"
      "  EXECUTE FUNCTION fail_once();");
  ManualStreams env(Seconds(1), "local[2,3]", AppConf());
  auto queue = std::make_shared<RddQueue<int32_t>>();
  save(env.ssc().queueStream(queue), Conn(), "retried", append());
  queue->push(env.ssc().parallelize<int32_t>({1, 2, 3, 4, 5, 6}, 2));
  env.ssc().start();
  env.RunBatches(1);
  env.ssc().stop();
  EXPECT_EQ(Query("SELECT id FROM retried ORDER BY id"),
            R({{"1"}, {"2"}, {"3"}, {"4"}, {"5"}, {"6"}}));
  EXPECT_EQ(Query("SELECT last_value FROM attempts"), R({{"3"}}));  // one partition retried
}

// Task attempts of one partition at the same time (a speculative or a retried task beside
// one that is slow to fail): the marker's key makes the second wait for the first and then
// skip.
TEST_F(PostgresTest, ConcurrentAttemptsOfAPartitionWriteItOnce) {
  Query("CREATE TABLE racing (id int)");
  internal_pg::SinkSpec spec = internal_pg::MakeSpec(Conn(), "racing", append(), {});
  spec.app = "racing";
  std::vector<int32_t> records;
  for (int i = 0; i < 20000; ++i) records.push_back(i);
  for (int64_t batch = 1000; batch <= 5000; batch += 1000) {
    std::vector<std::thread> attempts;
    for (int a = 0; a < 4; ++a) {
      attempts.emplace_back([&] {
        internal_pg::WritePartition(spec, batch, 0, internal_pg::TypedRows<int32_t>(records));
      });
    }
    for (auto& t : attempts) t.join();
  }
  EXPECT_EQ(Count("racing"), 5 * 20000);
  EXPECT_EQ(Query("SELECT count(DISTINCT id), min(id), max(id) FROM racing"),
            R({{"20000", "0", "19999"}}));
}

// What the job sees of a write that fails: the table named, and PostgreSQL's (or libpq's)
// own words; the process goes on.
std::string SaveError(const Conf& conf, const std::string& conn, const std::string& table,
                      Mode mode, std::vector<std::tuple<int32_t, std::string>> records) {
  ManualStreams env(Seconds(1), "local[2]", conf);
  using Rec = std::tuple<int32_t, std::string>;
  auto queue = std::make_shared<RddQueue<Rec>>();
  auto error = std::make_shared<std::string>();
  env.ssc().queueStream(queue).foreachRDD([conn, table, mode, error](const Rdd<Rec>& rdd, Time t) {
    try {
      save(rdd, t, conn, table, mode);
    } catch (const EmberError& e) {
      *error = e.what();
    }
  });
  queue->push(env.ssc().parallelize(records, 1));
  env.ssc().start();
  env.RunBatches(1);
  env.ssc().stop();
  return *error;
}

TEST_F(PostgresTest, ErrorsNameTheTableAndPostgresqlsMessage) {
  Query("CREATE TABLE strict (id int NOT NULL CHECK (id > 0), name varchar(3))");
  std::string e = SaveError(AppConf(), "host=127.0.0.1 garbage", "strict", append(), {{1, "a"}});
  EXPECT_NE(e.find("postgres.save into table strict (append)"), std::string::npos) << e;
  EXPECT_NE(e.find("missing \"=\" after \"garbage\""), std::string::npos) << e;

  e = SaveError(AppConf(), "host=127.0.0.1 port=1 user=postgres connect_timeout=2", "strict",
                append(), {{1, "a"}});
  EXPECT_NE(e.find("cannot connect"), std::string::npos) << e;

  e = SaveError(AppConf(), Conn(), "no_such_table", append(), {{1, "a"}});
  EXPECT_NE(e.find("postgres.save into table no_such_table (append): the table does not exist"),
            std::string::npos)
      << e;

  // Checked in the task, against the column's type: a string is not an int.
  ManualStreams env(Seconds(1), "local[2]", AppConf());
  auto queue = std::make_shared<RddQueue<std::tuple<std::string, std::string>>>();
  auto error = std::make_shared<std::string>();
  env.ssc().queueStream(queue).foreachRDD(
      [conn = Conn(), error](const Rdd<std::tuple<std::string, std::string>>& rdd, Time t) {
        try {
          save(rdd, t, conn, "strict", append());
        } catch (const EmberError& x) {
          *error = x.what();
        }
      });
  queue->push(env.ssc().parallelize<std::tuple<std::string, std::string>>({{"x", "y"}}, 1));
  env.ssc().start();
  env.RunBatches(1);
  env.ssc().stop();
  EXPECT_NE(error->find("strict (append): column id (int) cannot hold \"x\" (string)"),
            std::string::npos)
      << *error;

  // PostgreSQL's own checks: a CHECK constraint, a varchar too long, an upsert key without a
  // unique constraint. Nothing of a failed partition stays.
  e = SaveError(AppConf(), Conn(), "strict", append(), {{1, "ok"}, {-1, "a"}});
  EXPECT_NE(e.find("violates check constraint \"strict_id_check\""), std::string::npos) << e;
  e = SaveError(AppConf(), Conn(), "strict", append(), {{1, "long"}});
  EXPECT_NE(e.find("value too long for type character varying(3)"), std::string::npos) << e;
  e = SaveError(AppConf(), Conn(), "strict", upsert({"id"}), {{1, "a"}});
  EXPECT_NE(e.find("no unique or exclusion constraint matching the ON CONFLICT"), std::string::npos)
      << e;
  e = SaveError(AppConf(), Conn(), "strict", upsert({"nope"}), {{1, "a"}});
  EXPECT_NE(e.find("the upsert key nope is not among the columns written"), std::string::npos) << e;
  EXPECT_EQ(Count("strict"), 0);
  // Failed partitions leave no marker either: the batch can be written later.
  EXPECT_EQ(Query("SELECT count(*) FROM ember_output_commits WHERE output LIKE 'strict%'"),
            R({{"0"}}));
}

// Values that COPY's text format must escape, NULLs of every type, and each type's text.
TEST_F(PostgresTest, NullsAndSpecialCharactersRoundTrip) {
  Query(
      "CREATE TABLE odd (id int, s text, b bytea, f real, d double precision, n numeric,"
      " ts timestamptz, t timestamp, day date, flag boolean, u uuid, j jsonb)");
  const std::vector<std::string> strings = {
      "tab\there",
      "new\nline",
      "back\\slash",
      "\\N",
      "quotes ' and \"",
      "cr\rlf\r\n",
      "unicode héllo ✓ 😀 日本",
      "",
      "comma, semicolon; pipe|",
      "\\.",
  };
  // Row i: id i, n i + 1, flag (i + 1) even, the uuid's last digit (i + 1) % 10.
  std::vector<sql::Row> rows;
  for (size_t i = 0; i < strings.size(); ++i) {
    const std::string& s = strings[i];
    rows.push_back(
        sql::Row::of(static_cast<int32_t>(i), s, sql::Bytes(s.begin(), s.end()), 1.5f, 0.1,
                     static_cast<int64_t>(i + 1), sql::Timestamp{1700000000123456LL},
                     sql::Timestamp{86400000000LL}, sql::Date{19000}, (i + 1) % 2 == 0,
                     "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1" + std::to_string((i + 1) % 10),
                     std::string("{\"k\": \"v\\\\ \\t\"}")));
  }
  sql::Row nulls(std::vector<sql::Value>(12));
  nulls.mutableValues()[0] = sql::Value::Int(100);
  rows.push_back(nulls);
  // Floating values that need their shortest exact text, and PostgreSQL's special names.
  rows.push_back(sql::Row::of(101, "x", sql::Bytes{0, 255}, 3.4028235e38f, 1e-300, 0.1,
                              sql::Timestamp{0}, sql::Timestamp{-1}, sql::Date{-1}, true,
                              std::optional<std::string>(), std::optional<std::string>()));
  rows.push_back(sql::Row::of(102, "y", sql::Bytes{}, std::numeric_limits<float>::infinity(),
                              std::numeric_limits<double>::quiet_NaN(), std::string("1.10"),
                              sql::Timestamp{0}, sql::Timestamp{0}, sql::Date{0}, false,
                              std::optional<std::string>(), std::optional<std::string>()));

  ManualStreams env(Seconds(1), "local[2]", AppConf());
  auto queue = std::make_shared<RddQueue<sql::Row>>();
  save(env.ssc().queueStream(queue), Conn(), "odd", append());
  queue->push(env.ssc().parallelize(rows, 3));
  env.ssc().start();
  env.RunBatches(1);
  env.ssc().stop();

  Rows got = Query(
      "SET TIME ZONE 'UTC'; SELECT id, s, encode(b, 'hex'), f, d, n, ts, t, day, flag, u, "
      "j->>'k' FROM odd ORDER BY id");
  ASSERT_EQ(got.size(), strings.size() + 3);
  for (size_t i = 0; i < strings.size(); ++i) {
    SCOPED_TRACE(strings[i]);
    std::string hex;
    for (unsigned char ch : strings[i]) {
      static const char* kHex = "0123456789abcdef";
      hex += kHex[ch >> 4];
      hex += kHex[ch & 15];
    }
    const std::string n = std::to_string(i + 1);
    EXPECT_EQ(
        got[i],
        (std::vector<std::optional<std::string>>{
            std::to_string(i), strings[i], hex, "1.5", "0.1", n, "2023-11-14 22:13:20.123456+00",
            "1970-01-02 00:00:00", "2022-01-08", (i + 1) % 2 == 0 ? "t" : "f",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1" + std::to_string((i + 1) % 10), "v\\ \t"}));
  }
  EXPECT_EQ(got[strings.size()], (std::vector<std::optional<std::string>>{
                                     "100", std::nullopt, std::nullopt, std::nullopt, std::nullopt,
                                     std::nullopt, std::nullopt, std::nullopt, std::nullopt,
                                     std::nullopt, std::nullopt, std::nullopt}));
  EXPECT_EQ(got[strings.size() + 1],
            (std::vector<std::optional<std::string>>{
                "101", "x", "00ff", "3.4028235e+38", "1e-300", "0.1", "1970-01-01 00:00:00+00",
                "1969-12-31 23:59:59.999999", "1969-12-31", "t", std::nullopt, std::nullopt}));
  EXPECT_EQ(got[strings.size() + 2],
            (std::vector<std::optional<std::string>>{
                "102", "y", "", "Infinity", "NaN", "1.10", "1970-01-01 00:00:00+00",
                "1970-01-01 00:00:00", "1970-01-01", "f", std::nullopt, std::nullopt}));
}

// A pooled connection the server dropped (restarted, idle timeout, an administrator's
// pg_terminate_backend) is replaced on its next use.
TEST_F(PostgresTest, ABrokenPooledConnectionIsReplaced) {
  Query("CREATE TABLE pooled (id int)");
  internal_pg::SinkSpec spec = internal_pg::MakeSpec(Conn(), "pooled", append(), {});
  spec.app = "pooled";
  std::vector<int32_t> records = {1, 2, 3};
  internal_pg::WritePartition(spec, 1000, 0, internal_pg::TypedRows<int32_t>(records));
  Query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE application_name = 'ember' AND pid <> pg_backend_pid()");
  internal_pg::WritePartition(spec, 2000, 0, internal_pg::TypedRows<int32_t>(records));
  EXPECT_EQ(Count("pooled"), 6);
}

}  // namespace
}  // namespace postgres
}  // namespace ember
