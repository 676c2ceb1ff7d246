package server

import (
	"log/slog"
	"net/http"

	"k8s.io/client-go/rest"

	"github.com/skiff-dev/skiff/internal/apiclient"
	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/apiserver/loopback"
)

// inProcessHost is the address in-process clients are configured with. Their requests never leave
// the process (loopback.Transport serves them), so it only shows in the URLs client-go builds.
const inProcessHost = "http://in-process"

// inProcessConfig is the client configuration of a component of this process: its requests are
// served by api directly, as user (a certificate's common name) in groups (its organizations),
// without TLS, HTTP/2 or a socket. Typed clients speak protobuf, as the remote ones do.
func inProcessConfig(api http.Handler, log *slog.Logger, user string, groups []string, userAgent string, qps float32, burst int) *rest.Config {
	return apiclient.Protobuf(&rest.Config{Host: inProcessHost, QPS: qps, Burst: burst, UserAgent: userAgent,
		Transport: &loopback.Transport{Handler: api, User: admission.UserInfo{Name: user, Groups: groups}, Logger: log}})
}
