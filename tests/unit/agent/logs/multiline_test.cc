// MultilineAssembler: the datetime-format conversion, grouping by pattern and by datetime format,
// flushing by age (explicit times), the event size limit, and the options' errors.
#include "src/agent/logs/multiline.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::agent::logs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSecond = 1'000'000'000;

// Collects what an assembler emits.
struct Sink {
  std::vector<AssembledEvent> events;
  std::function<void(AssembledEvent)> emit() {
    return [this](AssembledEvent event) { events.push_back(std::move(event)); };
  }
  std::vector<std::string> messages() const {
    std::vector<std::string> out;
    for (const AssembledEvent& e : events) out.push_back(e.message);
    return out;
  }
};

std::unique_ptr<MultilineAssembler> MustCreate(std::string_view datetime_format, std::string_view pattern,
                                               absl::Duration flush_after = MultilineAssembler::kDefaultFlushAfter) {
  absl::StatusOr<std::unique_ptr<MultilineAssembler>> created =
      MultilineAssembler::Create(datetime_format, pattern, flush_after);
  EXPECT_TRUE(created.ok()) << created.status();
  return created.ok() ? std::move(*created) : nullptr;
}

TEST(DatetimeFormatToRegexTest, Conversions) {
  struct Row {
    const char* what;
    std::string format;
    std::string want;
  };
  const std::vector<Row> rows = {
      {"date and time", "%Y-%m-%d %H:%M:%S",
       R"(^\d{4}\-(?:0[1-9]|1[0-2])\-(?:0[1-9]|[12][0-9]|3[01])\ (?:[01][0-9]|2[0-3])\:[0-5][0-9]\:[0-5][0-9])"},
      {"brackets are literal", "[%b %d",
       R"(^\[(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\ (?:0[1-9]|[12][0-9]|3[01]))"},
      {"milliseconds bring their dot", "%S%L", R"(^[0-5][0-9]\.\d{3})"},
      {"microseconds", "%f", R"(^\d{6})"},
      {"percent", "100%%", R"(^100%)"},
      {"12-hour clock", "%I %p", R"(^(?:0[0-9]|1[0-2])\ [AP]M)"},
      {"zones", "%z %Z", R"(^[+-]\d{4}\ [A-Z]{1,4}T)"},
      {"weekdays and months", "%a %A %B",
       "^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\\ (?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\\ "
       "(?:January|February|March|April|May|June|July|August|September|October|November|December)"},
      {"day of year, weeks, weekday, short year", "%j %U %W %w %y",
       R"(^(?:00[1-9]|0[1-9][0-9]|[12][0-9][0-9]|3[0-5][0-9]|36[0-6])\ (?:[0-4][0-9]|5[0-3])\ (?:[0-4][0-9]|5[0-3])\ [0-6]\ \d{2})"},
      {"no directive at all", "ERROR", "^ERROR"},
  };
  for (const Row& row : rows) {
    absl::StatusOr<std::string> got = MultilineAssembler::DatetimeFormatToRegex(row.format);
    ASSERT_TRUE(got.ok()) << row.what << ": " << got.status();
    EXPECT_EQ(*got, row.want) << row.what;
  }
}

TEST(DatetimeFormatToRegexTest, WhichLinesStartAnEvent) {
  struct Row {
    const char* what;
    std::string format;
    std::string line;
    bool starts;
  };
  const std::vector<Row> rows = {
      {"ISO date", "%Y-%m-%d %H:%M:%S", "2024-01-02 03:04:05 INFO up", true},
      {"date not at the start", "%Y-%m-%d %H:%M:%S", "at 2024-01-02 03:04:05", false},
      {"month 13", "%Y-%m-%d", "2024-13-02 x", false},
      {"day 31", "%Y-%m-%d", "2024-01-31", true},
      {"day 32", "%Y-%m-%d", "2024-01-32", false},
      {"bracketed", "[%b %d, %Y %H:%M:%S]", "[Jan 02, 2024 03:04:05] boom", true},
      {"bracketed, no bracket", "[%b %d, %Y %H:%M:%S]", "Jan 02, 2024 03:04:05 boom", false},
      {"a dot is only a dot", "%H.%M", "03x04", false},
      {"milliseconds", "%H:%M:%S%L", "03:04:05.123 x", true},
      {"day of year 010", "%Y/%j", "2024/010", true},
      {"day of year 367", "%Y/%j", "2024/367", false},
      {"percent", "%%%d", "%07", true},
      {"zone", "%H:%M %Z", "10:00 PST", true},
  };
  for (const Row& row : rows) {
    std::unique_ptr<MultilineAssembler> assembler = MustCreate(row.format, "");
    ASSERT_NE(assembler, nullptr) << row.what;
    Sink sink;
    assembler->Add(1, "first", sink.emit());
    assembler->Add(2, row.line, sink.emit());
    assembler->Finish(sink.emit());
    EXPECT_EQ(sink.events.size(), row.starts ? 2u : 1u) << row.what;
  }
}

TEST(DatetimeFormatToRegexTest, RejectsNamingTheOptionAndTheRule) {
  struct Row {
    std::string format;
    const char* rule;
  };
  const std::vector<Row> rows = {
      {"", "must not be empty"},
      {"%Y-%Q", "unknown directive %Q; the directives are %a %A %b"},
      {"%T", "unknown directive %T"},
      {"%H%", "ends with a lone '%'"},
  };
  for (const Row& row : rows) {
    absl::StatusOr<std::string> got = MultilineAssembler::DatetimeFormatToRegex(row.format);
    ASSERT_FALSE(got.ok()) << row.format;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(got.status().message()), HasSubstr("log opt 'awslogs-datetime-format' \"" + row.format));
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(row.rule)) << got.status();
  }
}

TEST(MultilineAssemblerTest, JavaStackTracesWithAPattern) {
  std::unique_ptr<MultilineAssembler> assembler = MustCreate("", R"(^\d{4}-\d{2}-\d{2} )");
  ASSERT_NE(assembler, nullptr);
  Sink sink;
  const std::vector<std::string> lines = {
      "Picked up JAVA_TOOL_OPTIONS",  // before any match: an event of its own lines
      "  -Xmx512m",
      "2024-01-02 03:04:05 ERROR request failed",
      "java.lang.IllegalStateException: boom",
      "\tat com.example.Handler.handle(Handler.java:42)",
      "\tat com.example.Server.run(Server.java:7)",
      "Caused by: java.io.IOException: closed",
      "\t... 2 more",
      "2024-01-02 03:04:06 INFO recovered",
      "2024-01-02 03:04:07 INFO done",
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    assembler->Add(static_cast<int64_t>(i + 1) * kMs, lines[i], sink.emit());
    if (i == 2) {
      // The first event goes out when the first match starts the next one.
      EXPECT_THAT(sink.messages(), ElementsAre("Picked up JAVA_TOOL_OPTIONS\n  -Xmx512m"));
    }
  }
  EXPECT_TRUE(assembler->has_pending());
  assembler->Finish(sink.emit());
  EXPECT_FALSE(assembler->has_pending());
  EXPECT_THAT(sink.messages(), ElementsAre("Picked up JAVA_TOOL_OPTIONS\n  -Xmx512m",
                                           "2024-01-02 03:04:05 ERROR request failed\n"
                                           "java.lang.IllegalStateException: boom\n"
                                           "\tat com.example.Handler.handle(Handler.java:42)\n"
                                           "\tat com.example.Server.run(Server.java:7)\n"
                                           "Caused by: java.io.IOException: closed\n"
                                           "\t... 2 more",
                                           "2024-01-02 03:04:06 INFO recovered", "2024-01-02 03:04:07 INFO done"));
  // Each event carries its first line's timestamp.
  ASSERT_EQ(sink.events.size(), 4u);
  EXPECT_EQ(sink.events[0].timestamp_ns, 1 * kMs);
  EXPECT_EQ(sink.events[1].timestamp_ns, 3 * kMs);
  EXPECT_EQ(sink.events[2].timestamp_ns, 9 * kMs);
  EXPECT_EQ(sink.events[3].timestamp_ns, 10 * kMs);
}

TEST(MultilineAssemblerTest, APatternMatchesAnywhereInTheLine) {
  std::unique_ptr<MultilineAssembler> assembler = MustCreate("", "BEGIN");
  ASSERT_NE(assembler, nullptr);
  Sink sink;
  for (std::string_view line : {"x BEGIN 1", "a", "y BEGIN 2", "b", "c"}) assembler->Add(1, line, sink.emit());
  assembler->Finish(sink.emit());
  EXPECT_THAT(sink.messages(), ElementsAre("x BEGIN 1\na", "y BEGIN 2\nb\nc"));
}

TEST(MultilineAssemblerTest, GroupsByDatetimeFormat) {
  std::unique_ptr<MultilineAssembler> assembler = MustCreate("[%b %d, %Y %H:%M:%S]", "");
  ASSERT_NE(assembler, nullptr);
  Sink sink;
  for (std::string_view line : {"[Jan 02, 2024 03:04:05] Traceback (most recent call last):",
                                "  File \"app.py\", line 3, in <module>", "ZeroDivisionError: division by zero",
                                "[Jan 02, 2024 03:04:06] ok", "  note: [Jan 02, 2024 03:04:07] is not at the start"}) {
    assembler->Add(1, line, sink.emit());
  }
  assembler->Finish(sink.emit());
  EXPECT_THAT(sink.messages(), ElementsAre("[Jan 02, 2024 03:04:05] Traceback (most recent call last):\n"
                                           "  File \"app.py\", line 3, in <module>\n"
                                           "ZeroDivisionError: division by zero",
                                           "[Jan 02, 2024 03:04:06] ok\n"
                                           "  note: [Jan 02, 2024 03:04:07] is not at the start"));
}

TEST(MultilineAssemblerTest, WithoutAPatternEveryLineIsAnEventAtOnce) {
  std::unique_ptr<MultilineAssembler> assembler = MustCreate("", "");
  ASSERT_NE(assembler, nullptr);
  Sink sink;
  assembler->Add(5, "one", sink.emit());
  EXPECT_THAT(sink.messages(), ElementsAre("one"));
  assembler->Add(6, "", sink.emit());  // CloudWatch takes no empty message
  assembler->Add(7, "\tindented", sink.emit());
  EXPECT_FALSE(assembler->has_pending());
  assembler->Finish(sink.emit());
  EXPECT_THAT(sink.messages(), ElementsAre("one", "\tindented"));
  EXPECT_EQ(sink.events[1].timestamp_ns, 7);
}

TEST(MultilineAssemblerTest, FlushEmitsOnlyWhatWaitedLongEnough) {
  std::unique_ptr<MultilineAssembler> assembler = MustCreate("", "^START", absl::Seconds(5));
  ASSERT_NE(assembler, nullptr);
  Sink sink;
  const int64_t t0 = 1'700'000'000 * kSecond;
  assembler->Add(t0, "START a", sink.emit());
  assembler->Add(t0 + 3 * kSecond, "  more", sink.emit());
  assembler->Flush(t0 + 5 * kSecond - 1, sink.emit());
  EXPECT_TRUE(sink.events.empty()) << "the age counts from the first line";
  assembler->Flush(t0 + 5 * kSecond, sink.emit());
  ASSERT_THAT(sink.messages(), ElementsAre("START a\n  more"));
  EXPECT_EQ(sink.events[0].timestamp_ns, t0);

  // After a flush, the next line starts a new event even when it does not match.
  assembler->Add(t0 + 6 * kSecond, "  late continuation", sink.emit());
  assembler->Flush(t0 + 6 * kSecond, sink.emit());
  EXPECT_EQ(sink.events.size(), 1u);
  // A clock that went back behind the event flushes it.
  assembler->Flush(t0 + 5 * kSecond, sink.emit());
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.events[1].message, "  late continuation");
  EXPECT_EQ(sink.events[1].timestamp_ns, t0 + 6 * kSecond);
  assembler->Flush(t0 + 100 * kSecond, sink.emit());  // nothing pending
  EXPECT_EQ(sink.events.size(), 2u);
}

TEST(MultilineAssemblerTest, ACustomFlushInterval) {
  std::unique_ptr<MultilineAssembler> assembler = MustCreate("%H:%M", "", absl::Milliseconds(250));
  ASSERT_NE(assembler, nullptr);
  Sink sink;
  assembler->Add(1000 * kMs, "10:00 a", sink.emit());
  assembler->Flush(1249 * kMs, sink.emit());
  EXPECT_TRUE(sink.events.empty());
  assembler->Flush(1250 * kMs, sink.emit());
  EXPECT_THAT(sink.messages(), ElementsAre("10:00 a"));
}

TEST(MultilineAssemblerTest, AnEventNeverExceedsTheMaximumSize) {
  constexpr size_t kMax = MultilineAssembler::kMaxEventBytes;
  std::unique_ptr<MultilineAssembler> assembler = MustCreate("", "^START");
  ASSERT_NE(assembler, nullptr);
  Sink sink;
  // Two lines that, with the "\n" between them, make exactly the maximum: one event.
  const std::string first = "START" + std::string(100000 - 5, 'a');
  const std::string second(kMax - 100000 - 1, 'b');
  assembler->Add(1, first, sink.emit());
  assembler->Add(2, second, sink.emit());
  EXPECT_TRUE(sink.events.empty());
  // One byte more does not fit: the event goes out and the line starts the next one.
  assembler->Add(3, "c", sink.emit());
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].message.size(), kMax);
  EXPECT_EQ(sink.events[0].message, first + "\n" + second);
  assembler->Finish(sink.emit());
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.events[1].message, "c");
  EXPECT_EQ(sink.events[1].timestamp_ns, 3);
}

TEST(MultilineAssemblerTest, ALineLongerThanTheMaximumIsCutBetweenCharacters) {
  constexpr size_t kMax = MultilineAssembler::kMaxEventBytes;
  for (std::string_view pattern : {"", "^START"}) {
    std::unique_ptr<MultilineAssembler> assembler = MustCreate("", pattern);
    ASSERT_NE(assembler, nullptr);
    Sink sink;
    // "\u20ac" is 3 bytes, and the maximum is not a multiple of 3: the cut falls 2 bytes short.
    std::string line;
    for (int i = 0; i < 100000; ++i) line += "\xe2\x82\xac";
    assembler->Add(7, line, sink.emit());
    assembler->Finish(sink.emit());
    ASSERT_EQ(sink.events.size(), 2u) << pattern;
    EXPECT_EQ(sink.events[0].message.size(), kMax - 2) << pattern;
    EXPECT_EQ(sink.events[0].message + sink.events[1].message, line) << pattern;
    EXPECT_EQ(sink.events[1].timestamp_ns, 7);
  }
}

TEST(MultilineAssemblerTest, BytesOutsideUtf8CountThreeAsCloudWatchStoresThem) {
  std::unique_ptr<MultilineAssembler> assembler = MustCreate("", "");
  ASSERT_NE(assembler, nullptr);
  Sink sink;
  assembler->Add(1, std::string(100000, '\xff'), sink.emit());  // 300,000 bytes once stored
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_EQ(sink.events[0].message.size(), MultilineAssembler::kMaxEventBytes / 3);
  EXPECT_EQ(sink.events[1].message.size(), 100000 - MultilineAssembler::kMaxEventBytes / 3);
}

TEST(MultilineOptionsTest, ErrorsNameTheOptionAndTheRule) {
  struct Row {
    const char* what;
    std::string datetime_format;
    std::string pattern;
    absl::Duration flush_after;
    const char* want;  // empty: accepted
  };
  const std::vector<Row> rows = {
      {"neither", "", "", absl::Seconds(5), ""},
      {"a format", "%Y-%m-%d", "", absl::Seconds(5), ""},
      {"a pattern", "", R"(^\S)", absl::Seconds(5), ""},
      {"both", "%Y", "^x", absl::Seconds(5),
       "you cannot configure log opt 'awslogs-datetime-format' and 'awslogs-multiline-pattern' at the same time"},
      {"bad regex", "", "^(unclosed", absl::Seconds(5),
       "log opt 'awslogs-multiline-pattern' \"^(unclosed\": not a valid regular expression: missing )"},
      {"backreference (not in RE2 or Go)", "", R"((a)\1)", absl::Seconds(5), "not a valid regular expression"},
      {"unknown directive", "%Y-%q", "", absl::Seconds(5), "unknown directive %q"},
      {"zero flush interval", "", "", absl::ZeroDuration(), "must be positive"},
  };
  for (const Row& row : rows) {
    absl::StatusOr<std::unique_ptr<MultilineAssembler>> created =
        MultilineAssembler::Create(row.datetime_format, row.pattern, row.flush_after);
    if (std::string_view(row.want).empty()) {
      EXPECT_TRUE(created.ok()) << row.what << ": " << created.status();
      EXPECT_TRUE(CheckMultilineOptions(row.datetime_format, row.pattern).ok()) << row.what;
      continue;
    }
    ASSERT_FALSE(created.ok()) << row.what;
    EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument) << row.what;
    EXPECT_THAT(std::string(created.status().message()), HasSubstr(row.want)) << row.what << ": " << created.status();
    if (row.flush_after > absl::ZeroDuration()) {
      absl::Status checked = CheckMultilineOptions(row.datetime_format, row.pattern);
      EXPECT_EQ(checked.code(), absl::StatusCode::kInvalidArgument) << row.what;
      EXPECT_THAT(std::string(checked.message()), HasSubstr(row.want)) << row.what;
    }
  }
}

}  // namespace
}  // namespace berth::agent::logs
