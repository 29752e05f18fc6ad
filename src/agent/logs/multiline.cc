#include "src/agent/logs/multiline.h"

#include <re2/re2.h>

#include <utility>

#include "berth/common/status.h"
#include "berth/common/strings.h"

namespace berth::agent::logs {
namespace {

constexpr std::string_view kDatetimeFormatOption = "awslogs-datetime-format";
constexpr std::string_view kMultilinePatternOption = "awslogs-multiline-pattern";

struct Directive {
  char letter;
  std::string_view regex;
};

// The driver's strftime table, with %U and %W added and the character classes that held a stray
// ',' ("[1,2]") or missed days of the year (010, 020, ...) corrected.
constexpr Directive kDirectives[] = {
    {'a', R"((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun))"},
    {'A', R"((?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday))"},
    {'b', R"((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec))"},
    {'B', R"((?:January|February|March|April|May|June|July|August|September|October|November|December))"},
    {'d', R"((?:0[1-9]|[12][0-9]|3[01]))"},
    {'f', R"(\d{6})"},
    {'H', R"((?:[01][0-9]|2[0-3]))"},
    {'I', R"((?:0[0-9]|1[0-2]))"},
    {'j', R"((?:00[1-9]|0[1-9][0-9]|[12][0-9][0-9]|3[0-5][0-9]|36[0-6]))"},
    {'L', R"(\.\d{3})"},
    {'m', R"((?:0[1-9]|1[0-2]))"},
    {'M', R"([0-5][0-9])"},
    {'p', R"([AP]M)"},
    {'S', R"([0-5][0-9])"},
    {'U', R"((?:[0-4][0-9]|5[0-3]))"},
    {'w', R"([0-6])"},
    {'W', R"((?:[0-4][0-9]|5[0-3]))"},
    {'y', R"(\d{2})"},
    {'Y', R"(\d{4})"},
    {'z', R"([+-]\d{4})"},
    {'Z', R"([A-Z]{1,4}T)"},
    {'%', R"(%)"},
};

std::string SupportedDirectives() {
  std::string out;
  for (const Directive& d : kDirectives) StrAppend(&out, out.empty() ? "" : " ", "%", d.letter);
  return out;
}

// The width in `text` of the character at text[i], and in *stored the bytes CloudWatch stores for
// it: a byte that does not start valid UTF-8 is one character, stored as U+FFFD (3 bytes).
size_t NextCharacter(std::string_view text, size_t i, size_t* stored) {
  const auto byte = [&](size_t k) { return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0; };
  const auto continuation = [&](size_t k, unsigned char lo = 0x80, unsigned char hi = 0xbf) {
    return byte(k) >= lo && byte(k) <= hi;
  };
  const unsigned char c = byte(0);
  size_t width = 1;
  if (c < 0x80) {
    width = 1;
  } else if (c >= 0xc2 && c <= 0xdf && continuation(1)) {
    width = 2;
  } else if (c >= 0xe0 && c <= 0xef && continuation(1, c == 0xe0 ? 0xa0 : 0x80, c == 0xed ? 0x9f : 0xbf) &&
             continuation(2)) {
    width = 3;
  } else if (c >= 0xf0 && c <= 0xf4 && continuation(1, c == 0xf0 ? 0x90 : 0x80, c == 0xf4 ? 0x8f : 0xbf) &&
             continuation(2) && continuation(3)) {
    width = 4;
  } else {
    *stored = 3;
    return 1;
  }
  *stored = width;
  return width;
}

// The bytes CloudWatch stores for `text`.
size_t CloudWatchSize(std::string_view text) {
  size_t size = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t stored = 0;
    i += NextCharacter(text, i, &stored);
    size += stored;
  }
  return size;
}

// The length of the longest prefix of `text`, cut between characters, that CloudWatch stores in at
// most `limit` bytes.
size_t CloudWatchPrefix(std::string_view text, size_t limit) {
  size_t size = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t stored = 0;
    const size_t width = NextCharacter(text, i, &stored);
    if (size + stored > limit) break;
    size += stored;
    i += width;
  }
  return i;
}

absl::StatusOr<std::unique_ptr<re2::RE2>> Compile(std::string_view option, std::string_view given,
                                                  const std::string& regex) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  auto compiled = std::make_unique<re2::RE2>(re2::StringPiece(regex.data(), regex.size()), options);
  if (!compiled->ok()) {
    return absl::InvalidArgumentError(
        StrCat("log opt '", option, "' \"", given, "\": not a valid regular expression: ", compiled->error()));
  }
  return compiled;
}

// The options, checked and compiled; null when neither is set.
absl::StatusOr<std::unique_ptr<re2::RE2>> CompileOptions(std::string_view datetime_format,
                                                         std::string_view multiline_pattern) {
  if (!datetime_format.empty() && !multiline_pattern.empty()) {
    return absl::InvalidArgumentError(StrCat("you cannot configure log opt '", kDatetimeFormatOption, "' and '",
                                             kMultilinePatternOption, "' at the same time"));
  }
  if (!datetime_format.empty()) {
    ASSIGN_OR_RETURN(std::string regex, MultilineAssembler::DatetimeFormatToRegex(datetime_format));
    return Compile(kDatetimeFormatOption, datetime_format, regex);
  }
  if (!multiline_pattern.empty()) {
    return Compile(kMultilinePatternOption, multiline_pattern, std::string(multiline_pattern));
  }
  return std::unique_ptr<re2::RE2>();
}

// Emits `message` as events of at most kMaxEventBytes each; nothing when it is empty.
void EmitSplit(int64_t timestamp_ns, std::string message, const std::function<void(AssembledEvent)>& emit) {
  if (CloudWatchSize(message) <= MultilineAssembler::kMaxEventBytes) {
    if (!message.empty()) emit(AssembledEvent{.timestamp_ns = timestamp_ns, .message = std::move(message)});
    return;
  }
  std::string_view rest = message;
  while (!rest.empty()) {
    const size_t cut = CloudWatchPrefix(rest, MultilineAssembler::kMaxEventBytes);
    emit(AssembledEvent{.timestamp_ns = timestamp_ns, .message = std::string(rest.substr(0, cut))});
    rest.remove_prefix(cut);
  }
}

}  // namespace

absl::Status CheckMultilineOptions(std::string_view datetime_format, std::string_view multiline_pattern) {
  return CompileOptions(datetime_format, multiline_pattern).status();
}

absl::StatusOr<std::string> MultilineAssembler::DatetimeFormatToRegex(std::string_view format) {
  auto invalid = [&](std::string_view rule) {
    return absl::InvalidArgumentError(StrCat("log opt '", kDatetimeFormatOption, "' \"", format, "\": ", rule));
  };
  if (format.empty()) return invalid("must not be empty");
  std::string regex = "^";
  std::string literal;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      literal.push_back(format[i]);
      continue;
    }
    if (i + 1 == format.size()) return invalid("ends with a lone '%' (write %% for a percent sign)");
    const char letter = format[++i];
    const Directive* found = nullptr;
    for (const Directive& d : kDirectives) {
      if (d.letter == letter) found = &d;
    }
    if (found == nullptr) {
      return invalid(StrCat("unknown directive %", letter, "; the directives are ", SupportedDirectives()));
    }
    regex.append(re2::RE2::QuoteMeta(literal));
    literal.clear();
    regex.append(found->regex);
  }
  regex.append(re2::RE2::QuoteMeta(literal));
  return regex;
}

absl::StatusOr<std::unique_ptr<MultilineAssembler>> MultilineAssembler::Create(std::string_view datetime_format,
                                                                               std::string_view multiline_pattern,
                                                                               absl::Duration flush_after) {
  if (flush_after <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        StrCat("the flush interval (awslogs-force-flush-interval-seconds) must be positive, not ",
               absl::FormatDuration(flush_after)));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<re2::RE2> pattern, CompileOptions(datetime_format, multiline_pattern));
  return std::unique_ptr<MultilineAssembler>(new MultilineAssembler(std::move(pattern), flush_after));
}

MultilineAssembler::MultilineAssembler(std::unique_ptr<re2::RE2> pattern, absl::Duration flush_after)
    : pattern_(std::move(pattern)), flush_after_ns_(absl::ToInt64Nanoseconds(flush_after)) {}

MultilineAssembler::~MultilineAssembler() = default;

void MultilineAssembler::Add(int64_t timestamp_ns, std::string_view line,
                             const std::function<void(AssembledEvent)>& emit) {
  if (pattern_ == nullptr) {
    EmitSplit(timestamp_ns, std::string(line), emit);
    return;
  }
  const size_t line_size = CloudWatchSize(line);
  if (has_pending_ && (re2::RE2::PartialMatch(re2::StringPiece(line.data(), line.size()), *pattern_) ||
                       pending_size_ + 1 + line_size > kMaxEventBytes)) {
    EmitPending(emit);
  }
  if (!has_pending_) {
    has_pending_ = true;
    pending_timestamp_ns_ = timestamp_ns;
  } else {
    pending_.push_back('\n');
    ++pending_size_;
  }
  pending_.append(line);
  pending_size_ += line_size;
}

void MultilineAssembler::Flush(int64_t now_ns, const std::function<void(AssembledEvent)>& emit) {
  if (!has_pending_) return;
  if (now_ns < pending_timestamp_ns_ || now_ns - pending_timestamp_ns_ >= flush_after_ns_) EmitPending(emit);
}

void MultilineAssembler::Finish(const std::function<void(AssembledEvent)>& emit) {
  if (has_pending_) EmitPending(emit);
}

void MultilineAssembler::EmitPending(const std::function<void(AssembledEvent)>& emit) {
  has_pending_ = false;
  pending_size_ = 0;
  EmitSplit(pending_timestamp_ns_, std::exchange(pending_, std::string()), emit);
}

}  // namespace berth::agent::logs
