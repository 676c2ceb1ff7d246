package etcd

import (
	"strings"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// alwaysBenign are etcd warnings that describe choices this package made on purpose: one listener for
// gRPC and HTTP (a second would cost memory for nothing), and the default "simple" auth token (etcd
// auth is never enabled; the socket is the boundary). Printed on every start, they would teach users
// to ignore etcd's warnings.
var alwaysBenign = map[string]bool{
	"Running http and grpc server on single port. This is not recommended for production.": true,
	"simple token is not cryptographically signed":                                         true,
}

// shutdownBenign are what etcd logs, at error level, when its listeners close under a graceful stop.
var shutdownBenign = map[string]bool{
	"setting up serving from embedded etcd failed.": true,
	"stopping insecure grpc server due to error":    true,
	"stopped insecure grpc server due to error":     true,
	"stopping secure grpc server due to error":      true,
	"stopped secure grpc server due to error":       true,
}

// bootstrapRace are the lines etcd logs when its storage-version monitor runs before the new member
// has persisted its raft term (etcd-io/etcd#18978, #20495); maintainers call it harmless, and the
// monitor retries and succeeds. Dropped only with that exact cause, so a real schema problem shows.
var bootstrapRace = map[string]bool{
	"Failed to detect schema version":  true,
	"failed to update storage version": true,
}

func isBootstrapRace(ent zapcore.Entry, fields []zapcore.Field) bool {
	if !bootstrapRace[ent.Message] {
		return false
	}
	for _, f := range fields {
		if err, ok := f.Interface.(error); ok && f.Key == "error" {
			msg := err.Error()
			return strings.Contains(msg, "missing term information") || strings.Contains(msg, "missing confstate information")
		}
	}
	return false
}

// quietCore drops the lines above and passes everything else through, so real warnings stay visible.
type quietCore struct {
	zapcore.Core
	closing *atomic.Bool
}

func quieten(lg *zap.Logger, closing *atomic.Bool) *zap.Logger {
	return lg.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return &quietCore{Core: c, closing: closing}
	}))
}

func (q *quietCore) With(fields []zapcore.Field) zapcore.Core {
	return &quietCore{Core: q.Core.With(fields), closing: q.closing}
}

func (q *quietCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if alwaysBenign[ent.Message] || (q.closing.Load() && shutdownBenign[ent.Message]) {
		return ce
	}
	if bootstrapRace[ent.Message] {
		// The decision needs the fields, which only Write sees.
		if q.Core.Enabled(ent.Level) {
			return ce.AddCore(ent, q)
		}
		return ce
	}
	return q.Core.Check(ent, ce)
}

func (q *quietCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	if isBootstrapRace(ent, fields) {
		return nil
	}
	return q.Core.Write(ent, fields)
}
