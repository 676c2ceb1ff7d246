// Package gcpacer owns how a long-running skiff process paces its garbage collector: a generous
// GOGC while the heap is small (the API server's garbage is short-lived request state, so
// collecting less often buys throughput), bounded by a soft memory limit that follows the live
// heap so that the headroom never grows past a fixed floor or twice the live heap, whichever is
// more. It must never set a limit below twice the live heap (that would make the collector run
// without pause), and it stays out of the way when the operator set GOGC or GOMEMLIMIT.
package gcpacer
