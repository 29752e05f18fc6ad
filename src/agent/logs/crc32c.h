// CRC-32C (Castagnoli), the checksum of the log spool's records.
//
// Debian's Abseil (20220623) has no absl/crc, and the spool's records are small, so a table-driven
// implementation is enough. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

namespace berth::agent::logs {

// The CRC-32C of `data`, continuing from `crc` (the CRC of the bytes before it; 0 to start).
// Crc32c("123456789") == 0xE3069283.
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace berth::agent::logs
