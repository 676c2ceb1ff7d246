// Package kubectl runs the real kubectl embedded in the skiff binary (`skiff kubectl`) as a
// subprocess against a real skiff server, on the manifests in examples/, and checks what a user
// sees: stdout, stderr and the exit code, against upstream's output (golden files in testdata/,
// with times and generated values normalised). It owns no production code. It must never reach
// the server except through the skiff binary it builds, so that what it checks is what a user of
// that binary gets; nothing here needs a node agent or runs containers.
package kubectl
