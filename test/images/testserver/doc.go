// Command testserver is the program inside skiff's own test image skiff.local/test/testserver: a
// static HTTP server whose behaviour a test steers from outside (report hostname and environment,
// fail or recover its health endpoints, exit with a chosen code, read and write files on a mounted
// volume, echo requests) and, given a subcommand, a one-shot tool for exec and init-container tests
// (sleep, exit N, write or read a file, print the environment, hold memory until the OOM killer
// comes). It exists so that e2e tests need no registry and no third-party image to exercise the node
// agent. It must stay a single static binary that depends only on the standard library (it is built
// with CGO_ENABLED=0 and runs on an empty rootfs), and it must never reach beyond the addresses a
// test hands it.
package main
