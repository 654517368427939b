// ember::sql in local mode: Spark's show() and printSchema() text, DDL schemas, createDataFrame
// from every record kind, the readers, query errors, and every DataFrame operation against a
// straightforward reference over seeded random rows with NULLs.

#include "common/sql.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "runtime/sql_engine.h"
#include "runtime/testing.h"

namespace ember {
namespace sql {
namespace {

using testing::ManualStreams;

std::string TempDir() {
  char tmpl[] = "/tmp/ember_sql_XXXXXX";
  const char* d = mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d;
}

class SqlTest : public ::testing::Test {
 protected:
  SqlTest() : spark_(SparkSession::builder().getOrCreate()) {
    env_.ssc().core()->SetOutputSink([this](const std::string& s) { printed_ += s; });
  }
  ManualStreams env_{Seconds(1), "local[2]"};
  SparkSession spark_;
  std::string printed_;
};

// ---------------------------------------------------------------------------- formatting

TEST(SqlFormatTest, ShowStringFollowsSparksLayout) {
  StructType schema = StructType::fromDDL("id INT, name STRING, amount FLOAT");
  std::vector<Row> rows = {Row::of(1, "a", 10.5f), Row::of(22, std::optional<std::string>(), 3.0f),
                           Row::of(3, "a rather long name that goes on", 1e10f)};
  EXPECT_EQ(internal_sql::ShowString(schema, rows, 20, 20),
            "+---+--------------------+------+\n"
            "| id|                name|amount|\n"
            "+---+--------------------+------+\n"
            "|  1|                   a|  10.5|\n"
            "| 22|                NULL|   3.0|\n"
            "|  3|a rather long nam...|1.0E10|\n"
            "+---+--------------------+------+\n");
  // Not truncated: left-aligned, full cells.
  EXPECT_EQ(internal_sql::ShowString(schema, {rows[2]}, 20, 0),
            "+---+-------------------------------+------+\n"
            "|id |name                           |amount|\n"
            "+---+-------------------------------+------+\n"
            "|3  |a rather long name that goes on|1.0E10|\n"
            "+---+-------------------------------+------+\n");
  // More rows than shown; truncate below 4 cuts without dots.
  EXPECT_EQ(internal_sql::ShowString(schema, rows, 2, 2),
            "+---+----+------+\n"
            "| id|name|amount|\n"
            "+---+----+------+\n"
            "|  1|   a|    10|\n"
            "| 22|  NU|    3.|\n"
            "+---+----+------+\n"
            "only showing top 2 rows\n");
  EXPECT_EQ(internal_sql::ShowString(schema, rows, 1, 20)
                .substr(internal_sql::ShowString(schema, rows, 1, 20).rfind("only")),
            "only showing top 1 row\n");
  // No rows: the header between rules.
  EXPECT_EQ(internal_sql::ShowString(StructType::fromDDL("x int"), {}, 20, 20),
            "+---+\n|  x|\n+---+\n+---+\n");
}

TEST(SqlFormatTest, ShowCountsFullWidthCharactersTwiceAndEscapesControls) {
  StructType schema = StructType::fromDDL("k string, v binary");
  std::vector<Row> rows = {Row::of(std::string("日本"), Bytes{0x01, 0xab}),
                           Row::of(std::string("a\tb"), Bytes{})};
  EXPECT_EQ(internal_sql::ShowString(schema, rows, 20, 20),
            "+----+-------+\n"
            "|   k|      v|\n"
            "+----+-------+\n"
            "|日本|[01 AB]|\n"
            "|a\\tb|     []|\n"
            "+----+-------+\n");
}

TEST(SqlFormatTest, ValuesPrintAsSparkDoes) {
  EXPECT_EQ(Value::Double(0.1 + 0.2).toString(), "0.30000000000000004");
  EXPECT_EQ(Value::Float(0.1f).toString(), "0.1");
  EXPECT_EQ(Value::Double(1e7).toString(), "1.0E7");
  EXPECT_EQ(Value::Boolean(true).toString(), "true");
  Date d;
  ASSERT_TRUE(ParseDate("2024-02-29", &d));
  EXPECT_EQ(Value::OfDate(d).toString(), "2024-02-29");
  EXPECT_FALSE(ParseDate("2023-02-29", &d));
  Timestamp t;
  ASSERT_TRUE(ParseTimestamp("1969-12-31 23:59:59.25", &t));
  EXPECT_EQ(t.micros, -750000);
  EXPECT_EQ(Value::OfTimestamp(t).toString(), "1969-12-31 23:59:59.25");
  ASSERT_TRUE(ParseTimestamp("2024-01-02T03:04:05", &t));
  EXPECT_EQ(Value::OfTimestamp(t).toString(), "2024-01-02 03:04:05");
  EXPECT_EQ(Row::of(1, std::optional<int>(), "x").toString(), "[1,null,x]");
}

TEST(SqlFormatTest, SchemasParseBothDdlFormsAndPrintAsSparksTree) {
  StructType a = StructType::fromDDL("id:int, amount:float");
  StructType b = StructType::fromDDL("id INT, amount FLOAT");
  EXPECT_EQ(a, b);
  StructType all = StructType::fromDDL(
      "a boolean, b int, c bigint, d float, e double, f string, g binary, h date, i timestamp, "
      "j varchar(10) not null, `k` long");
  EXPECT_EQ(all.treeString(),
            "root\n"
            " |-- a: boolean (nullable = true)\n"
            " |-- b: integer (nullable = true)\n"
            " |-- c: long (nullable = true)\n"
            " |-- d: float (nullable = true)\n"
            " |-- e: double (nullable = true)\n"
            " |-- f: string (nullable = true)\n"
            " |-- g: binary (nullable = true)\n"
            " |-- h: date (nullable = true)\n"
            " |-- i: timestamp (nullable = true)\n"
            " |-- j: string (nullable = false)\n"
            " |-- k: long (nullable = true)\n");
  EXPECT_EQ(a.simpleString(), "struct<id:int,amount:float>");
  try {
    StructType::fromDDL("id int, amount money");
    FAIL();
  } catch (const EmberError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown type \"money\" of field amount"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(StructType::fromDDL("id int, id string"), EmberError);
  EXPECT_THROW(StructType::fromDDL(""), EmberError);
}

// ---------------------------------------------------------------------------- frames

struct Sale {
  int32_t id = 0;
  double amount = 0;
  std::string note;
  void serialize(Writer& w) const {
    Encode(id, w);
    Encode(amount, w);
    Encode(note, w);
  }
  bool deserialize(Reader& r) { return Decode(r, &id) && Decode(r, &amount) && Decode(r, &note); }
};

TEST_F(SqlTest, CreateDataFrameTakesTuplesPairsRowsAndCodecStructs) {
  auto tuples = env_.ssc().parallelize<std::tuple<int, float>>({{1, 1.5f}, {2, 2.5f}}, 2);
  EXPECT_EQ(spark_.createDataFrame(tuples, "id:int, amount:float").collect(),
            (std::vector<Row>{Row::of(1, 1.5f), Row::of(2, 2.5f)}));
  auto pairs = env_.ssc().parallelize<std::pair<std::string, int64_t>>({{"a", 7}}, 1);
  EXPECT_EQ(spark_.createDataFrame(pairs, "k STRING, n BIGINT").collect(),
            (std::vector<Row>{Row::of("a", int64_t{7})}));
  auto rows =
      env_.ssc().parallelize<Row>({Row::of(1, "x"), Row::of(2, std::optional<std::string>())}, 2);
  DataFrame df = spark_.createDataFrame(rows, "id int, s string");
  EXPECT_EQ(df.count(), 2);
  EXPECT_EQ(df.collect()[1].isNullAt(1), true);
  auto sales = env_.ssc().parallelize<Sale>({{1, 2.5, "first"}, {2, 4.0, "second"}}, 1);
  DataFrame s = spark_.createDataFrame(sales, "id int, amount double, note string");
  EXPECT_EQ(s.collect(), (std::vector<Row>{Row::of(1, 2.5, "first"), Row::of(2, 4.0, "second")}));
  // Back to typed records.
  auto back = s.select("note", "id").rdd<std::tuple<std::string, int32_t>>().collect();
  EXPECT_EQ(back, (std::vector<std::tuple<std::string, int32_t>>{{"first", 1}, {"second", 2}}));
  EXPECT_EQ(s.select("amount").rdd<double>().collect(), (std::vector<double>{2.5, 4.0}));
}

TEST_F(SqlTest, ARecordThatDoesNotFitTheSchemaNamesTheColumnAndValue) {
  auto tuples = env_.ssc().parallelize<std::tuple<int, std::string>>({{1, "x"}, {2, "y"}}, 1);
  DataFrame df = spark_.createDataFrame(tuples, "id int, amount float");
  try {
    df.collect();
    FAIL();
  } catch (const EmberError& e) {
    EXPECT_NE(std::string(e.what()).find("column amount (float) cannot hold \"x\" (string)"),
              std::string::npos)
        << e.what();
  }
  auto nulls = env_.ssc().parallelize<std::tuple<std::optional<int>>>({{std::nullopt}}, 1);
  try {
    spark_.createDataFrame(nulls, "id int not null").count();
    FAIL();
  } catch (const EmberError& e) {
    EXPECT_NE(std::string(e.what()).find("not nullable"), std::string::npos) << e.what();
  }
  auto wide = env_.ssc().parallelize<std::tuple<int, int, int>>({{1, 2, 3}}, 1);
  EXPECT_THROW(spark_.createDataFrame(wide, "a int, b int").collect(), EmberError);
}

TEST_F(SqlTest, TheSeedsJoinWithAStaticCsvTableShowsSparksTable) {
  std::string dir = TempDir();
  std::ofstream(dir + "/codes.csv") << "id,name\n1,one\n2,two\n3,three\n";
  spark_.read()
      .option("header", true)
      .schema("id INT, name STRING")
      .csv(dir + "/codes.csv")
      .createOrReplaceTempView("codes");
  auto lines = env_.ssc().parallelize<std::string>({"1,10.5", "2,20.25", "9,1.0", "3,7"}, 2);
  auto parsed = lines.map([](const std::string& l) {
    auto comma = l.find(',');
    return std::make_tuple(std::stoi(l.substr(0, comma)), std::stof(l.substr(comma + 1)));
  });
  spark_.createDataFrame(parsed, "id:int, amount:float").createOrReplaceTempView("newdata");
  DataFrame join =
      spark_.sql("select n.id, c.name, n.amount from newdata as n join codes as c on n.id = c.id");
  join.show();
  EXPECT_EQ(printed_,
            "+---+-----+------+\n"
            "| id| name|amount|\n"
            "+---+-----+------+\n"
            "|  1|  one|  10.5|\n"
            "|  2|  two| 20.25|\n"
            "|  3|three|   7.0|\n"
            "+---+-----+------+\n"
            "\n");
  printed_.clear();
  join.printSchema();
  EXPECT_EQ(printed_,
            "root\n"
            " |-- id: integer (nullable = true)\n"
            " |-- name: string (nullable = true)\n"
            " |-- amount: float (nullable = true)\n"
            "\n");
  // The query split by partition: as many partitions as the batch view.
  EXPECT_EQ(internal::NumPartitions(join.ref()), 2);
}

TEST_F(SqlTest, QueryErrorsNameTheEngineMessageAndTheQuery) {
  spark_.createDataFrame(std::vector<Row>{Row::of(1)}, "id int").createOrReplaceTempView("t");
  auto expect_error = [&](const std::string& query, const std::string& message) {
    try {
      spark_.sql(query);
      ADD_FAILURE() << query;
    } catch (const EmberError& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(query), std::string::npos) << e.what();
    }
  };
  expect_error("selec id from t", "syntax error");
  expect_error("select nope from t", "no such column: nope");
  expect_error("select id from missing", "no such table: missing");
  expect_error("delete from t", "only queries");
  expect_error("select 1; select 2", "one statement");
  EXPECT_THROW(spark_.table("missing"), EmberError);
  DataFrame t = spark_.table("t");
  EXPECT_THROW(t.select("nope"), EmberError);
  EXPECT_THROW(t.filter("nope > 1"), EmberError);
  EXPECT_THROW(t.groupBy("nope"), EmberError);
  EXPECT_THROW(t.join(t, "nope"), EmberError);
  EXPECT_THROW(t.join(t, "id", "sideways"), EmberError);
  EXPECT_THROW(t.createTempView("t"), EmberError);
  // The session goes on.
  EXPECT_EQ(spark_.sql("select id + 1 as x from t").collect(),
            std::vector<Row>{Row::of(int64_t{2})});
}

TEST_F(SqlTest, ReadersReadCsvJsonAndSqliteFiles) {
  std::string dir = TempDir();
  std::ofstream(dir + "/plain.csv") << "1,\"a, quoted\"\n2,\"two\nlines\"\n";
  DataFrame plain = spark_.read().csv(dir + "/plain.csv");
  EXPECT_EQ(plain.columns(), (std::vector<std::string>{"_c0", "_c1"}));
  EXPECT_EQ(plain.collect(),
            (std::vector<Row>{Row::of("1", "a, quoted"), Row::of("2", "two\nlines")}));

  std::ofstream(dir + "/bad.csv") << "id,amount\n1,2.5\nx,3\n4\n";
  auto reader = [&] {
    return spark_.read().option("header", true).schema("id int, amount double");
  };
  EXPECT_EQ(reader().csv(dir + "/bad.csv").collect(),
            (std::vector<Row>{Row::of(1, 2.5), Row::of(std::optional<int>(), 3.0),
                              Row::of(4, std::optional<double>())}));
  EXPECT_EQ(reader().option("mode", "DROPMALFORMED").csv(dir + "/bad.csv").count(), 1);
  try {
    reader().option("mode", "FAILFAST").csv(dir + "/bad.csv");
    FAIL();
  } catch (const EmberError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:3: column id: \"x\" is not a int"),
              std::string::npos)
        << e.what();
  }
  try {
    reader().csv(dir + "/missing.csv");
    FAIL();
  } catch (const EmberError& e) {
    EXPECT_NE(std::string(e.what()).find("path does not exist"), std::string::npos) << e.what();
  }

  std::ofstream(dir + "/data.json") << "{\"name\":\"a\",\"n\":1,\"x\":1.5}\n"
                                       "{\"name\":\"b\",\"n\":2,\"ok\":true}\n"
                                       "\n"
                                       "{broken\n";
  DataFrame json = spark_.read().json(dir + "/data.json");
  EXPECT_EQ(json.schema().treeString(),
            "root\n"
            " |-- n: long (nullable = true)\n"
            " |-- name: string (nullable = true)\n"
            " |-- ok: boolean (nullable = true)\n"
            " |-- x: double (nullable = true)\n");
  EXPECT_EQ(json.count(), 3);  // PERMISSIVE: the broken line is a row of NULLs
  EXPECT_EQ(json.collect()[0], (Row::of(int64_t{1}, "a", std::optional<bool>(), 1.5)));

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/codes.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "create table codes (id integer not null, name varchar(20), w real);"
                         "insert into codes values (1, 'one', 0.5), (2, NULL, 2);",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  DataFrame codes = spark_.read().sqlite(dir + "/codes.db", "codes");
  EXPECT_EQ(codes.schema().treeString(),
            "root\n"
            " |-- id: long (nullable = false)\n"
            " |-- name: string (nullable = true)\n"
            " |-- w: double (nullable = true)\n");
  EXPECT_EQ(codes.collect(),
            (std::vector<Row>{Row::of(int64_t{1}, "one", 0.5),
                              Row::of(int64_t{2}, std::optional<std::string>(), 2.0)}));
  DataFrame same = spark_.read()
                       .format("jdbc")
                       .option("url", "jdbc:sqlite:" + dir + "/codes.db")
                       .option("dbtable", "codes")
                       .load();
  EXPECT_EQ(same.collect(), codes.collect());
  EXPECT_THROW(spark_.read().sqlite(dir + "/codes.db", "nope"), EmberError);
}

TEST_F(SqlTest, TheSessionIsTheContextsAndKeepsTheFirstBuildersSettings) {
  SparkSession again =
      SparkSession::builder().config("ember.sql.shuffle.partitions", "7").getOrCreate();
  spark_.createDataFrame(std::vector<Row>{Row::of(1)}, "id int").createOrReplaceTempView("one");
  EXPECT_EQ(again.table("one").count(), 1);  // the same session
  EXPECT_EQ(again.conf().get("ember.app.name"), "test");
}

TEST(SqlSessionTest, BuilderSettingsGoIntoANewSessionsConf) {
  ManualStreams env(Seconds(1), "local[2]");
  SparkSession s =
      SparkSession::builder().config("ember.sql.shuffle.partitions", "3").getOrCreate();
  EXPECT_EQ(s.conf().get("ember.sql.shuffle.partitions"), "3");
  auto rows = env.ssc().parallelize<std::tuple<int, int>>({{1, 1}, {2, 2}, {1, 3}}, 2);
  DataFrame counts = s.createDataFrame(rows, "k int, v int").groupBy("k").count();
  EXPECT_EQ(internal::NumPartitions(counts.ref()), 3);
  EXPECT_EQ(counts.count(), 2);
}

TEST_F(SqlTest, GlobalViewsAndQueriesOverSeveralBatchViewsRunInOneTask) {
  auto a = env_.ssc().parallelize<std::tuple<int, int>>({{1, 10}, {2, 20}, {1, 5}}, 3);
  auto b = env_.ssc().parallelize<std::tuple<int, std::string>>({{1, "x"}, {2, "y"}}, 2);
  spark_.createDataFrame(a, "k int, v int").createOrReplaceTempView("a");
  spark_.createDataFrame(b, "k int, s string").createGlobalTempView("b");
  DataFrame q = spark_.sql(
      "select b.s, sum(a.v) as total from a join global_temp.b as b on a.k = b.k "
      "group by b.s order by b.s");
  EXPECT_EQ(internal::NumPartitions(q.ref()), 1);
  EXPECT_EQ(q.collect(), (std::vector<Row>{Row::of("x", int64_t{15}), Row::of("y", int64_t{20})}));
  EXPECT_EQ(q.schema().treeString(),
            "root\n |-- s: string (nullable = true)\n |-- total: long (nullable = true)\n");
  EXPECT_TRUE(spark_.dropGlobalTempView("b"));
  EXPECT_THROW(spark_.sql("select * from global_temp.b"), EmberError);
  // Static tables only.
  spark_.createDataFrame(std::vector<Row>{Row::of(3), Row::of(4)}, "n int")
      .createOrReplaceTempView("s");
  EXPECT_EQ(spark_.sql("select sum(n) from s").collect(), std::vector<Row>{Row::of(int64_t{7})});
}

// ------------------------------------------------------------------- against a reference

using Ref =
    std::vector<std::tuple<std::optional<int>, std::optional<std::string>, std::optional<double>>>;

Row ToRowOf(
    const std::tuple<std::optional<int>, std::optional<std::string>, std::optional<double>>& t) {
  return Row::of(std::get<0>(t), std::get<1>(t), std::get<2>(t));
}

std::multiset<std::string> AsSet(const std::vector<Row>& rows) {
  std::multiset<std::string> out;
  for (const Row& r : rows) out.insert(r.toString());
  return out;
}

class SqlReferenceTest : public SqlTest, public ::testing::WithParamInterface<int> {
 protected:
  Ref RandomRows(std::mt19937* rng, int n) {
    Ref out;
    std::uniform_int_distribution<int> key(0, 6), pct(0, 99), val(-50, 50);
    for (int i = 0; i < n; ++i) {
      std::optional<int> k;
      std::optional<std::string> s;
      std::optional<double> v;
      if (pct(*rng) >= 10) k = key(*rng);
      if (pct(*rng) >= 15) s = std::string(1, static_cast<char>('a' + key(*rng)));
      if (pct(*rng) >= 10) v = val(*rng) / 4.0;
      out.emplace_back(k, s, v);
    }
    return out;
  }
};

TEST_P(SqlReferenceTest, OperationsEqualAStraightforwardReference) {
  std::mt19937 rng(GetParam());
  Ref left = RandomRows(&rng, 60), right = RandomRows(&rng, 25);
  const std::string ddl = "k int, s string, v double";
  DataFrame l = spark_.createDataFrame(env_.ssc().parallelize(left, 3), ddl);
  DataFrame r = spark_.createDataFrame(env_.ssc().parallelize(right, 2), ddl);
  std::vector<Row> lrows, rrows;
  for (const auto& t : left) lrows.push_back(ToRowOf(t));
  for (const auto& t : right) rrows.push_back(ToRowOf(t));
  DataFrame rstatic = spark_.createDataFrame(rrows, StructType::fromDDL(ddl));

  // filter, withColumn, select: per partition.
  {
    std::vector<Row> want;
    for (const Row& x : lrows) {
      if (!x.isNullAt(2) && x.getDouble(2) > 1)
        want.push_back(Row::of(x.get(0), x.getDouble(2) * 2));
    }
    DataFrame got = l.filter("v > 1").withColumn("w", "v * 2").select("k", "w");
    EXPECT_EQ(got.collect(), want);
  }
  // groupBy(k).agg(count, sum, avg, min, max) and count(*).
  {
    std::map<std::optional<int>, std::tuple<int64_t, int64_t, std::optional<double>,
                                            std::optional<double>, std::optional<double>>>
        groups;  // count(*), count(v), sum(v), min(v), max(v)
    for (const auto& [k, s, v] : left) {
      auto& g = groups[k];
      std::get<0>(g)++;
      if (v) {
        std::get<1>(g)++;
        std::get<2>(g) = std::get<2>(g).value_or(0) + *v;
        std::get<3>(g) = std::min(std::get<3>(g).value_or(*v), *v);
        std::get<4>(g) = std::max(std::get<4>(g).value_or(*v), *v);
      }
    }
    std::vector<Row> want;
    for (const auto& [k, g] : groups) {
      std::optional<double> avg;
      if (std::get<1>(g) > 0) avg = *std::get<2>(g) / std::get<1>(g);
      want.push_back(Row::of(k, std::get<0>(g), std::get<1>(g), std::get<2>(g), avg, std::get<3>(g),
                             std::get<4>(g)));
    }
    using namespace functions;
    DataFrame got =
        l.groupBy("k").agg(count("*"), count("v"), sum("v"), avg("v"), min("v"), max("v"));
    EXPECT_EQ(got.columns(), (std::vector<std::string>{"k", "count(1)", "count(v)", "sum(v)",
                                                       "avg(v)", "min(v)", "max(v)"}));
    EXPECT_EQ(AsSet(got.collect()), AsSet(want));
    EXPECT_EQ(l.groupBy("k").count().count(), static_cast<int64_t>(groups.size()));
    // A global aggregate over no rows: one row, count 0, sum NULL.
    EXPECT_EQ(l.filter("1 = 0").groupBy().agg(count("*"), sum("v")).collect(),
              (std::vector<Row>{Row::of(int64_t{0}, std::optional<double>())}));
  }
  // Joins on k, shuffled and with the right side broadcast (static).
  for (const std::string how : {"inner", "left", "right", "full", "semi", "anti"}) {
    std::vector<Row> want;
    std::vector<bool> right_matched(rrows.size(), false);
    for (const Row& a : lrows) {
      bool matched = false;
      for (size_t j = 0; j < rrows.size(); ++j) {
        const Row& b = rrows[j];
        if (a.isNullAt(0) || b.isNullAt(0) || a.getInt(0) != b.getInt(0)) continue;
        matched = true;
        right_matched[j] = true;
        if (how != "semi" && how != "anti") {
          want.push_back(Row::of(a.get(0), a.get(1), a.get(2), b.get(1), b.get(2)));
        }
      }
      if (how == "semi" && matched) want.push_back(a);
      if (how == "anti" && !matched) want.push_back(a);
      if (!matched && (how == "left" || how == "full")) {
        want.push_back(Row::of(a.get(0), a.get(1), a.get(2), Value(), Value()));
      }
    }
    if (how == "right" || how == "full") {
      for (size_t j = 0; j < rrows.size(); ++j) {
        if (!right_matched[j]) {
          const Row& b = rrows[j];
          want.push_back(Row::of(b.get(0), Value(), Value(), b.get(1), b.get(2)));
        }
      }
    }
    EXPECT_EQ(AsSet(l.join(r, "k", how).collect()), AsSet(want)) << how << " (shuffled)";
    EXPECT_EQ(AsSet(l.join(rstatic, "k", how).collect()), AsSet(want)) << how << " (broadcast)";
  }
  // orderBy (NULLs first ascending, last descending), limit, distinct, union.
  {
    std::vector<Row> want = lrows;
    std::stable_sort(want.begin(), want.end(), [](const Row& a, const Row& b) {
      int c = a.get(0).Compare(b.get(0));
      if (c != 0) return c < 0;
      return b.get(2).Compare(a.get(2)) < 0;
    });
    std::vector<Row> got = l.orderBy("k", "v desc").collect();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].get(0), want[i].get(0)) << i;
      EXPECT_EQ(got[i].get(2), want[i].get(2)) << i;
    }
    std::vector<Row> top = l.orderBy("k", "v desc").limit(5).collect();
    ASSERT_EQ(top.size(), 5u);
    for (size_t i = 0; i < 5; ++i) EXPECT_EQ(top[i].get(0), want[i].get(0));
    EXPECT_EQ(l.limit(7).count(), 7);
    std::set<std::string> distinct;
    for (const Row& x : lrows) distinct.insert(x.toString());
    std::vector<Row> d = l.distinct().collect();
    EXPECT_EQ(d.size(), distinct.size());
    EXPECT_EQ(l.union_(r).count(), static_cast<int64_t>(lrows.size() + rrows.size()));
  }
  // The same aggregation as SQL, over a view.
  l.createOrReplaceTempView("l");
  EXPECT_EQ(AsSet(spark_.sql("select k, count(*) as count from l group by k").collect()),
            AsSet(l.groupBy("k").count().collect()));
}

INSTANTIATE_TEST_SUITE_P(Seeds, SqlReferenceTest, ::testing::Values(1, 2, 3));

}  // namespace
}  // namespace sql
}  // namespace ember
