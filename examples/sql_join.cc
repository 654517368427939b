// The seed's DataFrame program: every batch of "id,amount" lines becomes a DataFrame and the
// temporary view `newdata`, joined by SQL with the static table `codes` (a CSV file of id,name)
// and shown. A batch that cannot be processed (a malformed line) prints its records instead,
// as the seed's try/except does, and the next batch runs.
//
//   ember-submit --master 'local[2]' libsql_join.so --
//       CODES_CSV [HOST [PORT [BATCH_MS [RUN_MS [SHOW_ROWS]]]]]
//
// Defaults: localhost 9999, 5000 ms batches, runs 10000 ms, show() of 20 rows.

#include <cstdint>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include "common/ember.h"
#include "common/sql.h"

namespace sql = ember::sql;

// "7,12.5" -> (7, 12.5f); throws on anything else, failing the batch's job.
struct ParseLine {
  std::tuple<int32_t, float> operator()(const std::string& line) const {
    const size_t comma = line.find(',');
    const std::string id = line.substr(0, comma);
    const std::string amount = comma == std::string::npos ? "" : line.substr(comma + 1);
    size_t used_id = 0, used_amount = 0;
    int32_t i = 0;
    float a = 0;
    try {
      i = std::stoi(id, &used_id);
      a = std::stof(amount, &used_amount);
    } catch (const std::exception&) {
      used_id = 0;
    }
    if (used_id == 0 || used_id != id.size() || used_amount != amount.size()) {
      throw ember::EmberError("not an id,amount line: \"" + line + "\"");
    }
    return {i, a};
  }
};

EMBER_JOB(run) {
  const auto& args = job.args();
  if (args.empty())
    throw ember::EmberError("usage: CODES_CSV [HOST [PORT [BATCH_MS [RUN_MS [SHOW_ROWS]]]]]");
  const std::string codes = args[0];
  const std::string host = args.size() > 1 ? args[1] : "localhost";
  const int port = args.size() > 2 ? std::stoi(args[2]) : 9999;
  const int64_t batch_ms = args.size() > 3 ? std::stoll(args[3]) : 5000;
  const int64_t run_ms = args.size() > 4 ? std::stoll(args[4]) : 10000;
  const int show_rows = args.size() > 5 ? std::stoi(args[5]) : 20;

  ember::StreamingContext ssc(job.conf(), ember::Milliseconds(batch_ms));
  // The static table, read once on the driver and broadcast to the executors.
  auto spark = sql::SparkSession::builder().config(ssc.conf()).getOrCreate();
  spark.read()
      .option("header", true)
      .schema("id INT, name STRING")
      .csv(codes)
      .createOrReplaceTempView("codes");

  auto stream = ssc.socketTextStream(host, port);
  stream.foreachRDD([show_rows](const ember::Rdd<std::string>& rdd, ember::Time) {
    try {
      auto spark = sql::SparkSession::builder().getOrCreate();  // the application's session
      auto rdd1 = rdd.map(ParseLine{});
      auto df = spark.createDataFrame(rdd1, "id:int, amount:float");
      df.createOrReplaceTempView("newdata");
      auto join = spark.sql(
          "select n.id, c.name, n.amount from newdata as n join codes as c on n.id = c.id");
      join.show(show_rows);
    } catch (const ember::EmberError& e) {
      std::string records;
      ember::Show(rdd.collect(), &records);
      std::cerr << "batch failed: " << e.what() << "\n";
      std::cout << records << std::endl;
    }
  });
  ssc.start();
  ssc.awaitTerminationOrTimeout(run_ms);
  ssc.stop();
}
