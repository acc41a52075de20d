#!/bin/sh
# Profile the product code behind a benchmark: runs one of the in-process
# benchmarks (they call the pipeline package the way `pipe run` does) with
# -cpuprofile and prints the top of the profile by cumulative time.
#
#   bench/profile.sh [NoopRun500InProcess|Parallel100InProcess] [N]
set -eu
name=${1:-NoopRun500InProcess}
n=${2:-3}
cd "$(dirname "$0")/.."
out=$(mktemp -d /tmp/pipe-profile-XXXXXX)
go test ./bench -run '^$' -bench "^Benchmark${name}\$" -benchtime "${n}x" \
	-cpuprofile "$out/cpu.out" -o "$out/bench.test"
go tool pprof -top -cum "$out/bench.test" "$out/cpu.out" | sed -n 1,45p
echo "profile kept in $out (go tool pprof -http=: $out/bench.test $out/cpu.out)"
