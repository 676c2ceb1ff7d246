// Package bench holds skiff's benchmarks: the figures each issue names, measured against a real
// `skiff server` process (or, for the pod benchmarks, a server and node agent in the benchmark
// process, so that a CPU profile sees the agent), with the floor underneath (raw embedded etcd, a
// bare libcontainer start) measured in the same run so the ratio is meaningful on a noisy machine.
// The node benchmarks need root and skip without it. Run with
//
//	go test -run '^$' -bench . -benchtime 1x ./bench
//
// (each benchmark sizes its own load; see docs/benchmarks.md for the figures and the machine). The
// package has no tests, so the ordinary test run skips it quickly.
package bench
