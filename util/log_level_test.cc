#include "util/log_level.h"

#include <glog/logging.h>
#include <gtest/gtest.h>

namespace ember {
namespace internal {
namespace {

TEST(LogLevelTest, SparksNamesMapOntoGlog) {
  ASSERT_TRUE(SetLogLevel("ERROR").ok());
  EXPECT_EQ(FLAGS_minloglevel, google::GLOG_ERROR);
  ASSERT_TRUE(SetLogLevel("warn").ok());
  EXPECT_EQ(FLAGS_minloglevel, google::GLOG_WARNING);
  ASSERT_TRUE(SetLogLevel("Debug").ok());
  EXPECT_EQ(FLAGS_minloglevel, google::GLOG_INFO);
  EXPECT_EQ(FLAGS_v, 1);
  ASSERT_TRUE(SetLogLevel("TRACE").ok());
  EXPECT_EQ(FLAGS_v, 2);
  ASSERT_TRUE(SetLogLevel("INFO").ok());
  EXPECT_EQ(FLAGS_v, 0);
}

TEST(LogLevelTest, AnUnknownNameIsRefusedAndChangesNothing) {
  ASSERT_TRUE(SetLogLevel("WARN").ok());
  absl::Status s = SetLogLevel("loud");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("ALL, TRACE, DEBUG, INFO, WARN, ERROR, FATAL or OFF"),
            std::string::npos);
  EXPECT_EQ(FLAGS_minloglevel, google::GLOG_WARNING);
}

}  // namespace
}  // namespace internal
}  // namespace ember
