package apiserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func clientCountOnly() []clientv3.OpOption { return []clientv3.OpOption{clientv3.WithCountOnly()} }

func (s *Server) writeJSON(w http.ResponseWriter, code int, v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", mediaJSON)
	w.WriteHeader(code)
	w.Write(b)
}

// writeError answers with a metav1.Status, in the format the client accepts when it can.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var st *metav1.Status
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		status := se.Status()
		st = &status
	} else {
		status := apierrors.NewInternalError(err).Status()
		st = &status
	}
	st.Kind, st.APIVersion = "Status", "v1"
	if st.Status == "" {
		st.Status = metav1.StatusFailure
	}
	code := int(st.Code)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	if code == http.StatusTooManyRequests || code == http.StatusGatewayTimeout {
		if st.Details != nil && st.Details.RetryAfterSeconds > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(st.Details.RetryAfterSeconds)))
		}
	}
	out, nerr := negotiate(r)
	if nerr != nil || out.MediaType == mediaYAML {
		out = output{MediaType: mediaJSON}
		out.Info, _ = serializerInfo(mediaJSON)
	}
	s.writeObject(w, out, code, st)
}

// writeObject encodes obj in the negotiated format.
func (s *Server) writeObject(w http.ResponseWriter, out output, code int, obj runtime.Object) {
	b, err := out.encode(obj)
	if err != nil {
		s.log.Error("encoding response", "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", out.contentType())
	w.WriteHeader(code)
	w.Write(b)
}
