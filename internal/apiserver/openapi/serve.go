package openapi

import (
	"bytes"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"github.com/munnerz/goautoneg"
	"google.golang.org/protobuf/proto"
	"k8s.io/kube-openapi/pkg/handler3"
)

const (
	mimeJSON      = "application/json"
	mimeV2PB      = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
	mimeV2PBOld   = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
	mimeV3PB      = "application/com.github.proto-openapi.spec.v3.v1.0+protobuf"
	mimeV3PBOld   = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"
	v2Path        = "/openapi/v2"
	v3Path        = "/openapi/v3"
	v3PathPrefix  = "/openapi/v3/"
	hashParameter = "hash"
)

// Service serves the OpenAPI documents of a fixed set of resources. Nothing is built until the first
// request: a server nobody asks for OpenAPI pays nothing in start time or memory.
type Service struct {
	resources []Resource
	keys      map[string]bool // v3 group-version keys

	v2Once sync.Once
	v2     *document
	v2Err  error

	v3Once  sync.Once
	v3      map[string]*document
	v3Index []byte
	v3ETag  string
	v3Err   error
	built   time.Time
}

// document is one serialized document. Only the JSON is kept; the protobuf form is made on first
// request for it, and the Go structure the JSON came from is not kept at all.
type document struct {
	json     []byte
	etag     string
	modified time.Time
	toProto  func([]byte) ([]byte, error)

	protoOnce sync.Once
	proto     []byte
	protoErr  error
}

func newDocument(v interface{}, toProto func([]byte) ([]byte, error), modified time.Time) (*document, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &document{json: data, etag: etag(data), modified: modified, toProto: toProto}, nil
}

// v2Proto is the protobuf form of a v2 document (kube-openapi's handler package has it too, but drags
// in go-restful and a gzip handler that this server does not use).
func v2Proto(data []byte) ([]byte, error) {
	doc, err := openapi_v2.ParseDocument(data)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(doc)
}

func etag(data []byte) string { return fmt.Sprintf("%X", sha512.Sum512(data)) }

func (d *document) protobuf() ([]byte, error) {
	d.protoOnce.Do(func() { d.proto, d.protoErr = d.toProto(d.json) })
	return d.proto, d.protoErr
}

// New checks the resources and returns a Service for them. It does not build the documents.
func New(resources []Resource) (*Service, error) {
	if err := validate(resources); err != nil {
		return nil, err
	}
	s := &Service{resources: append([]Resource(nil), resources...), keys: map[string]bool{}}
	for _, r := range resources {
		s.keys[groupVersionKey(r.GVR.GroupVersion())] = true
	}
	return s, nil
}

// Register mounts /openapi/v2, /openapi/v3 (the index) and /openapi/v3/<group-version> on mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.Handle(v2Path, s)
	mux.Handle(v3Path, s)
	mux.Handle(v3PathPrefix, s)
}

// ServeHTTP serves every OpenAPI path, for servers that route /openapi/ themselves.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch p := r.URL.Path; {
	case p == v2Path:
		s.serveV2(w, r)
	case p == v3Path || p == v3PathPrefix:
		s.serveV3Index(w, r)
	case strings.HasPrefix(p, v3PathPrefix):
		s.serveV3GroupVersion(w, r, strings.TrimPrefix(p, v3PathPrefix))
	default:
		http.NotFound(w, r)
	}
}

// V2JSON returns the OpenAPI v2 document, building it if needed.
func (s *Service) V2JSON() ([]byte, error) {
	d, err := s.v2Doc()
	if err != nil {
		return nil, err
	}
	return d.json, nil
}

// V3JSON returns the OpenAPI v3 document of a group-version key ("api/v1", "apis/apps/v1").
func (s *Service) V3JSON(key string) ([]byte, error) {
	docs, err := s.v3Docs()
	if err != nil {
		return nil, err
	}
	d, ok := docs[key]
	if !ok {
		return nil, fmt.Errorf("openapi: no group-version %q", key)
	}
	return d.json, nil
}

func (s *Service) v2Doc() (*document, error) {
	s.v2Once.Do(func() {
		m := buildModel(s.resources)
		s.v2, s.v2Err = newDocument(m.swagger(), v2Proto, time.Now())
	})
	return s.v2, s.v2Err
}

// v3Docs builds every group-version's document at once: the index carries each one's hash, so the
// first client to read the index needs them all anyway, and one model serves them all.
func (s *Service) v3Docs() (map[string]*document, error) {
	s.v3Once.Do(func() {
		m := buildModel(s.resources)
		now := time.Now()
		docs := map[string]*document{}
		index := handler3.OpenAPIV3Discovery{Paths: map[string]handler3.OpenAPIV3DiscoveryGroupVersion{}}
		keys := make([]string, 0, len(s.keys))
		for k := range s.keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, key := range keys {
			d, err := newDocument(m.openAPIV3(key), handler3.ToV3ProtoBinary, now)
			if err != nil {
				s.v3Err = err
				return
			}
			docs[key] = d
			index.Paths[key] = handler3.OpenAPIV3DiscoveryGroupVersion{ServerRelativeURL: gvURL(key, d.etag)}
		}
		data, err := json.Marshal(index)
		if err != nil {
			s.v3Err = err
			return
		}
		s.v3, s.v3Index, s.v3ETag, s.built = docs, data, etag(data), now
	})
	return s.v3, s.v3Err
}

func gvURL(key, hash string) string {
	u := url.URL{Path: v3PathPrefix + key, RawQuery: url.Values{hashParameter: {hash}}.Encode()}
	return u.String()
}

// negotiate picks the first offered media type the Accept header allows, "" when none is.
func negotiate(r *http.Request, offers ...string) string {
	accept := r.Header.Get("Accept")
	if accept == "" {
		accept = "*/*"
	}
	for _, clause := range goautoneg.ParseAccept(accept) {
		for _, offer := range offers {
			typ, sub, _ := strings.Cut(offer, "/")
			if (clause.Type == typ || clause.Type == "*") && (clause.SubType == sub || clause.SubType == "*") {
				return offer
			}
		}
	}
	return ""
}

func (s *Service) serveV2(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Accept")
	mt := negotiate(r, mimeJSON, mimeV2PBOld, mimeV2PB)
	if mt == "" {
		http.Error(w, "not acceptable", http.StatusNotAcceptable)
		return
	}
	d, err := s.v2Doc()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	serveDocument(w, r, d, mt != mimeJSON, mimeV2PB)
}

func (s *Service) serveV3Index(w http.ResponseWriter, r *http.Request) {
	if _, err := s.v3Docs(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", mimeJSON)
	w.Header().Set("Etag", strconv.Quote(s.v3ETag))
	http.ServeContent(w, r, "", s.built, bytes.NewReader(s.v3Index))
}

func (s *Service) serveV3GroupVersion(w http.ResponseWriter, r *http.Request, key string) {
	w.Header().Add("Vary", "Accept")
	if !s.keys[key] {
		http.NotFound(w, r)
		return
	}
	mt := negotiate(r, mimeJSON, mimeV3PB, mimeV3PBOld)
	if mt == "" {
		http.Error(w, "not acceptable", http.StatusNotAcceptable)
		return
	}
	docs, err := s.v3Docs()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	d := docs[key]
	if hash := r.URL.Query().Get(hashParameter); hash != "" {
		if hash != d.etag {
			// A stale hash: send the client to the document it should cache now.
			http.Redirect(w, r, gvURL(key, d.etag), http.StatusMovedPermanently)
			return
		}
		// The URL names this exact content, so it may be cached for good.
		w.Header().Set("Cache-Control", "public, immutable")
		w.Header().Set("Expires", time.Now().AddDate(1, 0, 0).Format(time.RFC1123))
	}
	serveDocument(w, r, d, mt != mimeJSON, mimeV3PB)
}

func serveDocument(w http.ResponseWriter, r *http.Request, d *document, proto bool, protoType string) {
	data, contentType := d.json, mimeJSON
	if proto {
		var err error
		if data, err = d.protobuf(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		contentType = protoType
	}
	w.Header().Set("Content-Type", contentType)
	// One ETag for both encodings, as upstream: Vary: Accept keeps caches apart.
	w.Header().Set("Etag", strconv.Quote(d.etag))
	http.ServeContent(w, r, "", d.modified, bytes.NewReader(data))
}
