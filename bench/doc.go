// Package bench holds skiff's benchmarks: the figures each issue names, measured against a real
// `skiff server` process, with the floor underneath (raw embedded etcd) measured in the same run so
// the ratio is meaningful on a noisy machine. Run with
//
//	go test -run '^$' -bench . -benchtime 1x ./bench
//
// (each benchmark sizes its own load; see docs/benchmarks.md for the figures and the machine). The
// package has no tests, so the ordinary test run skips it quickly.
package bench
