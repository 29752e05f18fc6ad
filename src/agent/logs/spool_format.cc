#include "src/agent/logs/spool_format.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "berth/common/strings.h"
#include "src/agent/logs/crc32c.h"

namespace berth::agent::logs {
namespace {

constexpr int64_t kEventFixedBytes = 8 + 8 + 8 + 3 * 4;
constexpr int64_t kScanChunk = 64 << 10;

absl::Status Errno(std::string_view step, const std::string& path) {
  return absl::InternalError(StrCat("cannot ", step, " ", path, ": ", std::strerror(errno)));
}

void PutU32(uint32_t v, std::string* out) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void PutU64(uint64_t v, std::string* out) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void PutString(std::string_view s, std::string* out) {
  PutU32(static_cast<uint32_t>(s.size()), out);
  out->append(s);
}

uint32_t LoadU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Reads a payload front to back; every getter fails once the bytes run out.
class Decoder {
 public:
  explicit Decoder(std::string_view in) : in_(in) {}
  bool U32(uint32_t* v) {
    if (in_.size() < 4) return false;
    *v = LoadU32(in_.data());
    in_.remove_prefix(4);
    return true;
  }
  bool U64(uint64_t* v) {
    uint32_t lo = 0;
    uint32_t hi = 0;
    if (!U32(&lo) || !U32(&hi)) return false;
    *v = (uint64_t{hi} << 32) | lo;
    return true;
  }
  bool I64(int64_t* v) {
    uint64_t u = 0;
    if (!U64(&u)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool String(std::string* s) {
    uint32_t n = 0;
    if (!U32(&n) || in_.size() < n) return false;
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

// Frames the payload that the caller appended to `out` from `start` on.
void FrameInPlace(size_t start, std::string* out) {
  const uint32_t length = static_cast<uint32_t>(out->size() - start - kFrameBytes);
  std::string length_bytes;
  PutU32(length, &length_bytes);
  const uint32_t crc = Crc32c(std::string_view(*out).substr(start + kFrameBytes), Crc32c(length_bytes));
  std::memcpy(out->data() + start, length_bytes.data(), 4);
  std::string crc_bytes;
  PutU32(crc, &crc_bytes);
  std::memcpy(out->data() + start + 4, crc_bytes.data(), 4);
}

}  // namespace

int64_t EventRecordBytes(const SpoolEvent& event) {
  return kFrameBytes + kEventFixedBytes +
         static_cast<int64_t>(event.destination.size() + event.source.size() + event.message.size());
}

void AppendEventRecord(uint64_t sequence, const SpoolEvent& event, std::string* out) {
  const size_t start = out->size();
  out->append(kFrameBytes, '\0');
  PutU64(sequence, out);
  PutU64(static_cast<uint64_t>(event.timestamp_ms), out);
  PutU64(static_cast<uint64_t>(event.source_position), out);
  PutString(event.destination, out);
  PutString(event.source, out);
  PutString(event.message, out);
  FrameInPlace(start, out);
}

bool DecodeEvent(std::string_view payload, SpooledEvent* out) {
  Decoder d(payload);
  return d.U64(&out->sequence) && d.I64(&out->event.timestamp_ms) && d.I64(&out->event.source_position) &&
         d.String(&out->event.destination) && d.String(&out->event.source) && d.String(&out->event.message) && d.done();
}

std::string EncodeState(const SpoolState& state) {
  std::string out(kStateMagic);
  const size_t start = out.size();
  out.append(kFrameBytes, '\0');
  PutU64(state.acked, &out);
  PutU64(state.last_sequence, &out);
  PutU64(state.dropped, &out);
  PutU32(static_cast<uint32_t>(state.positions.size()), &out);
  for (const auto& [source, position] : state.positions) {
    PutString(source, &out);
    PutU64(static_cast<uint64_t>(position), &out);
  }
  PutU32(static_cast<uint32_t>(state.forgotten.size()), &out);
  for (const auto& [source, sequence] : state.forgotten) {
    PutString(source, &out);
    PutU64(sequence, &out);
  }
  FrameInPlace(start, &out);
  return out;
}

bool DecodeState(std::string_view bytes, SpoolState* out) {
  if (bytes.substr(0, kMagicBytes) != kStateMagic || bytes.size() < kMagicBytes + kFrameBytes) return false;
  bytes.remove_prefix(kMagicBytes);
  const uint32_t length = LoadU32(bytes.data());
  const uint32_t crc = LoadU32(bytes.data() + 4);
  if (bytes.size() != static_cast<size_t>(kFrameBytes) + length) return false;
  if (Crc32c(bytes.substr(kFrameBytes), Crc32c(bytes.substr(0, 4))) != crc) return false;
  Decoder d(bytes.substr(kFrameBytes));
  uint32_t count = 0;
  if (!d.U64(&out->acked) || !d.U64(&out->last_sequence) || !d.U64(&out->dropped) || !d.U32(&count)) return false;
  for (uint32_t i = 0; i < count; ++i) {
    std::string source;
    int64_t position = 0;
    if (!d.String(&source) || !d.I64(&position)) return false;
    out->positions[source] = position;
  }
  if (!d.U32(&count)) return false;
  for (uint32_t i = 0; i < count; ++i) {
    std::string source;
    uint64_t sequence = 0;
    if (!d.String(&source) || !d.U64(&sequence)) return false;
    out->forgotten[source] = sequence;
  }
  return d.done();
}

absl::StatusOr<std::shared_ptr<SegmentFile>> SegmentFile::Create(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) return Errno("create", path);
  auto file = std::make_shared<SegmentFile>(path, fd);
  if (absl::Status s = file->Write(0, kSegmentMagic); !s.ok()) {
    ::unlink(path.c_str());
    return s;
  }
  return file;
}

absl::StatusOr<std::shared_ptr<SegmentFile>> SegmentFile::OpenExisting(const std::string& path, int64_t* size) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return Errno("open", path);
  auto file = std::make_shared<SegmentFile>(path, fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Errno("stat", path);
  *size = st.st_size;
  return file;
}

std::shared_ptr<SegmentFile> SegmentFile::InMemory() {
  auto file = std::make_shared<SegmentFile>("", -1);
  file->bytes_.assign(kSegmentMagic);
  return file;
}

SegmentFile::~SegmentFile() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status SegmentFile::Write(int64_t offset, std::string_view bytes) {
  if (fd_ < 0) {
    bytes_.resize(static_cast<size_t>(offset));
    bytes_.append(bytes);
    return absl::OkStatus();
  }
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd_, bytes.data(), bytes.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("write", path_);
    bytes.remove_prefix(static_cast<size_t>(n));
    offset += n;
  }
  return absl::OkStatus();
}

absl::Status SegmentFile::ReadAt(int64_t offset, size_t n, std::string* out) const {
  if (fd_ < 0) {
    const size_t start = std::min(static_cast<size_t>(offset), bytes_.size());
    out->assign(bytes_, start, n);
    return absl::OkStatus();
  }
  out->resize(n);
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd_, out->data() + got, n - got, offset + static_cast<int64_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Errno("read", path_);
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  out->resize(got);
  return absl::OkStatus();
}

absl::Status SegmentFile::Truncate(int64_t size) {
  if (fd_ < 0) {
    bytes_.resize(static_cast<size_t>(size));
    return absl::OkStatus();
  }
  if (::ftruncate(fd_, size) != 0) return Errno("truncate", path_);
  return absl::OkStatus();
}

absl::Status SegmentFile::Sync() const {
  if (fd_ >= 0 && ::fdatasync(fd_) != 0) return Errno("sync", path_);
  return absl::OkStatus();
}

bool RecordScanner::Ensure(int64_t n) {
  if (pos_ + n > end_) return false;
  const int64_t buf_end = buf_offset_ + static_cast<int64_t>(buf_.size());
  if (pos_ >= buf_offset_ && pos_ + n <= buf_end) return true;
  const int64_t want = std::min(std::max(n, kScanChunk), end_ - pos_);
  io_error_ = file_->ReadAt(pos_, static_cast<size_t>(want), &buf_);
  buf_offset_ = pos_;
  return io_error_.ok() && static_cast<int64_t>(buf_.size()) >= n;
}

RecordScanner::Result RecordScanner::Next(std::string_view* payload) {
  record_offset_ = pos_;
  if (pos_ >= end_) return Result::kEnd;
  if (!Ensure(kFrameBytes)) return io_error_.ok() ? Result::kTorn : Result::kIoError;
  const char* frame = buf_.data() + (pos_ - buf_offset_);
  const int64_t length = LoadU32(frame);
  const uint32_t crc = LoadU32(frame + 4);
  if (length > kMaxRecordBytes) return Result::kTorn;
  if (!Ensure(kFrameBytes + length)) return io_error_.ok() ? Result::kTorn : Result::kIoError;
  frame = buf_.data() + (pos_ - buf_offset_);  // Ensure may have moved the buffer
  const std::string_view body(frame + kFrameBytes, static_cast<size_t>(length));
  if (Crc32c(body, Crc32c(std::string_view(frame, 4))) != crc) return Result::kTorn;
  *payload = body;
  pos_ += kFrameBytes + length;
  return Result::kRecord;
}

}  // namespace berth::agent::logs
