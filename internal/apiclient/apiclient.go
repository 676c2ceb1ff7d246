package apiclient

import "k8s.io/client-go/rest"

const (
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
	mediaJSON     = "application/json"
)

// Protobuf makes rc's typed clients send protobuf and ask for it, JSON accepted as well. Clients
// that need JSON (dynamic, scale, apply patches) set their own content types over this, as
// client-go's do. It changes rc in place and returns it.
func Protobuf(rc *rest.Config) *rest.Config {
	rc.ContentType = mediaProtobuf
	rc.AcceptContentTypes = mediaProtobuf + "," + mediaJSON
	return rc
}
