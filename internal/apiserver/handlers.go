package apiserver

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/auth"
	"github.com/skiff-dev/skiff/internal/apiserver/printers"
	"github.com/skiff-dev/skiff/internal/apiserver/scheme"
	"github.com/skiff-dev/skiff/internal/apiserver/storage"
)

func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, info *requestInfo) {
	ep := s.endpoints[schema.GroupVersionResource{Group: info.Group, Version: info.Version, Resource: info.Resource}]
	if ep == nil || len(info.Parts) > 3 {
		s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{Group: info.Group, Resource: info.Resource}, ""))
		return
	}
	if ep.res.Namespaced && info.Namespace == "" && info.Name != "" {
		s.writeError(w, r, apierrors.NewNotFound(ep.res.GroupResource(), info.Name))
		return
	}
	if !ep.res.Namespaced && info.Namespace != "" {
		s.writeError(w, r, apierrors.NewNotFound(ep.res.GroupResource(), info.Name))
		return
	}
	if podConnectSubresources[info.Subresource] {
		if err := s.handlePodConnect(w, r, ep, info); err != nil {
			s.writeError(w, r, err)
		}
		return
	}
	if only, ok := singleResourceSubresources[info.Subresource]; ok && (ep.res.GroupResource() != only.resource || info.Verb != only.verb) {
		s.writeError(w, r, apierrors.NewNotFound(ep.res.GroupResource(), info.Name))
		return
	}
	var err error
	switch info.Subresource {
	case "":
		if !ep.allows(info.Verb) {
			err = apierrors.NewMethodNotSupported(ep.res.GroupResource(), info.Verb)
			break
		}
		switch info.Verb {
		case "get":
			err = s.handleGet(w, r, ep, info)
		case "list", "watch":
			err = s.handleList(w, r, ep, info)
		case "create":
			err = s.handleCreate(w, r, ep, info)
		case "update":
			err = s.handleUpdate(w, r, ep, info, "")
		case "patch":
			err = s.handlePatch(w, r, ep, info, "")
		case "delete":
			err = s.handleDelete(w, r, ep, info)
		case "deletecollection":
			err = s.handleDeleteCollection(w, r, ep, info)
		default:
			err = apierrors.NewMethodNotSupported(ep.res.GroupResource(), r.Method)
		}
	case "status":
		if !ep.res.Status {
			err = apierrors.NewNotFound(ep.res.GroupResource(), info.Name)
			break
		}
		switch info.Verb {
		case "get":
			err = s.handleGet(w, r, ep, info)
		case "update":
			err = s.handleUpdate(w, r, ep, info, "status")
		case "patch":
			err = s.handlePatch(w, r, ep, info, "status")
		default:
			err = apierrors.NewMethodNotSupported(ep.res.GroupResource(), r.Method)
		}
	case "scale":
		if ep.res.Scale == nil {
			err = apierrors.NewNotFound(ep.res.GroupResource(), info.Name)
			break
		}
		err = s.handleScale(w, r, ep, info)
	case "binding":
		err = s.handleBinding(w, r, ep, info)
	case "eviction":
		err = s.handleEviction(w, r, ep, info)
	case "finalize":
		err = s.handleFinalize(w, r, ep, info)
	default:
		err = apierrors.NewNotFound(ep.res.GroupResource(), info.Name)
	}
	if err != nil {
		s.writeError(w, r, err)
	}
}

// singleResourceSubresources are subresources that one resource has, each serving one verb.
var singleResourceSubresources = map[string]struct {
	resource schema.GroupResource
	verb     string
}{
	"binding":  {schema.GroupResource{Resource: "pods"}, "create"},
	"eviction": {schema.GroupResource{Resource: "pods"}, "create"},
	"finalize": {schema.GroupResource{Resource: "namespaces"}, "update"},
}

func decodeParams(q url.Values, into runtime.Object) error {
	if t, ok := into.(*metav1.TableOptions); ok {
		// TableOptions lives in meta.k8s.io only; its one query parameter is read here.
		t.IncludeObject = metav1.IncludeObjectPolicy(q.Get("includeObject"))
		switch t.IncludeObject {
		case "", metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject:
			return nil
		}
		return apierrors.NewBadRequest(fmt.Sprintf("includeObject must be one of None, Metadata, Object; got %q", t.IncludeObject))
	}
	if err := scheme.ParameterCodec.DecodeParameters(q, schema.GroupVersion{Version: "v1"}, into); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	return nil
}

func (s *Server) writeOptions(r *http.Request, dryRun []string, manager string) (writeOptions, error) {
	opts := writeOptions{manager: managerName(manager, r.UserAgent())}
	for _, d := range dryRun {
		if d != metav1.DryRunAll {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("Invalid dry run value: %q (supported: All)", d))
		}
		opts.dryRun = true
	}
	opts.user, _ = auth.UserFrom(r.Context())
	return opts, nil
}

// respond writes obj (in the served version) in the negotiated format, as a table or metadata view
// when asked.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, ep *endpoint, code int, obj runtime.Object) error {
	out, err := negotiate(r, "Table", "PartialObjectMetadata")
	if err != nil {
		return err
	}
	switch out.As {
	case "Table":
		t, err := s.table(r, ep, obj)
		if err != nil {
			return err
		}
		s.writeObject(w, out, code, t)
		return nil
	case "PartialObjectMetadata":
		s.writeObject(w, out, code, partialMetadata(obj))
		return nil
	}
	if obj.GetObjectKind().GroupVersionKind().Empty() {
		obj.GetObjectKind().SetGroupVersionKind(ep.gvk)
	}
	s.writeObject(w, out, code, obj)
	return nil
}

func partialMetadata(obj runtime.Object) *metav1.PartialObjectMetadata {
	pom := &metav1.PartialObjectMetadata{}
	pom.APIVersion, pom.Kind = "meta.k8s.io/v1", "PartialObjectMetadata"
	// meta.Accessor hands back the object itself (a *ConfigMap is a metav1.Object); the embedded
	// ObjectMeta is reached through GetObjectMeta.
	if oma, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if om, ok := oma.GetObjectMeta().(*metav1.ObjectMeta); ok {
			pom.ObjectMeta = *om
		}
	}
	return pom
}

func (s *Server) table(r *http.Request, ep *endpoint, obj runtime.Object) (*metav1.Table, error) {
	var opts metav1.TableOptions
	if err := decodeParams(r.URL.Query(), &opts); err != nil {
		return nil, err
	}
	return s.tableWith(ep, obj, opts)
}

func (s *Server) tableWith(ep *endpoint, obj runtime.Object, opts metav1.TableOptions) (*metav1.Table, error) {
	t := ep.res.Table
	if t == nil {
		t = printers.Default()
	}
	include := opts.IncludeObject
	if include == "" {
		include = metav1.IncludeMetadata
	}
	return printers.BuildTable(t, obj, include, opts.NoHeaders)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, ep *endpoint, info *requestInfo) error {
	var opts metav1.GetOptions
	if err := decodeParams(r.URL.Query(), &opts); err != nil {
		return err
	}
	stored, err := ep.store.Get(r.Context(), ep.key(info.Namespace, info.Name), storage.ReadOptions{RV: opts.ResourceVersion})
	if err != nil {
		return storageError(err, ep.res.GroupResource(), info.Name)
	}
	obj, err := ep.fromStorage(stored)
	if err != nil {
		return err
	}
	return s.respond(w, r, ep, http.StatusOK, obj)
}

// selectorFilter builds the label and field selector of a list or watch, refusing fields the
// resource does not support.
func (s *Server) selectorFilter(ep *endpoint, opts *metav1.ListOptions) (func(runtime.Object) bool, error) {
	var ls labels.Selector
	var fs fields.Selector
	if opts.LabelSelector != "" {
		sel, err := labels.Parse(opts.LabelSelector)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
		}
		ls = sel
	}
	if opts.FieldSelector != "" {
		sel, err := fields.ParseSelector(opts.FieldSelector)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
		}
		supported := ep.selectableFields(ep.newObject())
		for _, req := range sel.Requirements() {
			if _, ok := supported[req.Field]; !ok {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
			}
		}
		fs = sel
	}
	if ls == nil && fs == nil {
		return nil, nil
	}
	return func(obj runtime.Object) bool {
		if ep.converts() {
			conv, err := ep.fromStorage(obj)
			if err != nil {
				return false
			}
			obj = conv
		}
		if ls != nil && !ls.Matches(labels.Set(accessor(obj).GetLabels())) {
			return false
		}
		return fs == nil || fs.Matches(ep.selectableFields(obj))
	}, nil
}

// selectableFields are the fields a field selector can name: metadata.name, metadata.namespace and
// the resource's own.
func (e *endpoint) selectableFields(obj runtime.Object) fields.Set {
	m := accessor(obj)
	set := fields.Set{"metadata.name": m.GetName()}
	if e.res.Namespaced {
		set["metadata.namespace"] = m.GetNamespace()
	}
	if f := e.res.Strategy.SelectableFields; f != nil {
		for k, v := range f(obj) {
			set[k] = v
		}
	}
	return set
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request, ep *endpoint, info *requestInfo) error {
	var opts metav1.ListOptions
	if err := decodeParams(r.URL.Query(), &opts); err != nil {
		return err
	}
	filter, err := s.selectorFilter(ep, &opts)
	if err != nil {
		return err
	}
	if info.Verb == "watch" || opts.Watch {
		return s.serveWatch(w, r, ep, info, &opts, filter)
	}
	if errs := validateListOptions(&opts); len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Group: "meta.k8s.io", Kind: "ListOptions"}, "", errs)
	}
	if opts.Continue != "" && opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
		return apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
	}
	out, err := negotiate(r, "Table", "PartialObjectMetadataList")
	if err != nil {
		return err
	}
	res, err := ep.store.List(r.Context(), storage.ListOptions{
		ReadOptions: storage.ReadOptions{RV: opts.ResourceVersion, RVMatch: opts.ResourceVersionMatch},
		Namespace:   info.Namespace, Limit: opts.Limit, Continue: opts.Continue, Filter: filter,
	})
	if err != nil {
		if errors.Is(err, storage.ErrCompacted) && opts.Continue != "" {
			return apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
		}
		return storageError(err, ep.res.GroupResource(), "")
	}
	lm := metav1.ListMeta{ResourceVersion: strconv.FormatInt(res.RV, 10), Continue: res.Continue, RemainingItemCount: res.Remaining}
	if out.As == "" && !out.Pretty && !ep.converts() {
		switch out.MediaType {
		case mediaJSON:
			return s.writeJSONList(w, ep, lm, res.Items)
		case mediaProtobuf:
			return s.writeProtobufList(w, ep, lm, res.Items)
		}
	}
	objs := make([]runtime.Object, 0, len(res.Items))
	for _, it := range res.Items {
		obj, err := ep.fromStorage(it.Object)
		if err != nil {
			return err
		}
		objs = append(objs, obj)
	}
	switch out.As {
	case "PartialObjectMetadataList":
		list := &metav1.PartialObjectMetadataList{ListMeta: lm}
		list.APIVersion, list.Kind = "meta.k8s.io/v1", "PartialObjectMetadataList"
		for _, o := range objs {
			list.Items = append(list.Items, *partialMetadata(o))
		}
		s.writeObject(w, out, http.StatusOK, list)
		return nil
	}
	list := ep.newList()
	if err := meta.SetList(list, objs); err != nil {
		return err
	}
	la, _ := meta.ListAccessor(list)
	la.SetResourceVersion(lm.ResourceVersion)
	la.SetContinue(lm.Continue)
	la.SetRemainingItemCount(lm.RemainingItemCount)
	if out.As == "Table" {
		t, err := s.table(r, ep, list)
		if err != nil {
			return err
		}
		s.writeObject(w, out, http.StatusOK, t)
		return nil
	}
	s.writeObject(w, out, http.StatusOK, list)
	return nil
}

// validateListOptions checks the options of a list (not a watch) as upstream does: a
// resourceVersionMatch needs a resourceVersion and no continue token, and sendInitialEvents is for
// watches only.
func validateListOptions(opts *metav1.ListOptions) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("resourceVersionMatch")
	if m := opts.ResourceVersionMatch; m != "" {
		if opts.ResourceVersion == "" {
			errs = append(errs, field.Forbidden(p, "resourceVersionMatch is forbidden unless resourceVersion is provided"))
		}
		if opts.Continue != "" {
			errs = append(errs, field.Forbidden(p, "resourceVersionMatch is forbidden when continue is provided"))
		}
		if m != metav1.ResourceVersionMatchExact && m != metav1.ResourceVersionMatchNotOlderThan {
			errs = append(errs, field.NotSupported(p, m, []string{string(metav1.ResourceVersionMatchExact), string(metav1.ResourceVersionMatchNotOlderThan), ""}))
		}
		if m == metav1.ResourceVersionMatchExact && opts.ResourceVersion == "0" {
			errs = append(errs, field.Forbidden(p, `resourceVersionMatch "exact" is forbidden for resourceVersion "0"`))
		}
	}
	if opts.SendInitialEvents != nil {
		errs = append(errs, field.Forbidden(field.NewPath("sendInitialEvents"), "sendInitialEvents is forbidden for list"))
	}
	return errs
}

// writeJSONList streams a JSON list made of each item's memoised encoding: a list of thousands of
// objects costs a copy, not thousands of encodes, and no list-sized buffer.
func (s *Server) writeJSONList(w http.ResponseWriter, ep *endpoint, lm metav1.ListMeta, items []*storage.Item) error {
	lmJSON, err := jsonMarshal(lm)
	if err != nil {
		return err
	}
	encoded := make([][]byte, len(items))
	for i, it := range items {
		if encoded[i], err = it.Memo(mediaJSON, encodeJSON); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", mediaJSON)
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, `{"kind":%q,"apiVersion":%q,"metadata":%s,"items":[`, ep.gvk.Kind+"List", ep.gvk.GroupVersion().String(), lmJSON)
	for i, b := range encoded {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.Write(b)
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}

// protoMessage is what k8s.io/api types implement for protobuf.
type protoMessage interface {
	Marshal() ([]byte, error)
}

// writeProtobufList streams a protobuf list made of each item's memoised message. Every k8s.io/api
// list is ListMeta as field 1 and the items as repeated field 2; the list travels in the
// runtime.Unknown envelope (typeMeta = 1, raw = 2, contentEncoding = 3, contentType = 4) after the
// "k8s\x00" prefix. The sizes are known up front, so nothing list-sized is buffered.
func (s *Server) writeProtobufList(w http.ResponseWriter, ep *endpoint, lm metav1.ListMeta, items []*storage.Item) error {
	meta, err := lm.Marshal()
	if err != nil {
		return err
	}
	encoded := make([][]byte, len(items))
	rawLen := protoFieldLen(1, len(meta))
	for i, it := range items {
		if encoded[i], err = it.Memo(mediaProtobuf, encodeProtoMessage); err != nil {
			return err
		}
		rawLen += protoFieldLen(2, len(encoded[i]))
	}
	tm := runtime.TypeMeta{APIVersion: ep.gvk.GroupVersion().String(), Kind: ep.gvk.Kind + "List"}
	tmBytes, err := tm.Marshal()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", mediaProtobuf)
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString("k8s\x00")
	bw.Write(appendProtoField(nil, 1, tmBytes))
	bw.Write(appendProtoHeader(nil, 2, rawLen))
	bw.Write(appendProtoField(nil, 1, meta))
	var hdr []byte
	for _, b := range encoded {
		hdr = appendProtoHeader(hdr[:0], 2, len(b))
		bw.Write(hdr)
		bw.Write(b)
	}
	bw.Write(appendProtoHeader(nil, 3, 0))
	bw.Write(appendProtoHeader(nil, 4, 0))
	return bw.Flush()
}

func encodeProtoMessage(obj runtime.Object) ([]byte, error) {
	m, ok := obj.(protoMessage)
	if !ok {
		return nil, fmt.Errorf("%T has no protobuf encoding", obj)
	}
	return m.Marshal()
}

// appendProtoField appends a length-delimited field (wire type 2).
func appendProtoField(b []byte, field int, data []byte) []byte {
	return append(appendProtoHeader(b, field, len(data)), data...)
}

// appendProtoHeader appends the tag and length of a length-delimited field.
func appendProtoHeader(b []byte, field, n int) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3|2)
	return binary.AppendUvarint(b, uint64(n))
}

// protoFieldLen is the encoded size of a length-delimited field holding n bytes.
func protoFieldLen(field, n int) int {
	var buf [2 * binary.MaxVarintLen64]byte
	return len(appendProtoHeader(buf[:0], field, n)) + n
}

func encodeJSON(obj runtime.Object) ([]byte, error) {
	var buf bytes.Buffer
	if err := scheme.JSON.Encode(obj, &buf); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// readBody reads a request body; a body over the limit is a 413.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(fmt.Sprintf("the request body exceeds the limit of %d bytes", MaxRequestBodyBytes))
		}
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return b, nil
}

// decodeBody decodes a request body into an object of the endpoint's kind, with the field
// validation the request asked for (Strict: unknown and duplicate fields fail; Warn, the default:
// they become warnings; Ignore).
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, ep *endpoint, fieldValidation string) (runtime.Object, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	fv, err := parseFieldValidation(fieldValidation)
	if err != nil {
		return nil, err
	}
	dec, _, err := bodyDecoder(r, fv != "Ignore")
	if err != nil {
		return nil, err
	}
	return decodeAs(w, dec, body, ep.gvk, ep.newObject(), fv)
}

func parseFieldValidation(v string) (string, error) {
	switch v {
	case "":
		return "Warn", nil
	case "Strict", "Warn", "Ignore":
		return v, nil
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation parameter unsupported: %s", v))
}

// decodeAs decodes a request body into a new object of kind gvk, reporting decoding errors as
// upstream does for bodies: "Deployment in version "v1" cannot be handled as a Deployment: ...".
func decodeAs(w http.ResponseWriter, dec runtime.Decoder, body []byte, gvk schema.GroupVersionKind, into runtime.Object, fv string) (runtime.Object, error) {
	return decodeObject(w, dec, body, gvk, into, fv, true)
}

// decodePatched decodes the result of a patch; its errors are not wrapped as a body's are, since
// the client never sent that document.
func decodePatched(w http.ResponseWriter, dec runtime.Decoder, patched []byte, gvk schema.GroupVersionKind, into runtime.Object, fv string) (runtime.Object, error) {
	return decodeObject(w, dec, patched, gvk, into, fv, false)
}

func decodeObject(w http.ResponseWriter, dec runtime.Decoder, body []byte, gvk schema.GroupVersionKind, into runtime.Object, fv string, isBody bool) (runtime.Object, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, apierrors.NewBadRequest("the request body is empty: an object is required")
	}
	obj, got, err := dec.Decode(body, &gvk, into)
	if err != nil {
		if runtime.IsStrictDecodingError(err) && obj != nil {
			if fv == "Strict" {
				if isBody {
					return nil, bodyDecodeError(err, got, gvk, body)
				}
				return nil, apierrors.NewBadRequest(err.Error())
			}
			if fv == "Warn" {
				var sde interface{ Errors() []error }
				if errors.As(err, &sde) {
					for _, e := range sde.Errors() {
						addWarning(w, e.Error())
					}
				}
			}
		} else if isBody {
			return nil, bodyDecodeError(err, got, gvk, body)
		} else {
			// The patch produced a document of the wrong shape (a number where a string goes): the
			// patch is what is invalid, and kubectl prints "The request is invalid: patch: ...".
			return nil, apierrors.NewInvalid(schema.GroupKind{}, "", field.ErrorList{
				field.Invalid(field.NewPath("patch"), string(body), err.Error())})
		}
	}
	if got != nil && (got.Group != gvk.Group || got.Kind != gvk.Kind || got.Version != gvk.Version) {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", got.GroupVersion(), gvk.GroupVersion()))
	}
	if fmt.Sprintf("%T", obj) != fmt.Sprintf("%T", into) {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the object provided is of kind %s, expected %s", got.Kind, gvk.Kind))
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return obj, nil
}

// bodyDecodeError names the kind the body claimed and the kind expected, so that kubectl users see
// which object of a multi-document file was refused, with upstream's wording.
func bodyDecodeError(err error, got *schema.GroupVersionKind, want schema.GroupVersionKind, body []byte) error {
	if got != nil && got.Kind != "" {
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", got.Kind, got.Version, want.Kind, err))
	}
	return apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized (must be of type %s): %v (%s)", want.Kind, err, bodySummary(body, 30)))
}

// bodySummary shows the start of a body that could not be decoded: as text when it looks like JSON,
// in hex otherwise (a binary body would garble the message).
func bodySummary(body []byte, max int) string {
	if len(body) == 0 {
		return "<empty>"
	}
	more := ""
	if len(body) > max {
		body, more = body[:max], " ..."
	}
	if body[0] == '{' {
		return string(body) + more
	}
	return hex.EncodeToString(body) + more
}

func addWarning(w http.ResponseWriter, msg string) {
	w.Header().Add("Warning", `299 - `+strconv.Quote(msg))
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request, ep *endpoint, info *requestInfo) error {
	var opts metav1.CreateOptions
	if err := decodeParams(r.URL.Query(), &opts); err != nil {
		return err
	}
	if ep.res.Namespaced && info.Namespace == "" {
		return apierrors.NewBadRequest("the server could not find the requested resource: a namespace is required for " + ep.res.Resource)
	}
	obj, err := s.decodeBody(w, r, ep, opts.FieldValidation)
	if err != nil {
		return err
	}
	wo, err := s.writeOptions(r, opts.DryRun, opts.FieldManager)
	if err != nil {
		return err
	}
	out, err := s.create(r.Context(), ep, info.Namespace, obj, wo)
	if err != nil {
		return err
	}
	return s.respond(w, r, ep, http.StatusCreated, out)
}

// decodeUpdate reads what every PUT carries: UpdateOptions, the object, and the write options
// they imply for subresource sub.
func (s *Server) decodeUpdate(w http.ResponseWriter, r *http.Request, ep *endpoint, sub string) (runtime.Object, writeOptions, error) {
	var opts metav1.UpdateOptions
	if err := decodeParams(r.URL.Query(), &opts); err != nil {
		return nil, writeOptions{}, err
	}
	obj, err := s.decodeBody(w, r, ep, opts.FieldValidation)
	if err != nil {
		return nil, writeOptions{}, err
	}
	wo, err := s.writeOptions(r, opts.DryRun, opts.FieldManager)
	wo.subresource = sub
	return obj, wo, err
}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request, ep *endpoint, info *requestInfo, sub string) error {
	obj, wo, err := s.decodeUpdate(w, r, ep, sub)
	if err != nil {
		return err
	}
	out, created, err := s.update(r.Context(), ep, info.Namespace, info.Name, func(runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	}, ep.res.AllowCreateOnUpdate && sub == "", wo)
	if err != nil {
		return err
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	return s.respond(w, r, ep, code, out)
}

func (s *Server) deleteOptions(w http.ResponseWriter, r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) > 0 {
		dec, _, err := bodyDecoder(r, false)
		if err != nil {
			return nil, err
		}
		gvk := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
		obj, _, err := dec.Decode(body, &gvk, opts)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid delete options: %v", err))
		}
		if o, ok := obj.(*metav1.DeleteOptions); ok {
			opts = o
		} else {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("expected DeleteOptions, got %T", obj))
		}
	}
	if err := decodeParams(r.URL.Query(), opts); err != nil {
		return nil, err
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		one := int64(1)
		opts.GracePeriodSeconds = &one
	}
	if opts.OrphanDependents != nil && opts.PropagationPolicy != nil {
		return nil, apierrors.NewInvalid(schema.GroupKind{Kind: "DeleteOptions"}, "", field.ErrorList{
			field.Invalid(field.NewPath("propagationPolicy"), *opts.PropagationPolicy, "orphanDependents and deletionPropagation cannot be both set")})
	}
	if p := opts.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return nil, apierrors.NewInvalid(schema.GroupKind{Kind: "DeleteOptions"}, "", field.ErrorList{
				field.NotSupported(field.NewPath("propagationPolicy"), *p, []string{"Foreground", "Background", "Orphan"})})
		}
	}
	return opts, nil
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, ep *endpoint, info *requestInfo) error {
	opts, err := s.deleteOptions(w, r)
	if err != nil {
		return err
	}
	wo, err := s.writeOptions(r, opts.DryRun, "")
	if err != nil {
		return err
	}
	out, gone, err := s.remove(r.Context(), ep, info.Namespace, info.Name, opts, wo)
	if err != nil {
		return err
	}
	if !gone {
		return s.respond(w, r, ep, http.StatusOK, out)
	}
	m := accessor(out)
	st := &metav1.Status{Status: metav1.StatusSuccess, Details: &metav1.StatusDetails{
		Name: m.GetName(), Group: ep.res.Group, Kind: ep.res.Resource, UID: m.GetUID()}}
	st.Kind, st.APIVersion = "Status", "v1"
	out2, err := negotiate(r)
	if err != nil {
		return err
	}
	s.writeObject(w, out2, http.StatusOK, st)
	return nil
}

func (s *Server) handleDeleteCollection(w http.ResponseWriter, r *http.Request, ep *endpoint, info *requestInfo) error {
	opts, err := s.deleteOptions(w, r)
	if err != nil {
		return err
	}
	var lo metav1.ListOptions
	if err := decodeParams(r.URL.Query(), &lo); err != nil {
		return err
	}
	filter, err := s.selectorFilter(ep, &lo)
	if err != nil {
		return err
	}
	wo, err := s.writeOptions(r, opts.DryRun, "")
	if err != nil {
		return err
	}
	res, err := ep.store.List(r.Context(), storage.ListOptions{Namespace: info.Namespace, Filter: filter})
	if err != nil {
		return storageError(err, ep.res.GroupResource(), "")
	}
	var objs []runtime.Object
	for _, it := range res.Items {
		m := accessor(it.Object)
		out, _, err := s.remove(r.Context(), ep, m.GetNamespace(), m.GetName(), opts, wo)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		objs = append(objs, out)
	}
	list := ep.newList()
	if err := meta.SetList(list, objs); err != nil {
		return err
	}
	la, _ := meta.ListAccessor(list)
	la.SetResourceVersion(strconv.FormatInt(res.RV, 10))
	return s.respond(w, r, ep, http.StatusOK, list)
}

// handleScale serves the scale subresource as autoscaling/v1 Scale.
func (s *Server) handleScale(w http.ResponseWriter, r *http.Request, ep *endpoint, info *requestInfo) error {
	sa := ep.res.Scale
	toScale := func(obj runtime.Object) (*autoscalingv1.Scale, error) {
		m := accessor(obj)
		sel, err := sa.Selector(obj)
		if err != nil {
			return nil, err
		}
		sc := &autoscalingv1.Scale{
			ObjectMeta: metav1.ObjectMeta{Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
				ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp()},
			Spec:   autoscalingv1.ScaleSpec{Replicas: sa.SpecReplicas(obj)},
			Status: autoscalingv1.ScaleStatus{Replicas: sa.StatusReplicas(obj), Selector: sel},
		}
		sc.APIVersion, sc.Kind = "autoscaling/v1", "Scale"
		return sc, nil
	}
	writeScale := func(code int, obj runtime.Object) error {
		sc, err := toScale(obj)
		if err != nil {
			return err
		}
		out, err := negotiate(r)
		if err != nil {
			return err
		}
		s.writeObject(w, out, code, sc)
		return nil
	}
	switch info.Verb {
	case "get":
		stored, err := ep.store.Get(r.Context(), ep.key(info.Namespace, info.Name), storage.ReadOptions{})
		if err != nil {
			return storageError(err, ep.res.GroupResource(), info.Name)
		}
		obj, err := ep.fromStorage(stored)
		if err != nil {
			return err
		}
		return writeScale(http.StatusOK, obj)
	case "update", "patch":
	default:
		return apierrors.NewMethodNotSupported(schema.GroupResource{Group: "autoscaling", Resource: "scale"}, r.Method)
	}
	var opts metav1.UpdateOptions
	if err := decodeParams(r.URL.Query(), &opts); err != nil {
		return err
	}
	wo, err := s.writeOptions(r, opts.DryRun, opts.FieldManager)
	if err != nil {
		return err
	}
	scaleGVK := autoscalingv1.SchemeGroupVersion.WithKind("Scale")
	var body []byte
	var newScale func(cur *autoscalingv1.Scale) (*autoscalingv1.Scale, error)
	if info.Verb == "update" {
		fv, err := parseFieldValidation(opts.FieldValidation)
		if err != nil {
			return err
		}
		body, err = readBody(r)
		if err != nil {
			return err
		}
		dec, _, err := bodyDecoder(r, fv != "Ignore")
		if err != nil {
			return err
		}
		obj, err := decodeAs(w, dec, body, scaleGVK, &autoscalingv1.Scale{}, fv)
		if err != nil {
			return err
		}
		newScale = func(*autoscalingv1.Scale) (*autoscalingv1.Scale, error) { return obj.(*autoscalingv1.Scale), nil }
	} else {
		body, err = readBody(r)
		if err != nil {
			return err
		}
		pt := patchType(r)
		newScale = func(cur *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
			out := &autoscalingv1.Scale{}
			if err := applyPatchTo(pt, cur, body, out); err != nil {
				return nil, err
			}
			return out, nil
		}
	}
	out, _, err := s.update(r.Context(), ep, info.Namespace, info.Name, func(cur runtime.Object) (runtime.Object, error) {
		if cur == nil {
			return nil, apierrors.NewNotFound(ep.res.GroupResource(), info.Name)
		}
		curScale, err := toScale(cur)
		if err != nil {
			return nil, err
		}
		sc, err := newScale(curScale)
		if err != nil {
			return nil, err
		}
		if sc.Name != "" && sc.Name != info.Name {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", sc.Name, info.Name))
		}
		if sc.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(scaleGVK.GroupKind(), info.Name, field.ErrorList{
				field.Invalid(field.NewPath("spec", "replicas"), sc.Spec.Replicas, "must be greater than or equal to 0")})
		}
		if sc.ResourceVersion != "" && sc.ResourceVersion != accessor(cur).GetResourceVersion() {
			return nil, apierrors.NewConflict(ep.res.GroupResource(), info.Name, errors.New(conflictMessage))
		}
		sa.SetSpecReplicas(cur, sc.Spec.Replicas)
		return cur, nil
	}, false, wo)
	if err != nil {
		return err
	}
	return writeScale(http.StatusOK, out)
}

// handleBinding assigns a pod to a node (pods/binding), as the scheduler does.
func (s *Server) handleBinding(w http.ResponseWriter, r *http.Request, ep *endpoint, info *requestInfo) error {
	var opts metav1.CreateOptions
	if err := decodeParams(r.URL.Query(), &opts); err != nil {
		return err
	}
	obj, err := decodeSubresourceBody(w, r, corev1.SchemeGroupVersion.WithKind("Binding"), &corev1.Binding{})
	if err != nil {
		return err
	}
	b := obj.(*corev1.Binding)
	if b.Name != "" && b.Name != info.Name {
		return apierrors.NewBadRequest("the name of the binding does not match the pod's")
	}
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, b.Name, field.ErrorList{
			field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node", "<empty>"})})
	}
	if b.Target.Name == "" {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, b.Name, field.ErrorList{
			field.Required(field.NewPath("target", "name"), "")})
	}
	wo, err := s.writeOptions(r, opts.DryRun, opts.FieldManager)
	if err != nil {
		return err
	}
	wo.subresource = "binding"
	wo.untracked = true
	_, _, err = s.update(r.Context(), ep, info.Namespace, info.Name, func(cur runtime.Object) (runtime.Object, error) {
		if cur == nil {
			return nil, apierrors.NewNotFound(ep.res.GroupResource(), info.Name)
		}
		pod := cur.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(ep.res.GroupResource(), info.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", info.Name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(ep.res.GroupResource(), info.Name, fmt.Errorf("pod %s is already assigned to node %q", info.Name, pod.Spec.NodeName))
		}
		if b.UID != "" && b.UID != pod.UID {
			return nil, apierrors.NewConflict(ep.res.GroupResource(), info.Name, fmt.Errorf("precondition failed: UID in binding %s does not match the pod's %s", b.UID, pod.UID))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(&pod.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
		return pod, nil
	}, false, wo)
	if err != nil {
		return err
	}
	st := &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusCreated}
	st.Kind, st.APIVersion = "Status", "v1"
	out, err := negotiate(r)
	if err != nil {
		return err
	}
	s.writeObject(w, out, http.StatusCreated, st)
	return nil
}

// decodeSubresourceBody decodes the body of a POST to a subresource (Binding, Eviction), which
// carries its own kind rather than the resource's.
func decodeSubresourceBody(w http.ResponseWriter, r *http.Request, gvk schema.GroupVersionKind, into runtime.Object) (runtime.Object, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	dec, _, err := bodyDecoder(r, false)
	if err != nil {
		return nil, err
	}
	return decodeAs(w, dec, body, gvk, into, "Ignore")
}

func setPodCondition(st *corev1.PodStatus, c corev1.PodCondition) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == c.Type {
			if st.Conditions[i].Status == c.Status {
				return
			}
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}

// handleEviction deletes a pod unless a PodDisruptionBudget forbids it (429).
func (s *Server) handleEviction(w http.ResponseWriter, r *http.Request, ep *endpoint, info *requestInfo) error {
	obj, err := decodeSubresourceBody(w, r, policyv1.SchemeGroupVersion.WithKind("Eviction"), &policyv1.Eviction{})
	if err != nil {
		return err
	}
	ev := obj.(*policyv1.Eviction)
	if ev.Name != "" && ev.Name != info.Name {
		return apierrors.NewBadRequest("name in URL does not match name in Eviction object")
	}
	do := ev.DeleteOptions
	if do == nil {
		do = &metav1.DeleteOptions{}
	}
	wo, err := s.writeOptions(r, do.DryRun, "")
	if err != nil {
		return err
	}
	if s.cfg.Eviction != nil {
		if err := s.cfg.Eviction(r.Context(), info.Namespace, info.Name, wo.dryRun); err != nil {
			return err
		}
	}
	if _, _, err := s.remove(r.Context(), ep, info.Namespace, info.Name, do, wo); err != nil {
		return err
	}
	st := &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusCreated}
	st.Kind, st.APIVersion = "Status", "v1"
	out, err := negotiate(r)
	if err != nil {
		return err
	}
	s.writeObject(w, out, http.StatusCreated, st)
	return nil
}

// handleFinalize updates a namespace's spec.finalizers (namespaces/finalize), which the namespace
// controller clears once the namespace is empty.
func (s *Server) handleFinalize(w http.ResponseWriter, r *http.Request, ep *endpoint, info *requestInfo) error {
	obj, wo, err := s.decodeUpdate(w, r, ep, "finalize")
	if err != nil {
		return err
	}
	want := obj.(*corev1.Namespace).Spec.Finalizers
	out, _, err := s.update(r.Context(), ep, "", info.Name, func(cur runtime.Object) (runtime.Object, error) {
		if cur == nil {
			return nil, apierrors.NewNotFound(ep.res.GroupResource(), info.Name)
		}
		ns := cur.(*corev1.Namespace)
		if rv := accessor(obj).GetResourceVersion(); rv != "" && rv != ns.ResourceVersion {
			return nil, apierrors.NewConflict(ep.res.GroupResource(), info.Name, errors.New(conflictMessage))
		}
		ns.Spec.Finalizers = want
		return ns, nil
	}, false, wo)
	if err != nil {
		return err
	}
	return s.respond(w, r, ep, http.StatusOK, out)
}

func patchType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.TrimSpace(ct)
}
