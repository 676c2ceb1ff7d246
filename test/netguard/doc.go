// Package netguard keeps test packets on this machine: while a test that calls Ensure runs, an
// nftables table (ip skiff-test-guard) in the test process's network namespace, the machine's own,
// drops every packet bound for the ranges tests use (the default cluster CIDR 10.244.0.0/16, the
// default service range 10.96.0.0/12 and the test LANs' 198.18.0.0/15) that would leave through
// an interface holding a default route, i.e. the machine's uplink. Tests keep their traffic inside
// network namespaces of their own, so the guard should never match; its counters say if it did.
//
// Lifetime: the table is shared by every test process on the machine. Each process holds a shared
// flock on /run/skiff-test-guard.lock for as long as one of its tests uses the guard; the process
// that releases last (it alone gets the lock exclusively) deletes the table. A killed process
// releases its lock with its death, so the table goes with the next process that releases; until
// then it stays, which only ever drops traffic to those ranges through the uplink.
//
// It is for tests only and must never be imported by production code. It changes nothing but its
// own table and lock file: no other table, chain, rule, link, route or sysctl.
package netguard
