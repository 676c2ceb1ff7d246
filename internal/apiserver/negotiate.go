package apiserver

import (
	"bytes"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-dev/skiff/internal/apiserver/scheme"
)

const (
	mediaJSON     = "application/json"
	mediaYAML     = "application/yaml"
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
)

// output is the negotiated response format.
type output struct {
	MediaType string // one of the media* constants
	Info      runtime.SerializerInfo
	// As is "", "Table", "PartialObjectMetadata" or "PartialObjectMetadataList": a transformed view
	// asked for with the as= parameter (group meta.k8s.io).
	As     string
	Pretty bool
}

// parseMediaType is mime.ParseMediaType with a shortcut for the bare media types that clients send
// on nearly every request, which parsing would lower-case and give a parameter map each time.
func parseMediaType(v string) (string, map[string]string, error) {
	switch v {
	case mediaJSON, mediaProtobuf, mediaYAML, "*/*":
		return v, nil, nil
	}
	return mime.ParseMediaType(v)
}

func serializerInfo(mediaType string) (runtime.SerializerInfo, bool) {
	for _, info := range scheme.Codecs.SupportedMediaTypes() {
		if info.MediaType == mediaType {
			return info, true
		}
	}
	return runtime.SerializerInfo{}, false
}

// negotiate picks the response format from the Accept header. allowAs lists the transformed views
// the endpoint can produce.
func negotiate(r *http.Request, allowAs ...string) (output, error) {
	accept := r.Header.Get("Accept")
	if accept == "" {
		accept = "*/*"
	}
	for _, clause := range strings.Split(accept, ",") {
		mt, params, err := parseMediaType(strings.TrimSpace(clause))
		if err != nil {
			continue
		}
		switch mt {
		case "*/*", "application/*":
			mt = mediaJSON
		case mediaJSON, mediaYAML, mediaProtobuf:
		default:
			continue
		}
		out := output{MediaType: mt, Pretty: params["pretty"] == "1" || params["pretty"] == "true"}
		if as := params["as"]; as != "" {
			g, v := params["g"], params["v"]
			if g != "meta.k8s.io" || (v != "v1" && v != "v1beta1") || !contains(allowAs, as) {
				continue
			}
			out.As = as
		} else if params["g"] != "" || params["v"] != "" {
			continue
		}
		info, ok := serializerInfo(mt)
		if !ok {
			continue
		}
		out.Info = info
		return out, nil
	}
	return output{}, &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotAcceptable, Reason: metav1.StatusReasonNotAcceptable,
		Message: "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf",
	}}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// encode serialises obj in the negotiated format.
func (o output) encode(obj runtime.Object) ([]byte, error) {
	var buf bytes.Buffer
	ser := o.Info.Serializer
	if o.Pretty && o.Info.PrettySerializer != nil {
		ser = o.Info.PrettySerializer
	}
	if err := ser.Encode(obj, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// contentType is the Content-Type header for the format.
func (o output) contentType() string {
	if o.As != "" && o.MediaType != mediaProtobuf {
		return o.MediaType + ";as=" + o.As + ";g=meta.k8s.io;v=v1"
	}
	return o.MediaType
}

// bodyDecoder picks the decoder for a request body, by Content-Type.
func bodyDecoder(r *http.Request, strict bool) (runtime.Decoder, string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = mediaJSON
	}
	mt, _, err := parseMediaType(ct)
	if err != nil {
		return nil, "", unsupportedMediaType(ct)
	}
	switch mt {
	case mediaJSON:
		if strict {
			return scheme.StrictJSON, mt, nil
		}
		return scheme.JSON, mt, nil
	case mediaYAML:
		if strict {
			return scheme.StrictYAML, mt, nil
		}
		return scheme.YAML, mt, nil
	case mediaProtobuf:
		return scheme.Protobuf, mt, nil
	}
	return nil, mt, unsupportedMediaType(ct)
}
