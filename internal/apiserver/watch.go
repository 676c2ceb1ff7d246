package apiserver

import (
	"bytes"
	"errors"
	"math/rand"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/skiff-dev/skiff/internal/apiserver/storage"
)

// minWatchTimeout is the shortest server-chosen watch duration; watches without timeoutSeconds end
// after a random time between it and twice it, so reconnects of many clients spread out.
const minWatchTimeout = 30 * time.Minute

func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, ep *endpoint, info *requestInfo, opts *metav1.ListOptions, filter func(runtime.Object) bool) error {
	out, err := negotiate(r, "Table", "PartialObjectMetadata")
	if err != nil {
		return err
	}
	if out.MediaType == mediaYAML {
		out.MediaType = mediaJSON
		out.Info, _ = serializerInfo(mediaJSON)
	}
	if out.Info.StreamSerializer == nil {
		return statusError(http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable, "no streaming serializer for %s", out.MediaType)
	}
	initialEvents := opts.SendInitialEvents != nil && *opts.SendInitialEvents
	var errs field.ErrorList
	if opts.SendInitialEvents != nil {
		if opts.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan {
			errs = append(errs, field.Forbidden(field.NewPath("resourceVersionMatch"), "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
		}
		if !opts.AllowWatchBookmarks && initialEvents {
			errs = append(errs, field.Forbidden(field.NewPath("allowWatchBookmarks"), "sendInitialEvents requires setting allowWatchBookmarks to true"))
		}
	}
	if m := opts.ResourceVersionMatch; m != "" {
		p := field.NewPath("resourceVersionMatch")
		if opts.SendInitialEvents == nil {
			errs = append(errs, field.Forbidden(p, "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"))
		}
		if m != metav1.ResourceVersionMatchNotOlderThan {
			errs = append(errs, field.NotSupported(p, m, []string{string(metav1.ResourceVersionMatchNotOlderThan)}))
		}
		if opts.Continue != "" {
			errs = append(errs, field.Forbidden(p, "resourceVersionMatch is forbidden when continue is provided"))
		}
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("ListOptions").GroupKind(), "", errs)
	}
	var rv int64
	if opts.ResourceVersion != "" {
		v, err := strconv.ParseInt(opts.ResourceVersion, 10, 64)
		if err != nil || v < 0 {
			return apierrors.NewBadRequest("invalid resource version: " + opts.ResourceVersion)
		}
		rv = v
	}
	wopts := storage.WatchOptions{Namespace: info.Namespace, RV: rv, Filter: filter, Bookmarks: opts.AllowWatchBookmarks}
	switch {
	case opts.SendInitialEvents != nil:
		wopts.InitialState = initialEvents
		if opts.ResourceVersion == "" {
			// The state must be at least as new as etcd now: a consistent start.
			res, err := ep.store.List(r.Context(), storage.ListOptions{Limit: 1})
			if err != nil {
				return storageError(err, ep.res.GroupResource(), "")
			}
			wopts.RV = res.RV
			if !initialEvents {
				wopts.RV = res.RV
			}
		}
	case opts.ResourceVersion == "" || opts.ResourceVersion == "0":
		// Legacy semantics: no (or any) version means "the current state, then the changes".
		wopts.InitialState = true
	}
	wa, err := ep.store.Watch(r.Context(), wopts)
	if errors.Is(err, storage.ErrCompacted) {
		// Upstream answers a parsed but too old resourceVersion with a stream holding one ERROR
		// event, as etcd's own watch does, rather than with an error status.
		w.Header().Set("Content-Type", out.MediaType+";stream=watch")
		w.WriteHeader(http.StatusOK)
		framer := out.Info.StreamSerializer.Framer.NewFrameWriter(w)
		st := apierrors.NewResourceExpired("too old resource version: " + opts.ResourceVersion).Status()
		st.Kind, st.APIVersion = "Status", "v1"
		_ = s.writeWatchEvent(framer, out, storage.Event{Type: watch.Error}, func(storage.Event) ([]byte, error) { return out.encode(&st) })
		return nil
	}
	if err != nil {
		return storageError(err, ep.res.GroupResource(), "")
	}
	defer wa.Stop()

	timeout := minWatchTimeout + time.Duration(rand.Int63n(int64(minWatchTimeout)))
	if opts.TimeoutSeconds != nil && *opts.TimeoutSeconds > 0 {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	ctx := r.Context()

	flusher, _ := w.(http.Flusher)
	ct := out.MediaType + ";stream=watch"
	if out.As != "" {
		ct = out.contentType()
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	framer := out.Info.StreamSerializer.Framer.NewFrameWriter(w)
	embedded := out
	var tableOpts metav1.TableOptions
	if out.As == "Table" {
		if err := decodeParams(r.URL.Query(), &tableOpts); err != nil {
			return nil
		}
	}
	headersSent := tableOpts.NoHeaders
	pendingInitial := initialEvents

	encodeObj := func(ev storage.Event) ([]byte, error) {
		if ev.Type == watch.Bookmark {
			obj := ep.newObject()
			m := accessor(obj)
			m.SetResourceVersion(strconv.FormatInt(ev.RV, 10))
			if ev.InitialEventsEnd {
				m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
			}
			if out.As == "PartialObjectMetadata" {
				return embedded.encode(partialMetadata(obj))
			}
			return embedded.encode(obj)
		}
		it := ev.Item
		if ev.Type == watch.Deleted {
			// A deleted object is reported as it last was, at the deletion's revision.
			obj, err := ep.fromStorage(it.Object)
			if err != nil {
				return nil, err
			}
			if !ep.converts() {
				obj = obj.DeepCopyObject()
			}
			accessor(obj).SetResourceVersion(strconv.FormatInt(ev.RV, 10))
			return s.encodeWatchObject(r, ep, embedded, obj, &headersSent)
		}
		if out.As == "" && !out.Pretty && !ep.converts() {
			switch out.MediaType {
			case mediaJSON:
				return it.Memo(mediaJSON, encodeJSON)
			case mediaProtobuf:
				// The whole envelope, as a watch event embeds it (a list embeds bare messages).
				return it.Memo("watch:"+mediaProtobuf, embedded.encode)
			}
		}
		obj, err := ep.fromStorage(it.Object)
		if err != nil {
			return nil, err
		}
		return s.encodeWatchObject(r, ep, embedded, obj, &headersSent)
	}

	for {
		if pendingInitial && !wa.HasPending() {
			pendingInitial = false
			if err := s.writeWatchEvent(framer, out, storage.Event{Type: watch.Bookmark, RV: wa.StartRV, InitialEventsEnd: true}, encodeObj); err != nil {
				return nil
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		ev, ok := wa.NextUntil(ctx, timer.C)
		if !ok {
			return nil
		}
		if err := s.writeWatchEvent(framer, out, ev, encodeObj); err != nil {
			return nil
		}
		if flusher != nil && !wa.HasPending() && wa.Buffered() == 0 {
			flusher.Flush()
		}
	}
}

func (s *Server) encodeWatchObject(r *http.Request, ep *endpoint, out output, obj runtime.Object, headersSent *bool) ([]byte, error) {
	switch out.As {
	case "Table":
		var opts metav1.TableOptions
		_ = decodeParams(r.URL.Query(), &opts)
		opts.NoHeaders = *headersSent
		t, err := s.tableWith(ep, obj, opts)
		if err != nil {
			return nil, err
		}
		*headersSent = true
		return out.encode(t)
	case "PartialObjectMetadata":
		return out.encode(partialMetadata(obj))
	}
	return out.encode(obj)
}

func (s *Server) writeWatchEvent(fw interface{ Write([]byte) (int, error) }, out output, ev storage.Event, encode func(storage.Event) ([]byte, error)) error {
	raw, err := encode(ev)
	if err != nil {
		s.log.Error("encoding watch event", "err", err)
		st := apierrors.NewInternalError(err).Status()
		st.Kind, st.APIVersion = "Status", "v1"
		raw, _ = out.encode(&st)
		ev.Type = watch.Error
	}
	we := &metav1.WatchEvent{Type: string(ev.Type), Object: runtime.RawExtension{Raw: bytes.TrimRight(raw, "\n")}}
	var buf bytes.Buffer
	if err := out.Info.StreamSerializer.Serializer.Encode(we, &buf); err != nil {
		return err
	}
	_, err = fw.Write(buf.Bytes())
	return err
}
