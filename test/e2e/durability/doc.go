// Package durability checks that skiff never loses a write it acknowledged: it kills `skiff server`
// with SIGKILL in the middle of a write burst and reads everything back after a restart.
package durability
