// Package bench holds pipe's end-to-end benchmarks. It has no tests and no
// library code: `go test ./bench` runs nothing slow, and
//
//	go test ./bench -run '^$' -bench . -benchtime 1x
//
// (`go tool task bench`) builds the pipe binary once, generates the
// pipelines it needs and reports every result as a ratio against an anchor
// measured in the same run. See BENCHMARKS.md at the repository root.
//
// Large generated inputs are kept across runs under $PIPE_BENCH_DIR
// (default /var/tmp/pipe-bench); delete that directory to start over.
package bench
