// Package server is the node agent's HTTPS API, the one the API server proxies pods/log,
// pods/exec, pods/attach and pods/portforward to: container logs read from the CRI log files
// (with follow across rotation, tail, since, timestamps and byte limits), exec and attach over the
// remotecommand protocols (SPDY and WebSocket, as kubectl negotiates them), port-forward over SPDY
// (also tunneled through WebSocket) dialing inside the pod's network namespace, and the size-based
// rotation of those log files. It owns the wire protocols and the client-certificate gate: only
// the identities it is configured with (the API server's kubelet client) may call, since anyone
// else reaching the port could otherwise run commands in every pod of the node.
//
// It must never decide which pods exist or where their files are: the kubelet core answers that
// through the Pods interface, and processes run only through the runtime contract. It must never
// serve anything but /healthz without a verified client certificate.
package server
