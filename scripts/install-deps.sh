#!/usr/bin/env bash
# Installs every Debian package that building, testing and running Berth needs.
# Idempotent: when everything is present it changes nothing and prints one line.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache git
  # libraries (all through CMake find_package)
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libre2-dev
  libabsl-dev librocksdb-dev libspdlog-dev libfmt-dev
  libcurl4-openssl-dev nlohmann-json3-dev libcli11-dev libssl-dev
  libcpp-httplib-dev prometheus-cpp-dev libjemalloc-dev libre2-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  # tools used by the test and run scripts
  procps curl
  # function extents and class members for the size check (tests/layout/sizes_check.py)
  universal-ctags
  # the AWS JSON door's integration test (tests/integration/aws_cli_test.cc)
  awscli python3-boto3
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
