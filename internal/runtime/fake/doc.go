// Package fake is an in-memory runtime.Runtime for kubelet unit tests: sandboxes and containers
// are records, processes are goroutines interpreting a tiny shell language (Script), and logs are
// real CRI-format files. It passes the same contract suite (runtimetest) as the libcontainer
// runtime, which is what allows kubelet tests to trust it. It must never touch the host beyond
// the log files it is asked to write.
package fake
