// LogStreamDecoder, ParseDockerTimestamp and DockerSince on bodies built here in the engine's
// formats (the real engine's bodies are read in docker_client_test.cc).
#include "src/agent/docker/log_stream.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::agent::docker {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSecond = 1'000'000'000;
// 2024-01-02T03:04:05Z.
constexpr int64_t kBase = int64_t{1704164645} * kSecond;

// The engine's timestamp of kBase + `nanos`: always 9 fractional digits.
std::string Ts(int nanos) {
  std::string digits = std::to_string(nanos);
  return "2024-01-02T03:04:05." + std::string(9 - digits.size(), '0') + digits + "Z";
}

// A multiplexed frame.
std::string Frame(int stream, const std::string& payload) {
  const uint32_t size = static_cast<uint32_t>(payload.size());
  std::string out = {static_cast<char>(stream), 0, 0, 0};
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((size >> shift) & 0xff));
  return out + payload;
}

struct Decoded {
  absl::Status status;
  std::vector<LogLine> lines;
};

// Feeds `body` in pieces cut at `cuts` (ascending offsets), then finishes.
Decoded Decode(bool tty, const std::string& body, const std::vector<size_t>& cuts = {}) {
  LogStreamDecoder decoder(tty);
  Decoded out;
  auto emit = [&](LogLine line) { out.lines.push_back(std::move(line)); };
  size_t start = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(body.size());
  for (size_t end : ends) {
    out.status = decoder.Feed(std::string_view(body).substr(start, end - start), emit);
    if (!out.status.ok()) return out;
    start = end;
  }
  decoder.Finish(emit);
  return out;
}

// "stream@nanos:text" per line, for readable comparisons.
std::vector<std::string> Describe(const std::vector<LogLine>& lines) {
  std::vector<std::string> out;
  for (const LogLine& line : lines) {
    out.push_back(std::to_string(line.stream) + "@" + std::to_string(line.timestamp_ns - kBase) + ":" + line.text +
                  (line.truncated ? " [truncated]" : ""));
  }
  return out;
}

TEST(ParseDockerTimestampTest, Table) {
  struct Row {
    const char* what;
    std::string text;
    int64_t want;
  };
  const std::vector<Row> rows = {
      {"the engine's form: 9 digits, Z", "2024-01-02T03:04:05.123456789Z", kBase + 123456789},
      {"no fraction", "2024-01-02T03:04:05Z", kBase},
      {"one digit", "2024-01-02T03:04:05.5Z", kBase + 500000000},
      {"three digits", "2024-01-02T03:04:05.120Z", kBase + 120000000},
      {"more than 9 digits are cut", "2024-01-02T03:04:05.1234567899Z", kBase + 123456789},
      {"east of UTC", "2024-01-02T08:34:05.000000001+05:30", kBase + 1},
      {"west of UTC", "2024-01-01T19:04:05-08:00", kBase},
      {"leap day", "2024-02-29T00:00:00Z", int64_t{1709164800} * kSecond},
      {"before 1970", "1969-12-31T23:59:59.5Z", -kSecond / 2},
      {"epoch", "1970-01-01T00:00:00Z", 0},
      {"last second int64 holds", "2262-04-11T23:47:16.854775807Z", INT64_MAX},
  };
  for (const Row& row : rows) {
    absl::StatusOr<int64_t> got = ParseDockerTimestamp(row.text);
    ASSERT_TRUE(got.ok()) << row.what << ": " << got.status();
    EXPECT_EQ(*got, row.want) << row.what;
  }
}

TEST(ParseDockerTimestampTest, RejectsNamingTheRule) {
  struct Row {
    const char* what;
    std::string text;
    const char* rule;
  };
  const std::vector<Row> rows = {
      {"empty", "", "must be YYYY-MM-DDTHH:MM:SS"},
      {"no zone", "2024-01-02T03:04:05.1", "must end with Z or an offset"},
      {"space for T", "2024-01-02 03:04:05Z", "must be YYYY-MM-DDTHH:MM:SS"},
      {"month 13", "2024-13-02T03:04:05Z", "the month must be 01 to 12"},
      {"February 29 of 2023", "2023-02-29T03:04:05Z", "the day does not exist"},
      {"hour 24", "2024-01-02T24:00:00Z", "the time of day"},
      {"dot without digits", "2024-01-02T03:04:05.Z", "fractional digits"},
      {"offset without colon", "2024-01-02T03:04:05+0530", "the offset must be"},
      {"trailing text", "2024-01-02T03:04:05Zx", "unexpected characters"},
      {"after 2262", "2262-04-11T23:47:16.854775808Z", "int64 nanoseconds"},
      {"year 1000", "1000-01-01T00:00:00Z", "int64 nanoseconds"},
  };
  for (const Row& row : rows) {
    absl::StatusOr<int64_t> got = ParseDockerTimestamp(row.text);
    ASSERT_FALSE(got.ok()) << row.what;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << row.what;
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(row.rule)) << row.what << ": " << got.status();
  }
}

TEST(DockerSinceTest, SecondsDotNineDigits) {
  EXPECT_EQ(DockerSince(int64_t{1733650000} * kSecond + 1), "1733650000.000000001");
  EXPECT_EQ(DockerSince(kBase + 123456789), "1704164645.123456789");
  EXPECT_EQ(DockerSince(0), "0.000000000");
  EXPECT_EQ(DockerSince(-1), "-1.999999999");
  // Round trip through the engine's form.
  absl::StatusOr<int64_t> parsed = ParseDockerTimestamp(Ts(42));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(DockerSince(*parsed), "1704164645.000000042");
}

// stdout and stderr interleaved, with a stdout line cut into three partial messages and a stderr
// line cut into two around them, an empty line, and a last stdout line without its newline.
std::string InterleavedBody() {
  return Frame(1, Ts(1) + " out one\n") +      //
         Frame(2, Ts(2) + " err one\n") +      //
         Frame(1, Ts(3) + " long stdout ") +   // partial
         Frame(2, Ts(4) + " long ") +          // partial
         Frame(1, Ts(3) + " line in ") +       // partial
         Frame(2, Ts(6) + " stderr\n") +       // ends the stderr line
         Frame(1, Ts(3) + " three parts\n") +  // ends the stdout line
         Frame(1, Ts(8) + " \n") +             // an empty line
         Frame(2, "") +                        // an empty frame
         Frame(1, Ts(9) + " no newline at the end");
}

const std::vector<std::string> kInterleavedLines = {
    "1@1:out one",
    "2@2:err one",
    "2@4:long stderr",
    "1@3:long stdout line in three parts",
    "1@8:",
    "1@9:no newline at the end",
};

TEST(LogStreamDecoderTest, InterleavedStreamsAndPartialLines) {
  Decoded got = Decode(/*tty=*/false, InterleavedBody());
  ASSERT_TRUE(got.status.ok()) << got.status;
  EXPECT_EQ(Describe(got.lines), kInterleavedLines);
  for (const LogLine& line : got.lines) EXPECT_FALSE(line.truncated);
}

TEST(LogStreamDecoderTest, FramesCutAtEveryByte) {
  const std::string body = InterleavedBody();
  for (size_t cut = 1; cut < body.size(); ++cut) {
    Decoded got = Decode(false, body, {cut});
    ASSERT_TRUE(got.status.ok()) << "cut at " << cut << ": " << got.status;
    ASSERT_EQ(Describe(got.lines), kInterleavedLines) << "cut at " << cut;
  }
  std::vector<size_t> every_byte;
  for (size_t cut = 1; cut < body.size(); ++cut) every_byte.push_back(cut);
  Decoded got = Decode(false, body, every_byte);
  ASSERT_TRUE(got.status.ok()) << got.status;
  EXPECT_EQ(Describe(got.lines), kInterleavedLines);
}

TEST(LogStreamDecoderTest, LinesAreEmittedAsSoonAsTheyAreComplete) {
  LogStreamDecoder decoder(false);
  std::vector<LogLine> lines;
  auto emit = [&](LogLine line) { lines.push_back(std::move(line)); };
  ASSERT_TRUE(decoder.Feed(Frame(1, Ts(1) + " a\n") + Frame(1, Ts(2) + " b"), emit).ok());
  EXPECT_EQ(Describe(lines), std::vector<std::string>{"1@1:a"});
  EXPECT_EQ(lines.size(), 1u) << "the stdout line is not complete";
  ASSERT_TRUE(decoder.Feed(Frame(2, Ts(3) + " e\n"), emit).ok());
  ASSERT_TRUE(decoder.Feed(Frame(1, Ts(2) + " c\n"), emit).ok());
  EXPECT_EQ(Describe(lines), (std::vector<std::string>{"1@1:a", "2@3:e", "1@2:bc"}));
}

TEST(LogStreamDecoderTest, ALineLongerThanTheCapIsCutAndTheNextOneIsWhole) {
  const std::string part(LogStreamDecoder::kPartialMessageBytes, 'x');
  std::string body;
  // 65 parts of 16 KiB: 16 KiB more than the cap.
  for (int k = 0; k < 65; ++k) body += Frame(1, Ts(1) + " " + part);
  body += Frame(1, Ts(1) + " tail\n") + Frame(1, Ts(2) + " next\n");
  Decoded got = Decode(false, body);
  ASSERT_TRUE(got.status.ok()) << got.status;
  ASSERT_EQ(got.lines.size(), 2u);
  EXPECT_TRUE(got.lines[0].truncated);
  EXPECT_EQ(got.lines[0].text, std::string(LogStreamDecoder::kMaxLineBytes, 'x'));
  EXPECT_FALSE(got.lines[1].truncated);
  EXPECT_EQ(got.lines[1].text, "next");
}

// A TTY body: no frames, "\r\n" line ends, a line of 40,000 bytes cut by the engine into parts
// of 16 KiB, and a line of exactly 16 KiB (its empty last part is a message of its own).
std::string TtyBody() {
  const std::string long_line(40000, 'y');
  const size_t part = LogStreamDecoder::kPartialMessageBytes;
  return Ts(1) + " hello\r\n" +                                    //
         Ts(2) + " " + long_line.substr(0, part) +                 //
         Ts(2) + " " + long_line.substr(part, part) +              //
         Ts(2) + " " + long_line.substr(2 * part) + "\r\n" +       //
         Ts(5) + " " + std::string(part, 'z') + Ts(5) + " \r\n" +  //
         Ts(6) + " bye";
}

TEST(LogStreamDecoderTest, TtyBodyHasNoFramesAndSplitsLongLinesAtTheEnginesPartSize) {
  const std::vector<std::string> want = {
      "1@1:hello",
      "1@2:" + std::string(40000, 'y'),
      "1@5:" + std::string(LogStreamDecoder::kPartialMessageBytes, 'z'),
      "1@6:bye",
  };
  const std::string body = TtyBody();
  Decoded whole = Decode(/*tty=*/true, body);
  ASSERT_TRUE(whole.status.ok()) << whole.status;
  EXPECT_EQ(Describe(whole.lines), want);
  // Cut around the places where parts meet, byte by byte, and at a few others.
  const size_t first_part_end = Ts(1).size() + 8 + Ts(2).size() + 1 + LogStreamDecoder::kPartialMessageBytes;
  for (size_t cut = first_part_end - 3; cut < first_part_end + Ts(2).size() + 3; ++cut) {
    Decoded got = Decode(true, body, {cut});
    ASSERT_TRUE(got.status.ok()) << "cut at " << cut << ": " << got.status;
    ASSERT_EQ(Describe(got.lines), want) << "cut at " << cut;
  }
  for (size_t cut = 1; cut < 60; ++cut) {
    Decoded got = Decode(true, body, {cut, body.size() - cut});
    ASSERT_TRUE(got.status.ok()) << "cut at " << cut << ": " << got.status;
    ASSERT_EQ(Describe(got.lines), want) << "cut at " << cut;
  }
}

TEST(LogStreamDecoderTest, TtyTextAfterAFullPartThatIsNoTimestampStaysText) {
  const std::string part(LogStreamDecoder::kPartialMessageBytes, 'a');
  Decoded got = Decode(true, Ts(1) + " " + part + "not-a-timestamp and more\n" + Ts(2) + " x\n");
  ASSERT_TRUE(got.status.ok()) << got.status;
  EXPECT_EQ(Describe(got.lines), (std::vector<std::string>{"1@1:" + part + "not-a-timestamp and more", "1@2:x"}));
}

TEST(LogStreamDecoderTest, MalformedBodiesAreErrorsNamingWhatIsWrong) {
  struct Row {
    const char* what;
    bool tty;
    std::string body;
    absl::StatusCode code;
    const char* want;
  };
  const std::vector<Row> rows = {
      {"unknown stream", false, Frame(5, Ts(1) + " a\n"), absl::StatusCode::kInternal,
       "the frame header at byte 0 names stream 5, not 1 (stdout), 2 (stderr) or 3"},
      {"stdin", false, Frame(1, Ts(1) + " a\n") + Frame(0, "x"), absl::StatusCode::kInternal,
       "the frame header at byte 41 names stream 0"},
      {"padding not zero", false, std::string("\x01\x00\x07\x00\x00\x00\x00\x01x", 9), absl::StatusCode::kInternal,
       "has non-zero bytes 1 to 3 (0, 7, 0)"},
      {"no timestamp", false, Frame(1, "hello world\n"), absl::StatusCode::kInternal,
       "the message at byte 8: timestamp \"hello\": must be YYYY-MM-DDTHH:MM:SS"},
      {"a line without a space", false, Frame(1, "hello\n"), absl::StatusCode::kInternal,
       "the message at byte 8 does not start with a timestamp and a space: \"hello\\x0a\""},
      {"bad timestamp", true, Ts(1) + " a\n2024-13-01T00:00:00Z b\n", absl::StatusCode::kInternal,
       "the message at byte 33: timestamp \"2024-13-01T00:00:00Z\": the month must be 01 to 12"},
      {"frame ends inside a timestamp", false, Frame(1, "2024-01-02T03"), absl::StatusCode::kInternal,
       "ends inside a message's timestamp \"2024-01-02T03\""},
      {"the engine's own error", false, Frame(1, Ts(1) + " a\n") + Frame(3, "Error grabbing logs: log file corrupt\n"),
       absl::StatusCode::kUnknown,
       "the Docker engine reported an error in the log stream: Error grabbing logs: log file corrupt"},
  };
  for (const Row& row : rows) {
    Decoded got = Decode(row.tty, row.body);
    EXPECT_EQ(got.status.code(), row.code) << row.what << ": " << got.status;
    EXPECT_THAT(std::string(got.status.message()), HasSubstr(row.want)) << row.what;
  }
}

}  // namespace
}  // namespace berth::agent::docker
