// A real protobuf message as a record: the codec and print() use the message's own methods.
#include <gtest/gtest.h>

#include "common/codec.h"
#include "common/show.h"
#include "proto/task.pb.h"

namespace ember {
namespace {

TEST(ProtoCodecTest, RoundTripsAndShows) {
  proto::OpSpec spec;
  spec.set_key("k");
  spec.set_closure(std::string("\0\1", 2));
  static_assert(kHasCodec<proto::OpSpec>);
  proto::OpSpec back;
  ASSERT_TRUE(DecodeFromString(EncodeToString(spec), &back));
  EXPECT_EQ(back.key(), "k");
  EXPECT_EQ(back.closure(), std::string("\0\1", 2));
  EXPECT_EQ(ToShowString(spec), spec.ShortDebugString());
  EXPECT_FALSE(DecodeFromString(std::string("\x05\xff", 2), &back));
}

}  // namespace
}  // namespace ember
