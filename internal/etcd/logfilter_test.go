package etcd

import (
	"errors"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestQuietLogger(t *testing.T) {
	tests := []struct {
		name    string
		closing bool
		log     func(*zap.Logger)
		want    bool // line reaches the output
	}{
		{"single-port warning", false, func(l *zap.Logger) {
			l.Warn("Running http and grpc server on single port. This is not recommended for production.")
		}, false},
		{"simple token warning", false, func(l *zap.Logger) { l.Warn("simple token is not cryptographically signed") }, false},
		{"serve error while running", false, func(l *zap.Logger) {
			l.Error("setting up serving from embedded etcd failed.", zap.Error(errors.New("accept: boom")))
		}, true},
		{"serve error while closing", true, func(l *zap.Logger) {
			l.Error("setting up serving from embedded etcd failed.", zap.Error(errors.New("http: Server closed")))
		}, false},
		{"schema bootstrap race", false, func(l *zap.Logger) {
			l.Error("failed to update storage version", zap.Error(errors.New("cannot detect storage schema version: missing term information")))
		}, false},
		{"real schema error", false, func(l *zap.Logger) {
			l.Error("failed to update storage version", zap.Error(errors.New("cannot create migration plan")))
		}, true},
		{"unrelated warning", false, func(l *zap.Logger) { l.Warn("apply request took too long") }, true},
		{"child logger keeps filtering", false, func(l *zap.Logger) {
			l.Named("x").With(zap.String("k", "v")).Warn("simple token is not cryptographically signed")
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zap.WarnLevel)
			closing := new(atomic.Bool)
			closing.Store(tt.closing)
			tt.log(quieten(zap.New(core), closing))
			if got := logs.Len() == 1; got != tt.want {
				t.Errorf("logged = %v, want %v (%v)", got, tt.want, logs.All())
			}
		})
	}
}
