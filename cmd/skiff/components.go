package main

import (
	"fmt"
	"log/slog"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-dev/skiff/internal/apiclient"
)

// newLogger is the text logger on stderr every command runs with, at its --log-level.
func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// componentConfig is how a standalone component (kubelet, scheduler, controller manager, proxy,
// DNS) reaches the API server: its --kubeconfig (which each command requires up front), in
// protobuf. Rate limits and user agent are the caller's.
func componentConfig(kubeconfig string) (*rest.Config, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	return apiclient.Protobuf(rc), nil
}
