// libFuzzer target for what the agent reads from the Docker engine's logs endpoint
// (src/agent/docker/log_stream.h) and joins into events (src/agent/logs/multiline.h): bytes the
// agent does not control.
//
// An input is a flags byte, then the body. Flags: bit 0, the container has a TTY; bits 1-7, the
// size of the pieces the body is fed in (1-127; 0: all at once). Invariants:
//   - the decoder gives the same lines, and the same verdict, whatever the pieces: the engine's
//     answer reaches the agent cut anywhere;
//   - every line is of stdout or stderr and at most LogStreamDecoder::kMaxLineBytes long;
//   - joined into events by a multi-line pattern, no event is empty or longer than
//     MultilineAssembler::kMaxEventBytes.
// A violation prints what broke and aborts, so libFuzzer records the input as a crash.
//
// This file has no main(): the fuzzer build links libFuzzer's, and the unit test
// tests/unit/agent/docker/log_stream_corpus_test.cc links gtest's and feeds it the seed corpus
// (tests/fuzz/corpus/docker_log_stream/).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "src/agent/docker/log_stream.h"
#include "src/agent/logs/multiline.h"

namespace {

using berth::agent::docker::LogLine;
using berth::agent::docker::LogStreamDecoder;

void Fail(const char* what) {
  std::fprintf(stderr, "docker_log_stream_fuzz: %s\n", what);
  std::abort();
}

struct Decoded {
  std::vector<LogLine> lines;
  bool ok = true;
};

Decoded Decode(bool tty, std::string_view body, size_t piece) {
  LogStreamDecoder decoder(tty);
  Decoded out;
  auto emit = [&](LogLine line) { out.lines.push_back(std::move(line)); };
  for (size_t at = 0; at < body.size() && out.ok; at += piece) {
    out.ok = decoder.Feed(body.substr(at, piece), emit).ok();
  }
  if (out.ok) decoder.Finish(emit);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > (1 << 16)) return 0;
  const bool tty = (data[0] & 1) != 0;
  const size_t piece = data[0] >> 1;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Decoded whole = Decode(tty, body, body.size() + 1);
  const Decoded cut = Decode(tty, body, piece == 0 ? body.size() + 1 : piece);
  if (whole.ok != cut.ok) Fail("the verdict depends on how the body is cut");
  if (whole.ok) {
    if (whole.lines.size() != cut.lines.size()) Fail("the lines depend on how the body is cut");
    for (size_t i = 0; i < whole.lines.size(); ++i) {
      const LogLine& a = whole.lines[i];
      const LogLine& b = cut.lines[i];
      if (a.stream != b.stream || a.timestamp_ns != b.timestamp_ns || a.text != b.text) {
        Fail("a line depends on how the body is cut");
      }
    }
  }
  auto assembler = berth::agent::logs::MultilineAssembler::Create("", "^[0-9]", absl::Seconds(5));
  if (!assembler.ok()) Fail("the fixed pattern does not compile");
  auto check = [](berth::agent::logs::AssembledEvent e) {
    if (e.message.empty()) Fail("an empty event");
    if (e.message.size() > berth::agent::logs::MultilineAssembler::kMaxEventBytes) Fail("an event over the size");
  };
  for (const LogLine& line : whole.lines) {
    if (line.stream != 1 && line.stream != 2) Fail("a line of neither stdout nor stderr");
    if (line.text.size() > LogStreamDecoder::kMaxLineBytes) Fail("a line over the size");
    (*assembler)->Add(line.timestamp_ns, line.text, check);
  }
  (*assembler)->Finish(check);
  return 0;
}
