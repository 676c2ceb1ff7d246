package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/skiff-dev/skiff/internal/apiserver/scheme"
)

func jsonMarshal(v interface{}) ([]byte, error) { return json.Marshal(v) }

// patchJSON applies a JSON, merge or strategic merge patch to the JSON of an object; schema is a
// value of the object's Go type, which tells strategic merge how each list merges.
func patchJSON(pt string, original, patch []byte, schema interface{}) ([]byte, error) {
	switch pt {
	case string(types.JSONPatchType):
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the JSON patch is malformed: %v", err))
		}
		out, err := p.Apply(original)
		if err != nil {
			return nil, apierrors.NewInvalid(metav1.SchemeGroupVersion.WithKind("Patch").GroupKind(), "", field.ErrorList{
				field.Invalid(field.NewPath("patch"), string(patch), err.Error())})
		}
		return out, nil
	case string(types.MergePatchType):
		out, err := jsonpatch.MergePatch(original, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the merge patch is malformed: %v", err))
		}
		return out, nil
	case string(types.StrategicMergePatchType):
		out, err := strategicpatch.StrategicMergePatch(original, patch, schema)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the strategic merge patch could not be applied: %v", err))
		}
		return out, nil
	}
	return nil, unsupportedMediaType(pt)
}

// applyPatchTo patches cur and decodes the result into out (for subresource views like Scale).
func applyPatchTo(pt string, cur runtime.Object, patch []byte, out runtime.Object) error {
	orig, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	patched, err := patchJSON(pt, orig, patch, out)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(patched, out); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("the patched object is malformed: %v", err))
	}
	return nil
}

func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request, ep *endpoint, info *requestInfo, sub string) error {
	var opts metav1.PatchOptions
	if err := decodeParams(r.URL.Query(), &opts); err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	fv, err := parseFieldValidation(opts.FieldValidation)
	if err != nil {
		return err
	}
	wo, err := s.writeOptions(r, opts.DryRun, opts.FieldManager)
	if err != nil {
		return err
	}
	wo.subresource = sub
	pt := patchType(r)
	var mutate mutateFunc
	allowCreate := false
	switch pt {
	case string(types.ApplyYAMLPatchType):
		if opts.FieldManager == "" {
			return apierrors.NewBadRequest("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch")
		}
		applied := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(body, &applied.Object); err != nil {
			return apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
		}
		if applied.Object == nil {
			return apierrors.NewBadRequest("the apply patch is empty")
		}
		if gvk := applied.GroupVersionKind(); gvk != ep.gvk {
			return apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", applied.GetAPIVersion(), ep.gvk.GroupVersion()))
		}
		if applied.GetName() != "" && applied.GetName() != info.Name {
			return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", applied.GetName(), info.Name))
		}
		if fv == "Strict" {
			// Round-trip through the typed decoder to report unknown fields as the other verbs do.
			js, _ := json.Marshal(applied.Object)
			if _, err := decodeAs(w, scheme.StrictJSON, js, ep.gvk, ep.newObject(), "Strict"); err != nil {
				return err
			}
		}
		force := opts.Force != nil && *opts.Force
		sub2 := sub
		if sub2 != "status" {
			sub2 = ""
		}
		fm, err := ep.fieldManager(sub2)
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		wo.applied = true
		allowCreate = sub == ""
		mutate = func(cur runtime.Object) (runtime.Object, error) {
			live := cur
			if live == nil {
				live = ep.newObject()
				accessor(live).SetName(info.Name)
				accessor(live).SetNamespace(info.Namespace)
			}
			out, err := fm.Apply(live, applied.DeepCopy(), wo.manager, force)
			var se apierrors.APIStatus
			if err != nil && !errors.As(err, &se) && strings.HasPrefix(err.Error(), "failed to create typed patch object") {
				// The applied configuration does not fit the schema (a map where a list goes,
				// duplicate list keys): the client's error. Upstream still answers 500 here
				// (kubernetes#139253), which makes clients retry a request that cannot succeed.
				return nil, apierrors.NewBadRequest(err.Error())
			}
			if err != nil {
				return nil, err
			}
			return out, nil
		}
	case string(types.JSONPatchType), string(types.MergePatchType), string(types.StrategicMergePatchType):
		if opts.Force != nil {
			return apierrors.NewBadRequest("force is only allowed for apply patches")
		}
		mutate = func(cur runtime.Object) (runtime.Object, error) {
			if cur == nil {
				return nil, apierrors.NewNotFound(ep.res.GroupResource(), info.Name)
			}
			orig, err := encodeJSON(cur)
			if err != nil {
				return nil, err
			}
			patched, err := patchJSON(pt, orig, body, ep.newObject())
			if err != nil {
				return nil, err
			}
			dec := scheme.JSON
			if fv != "Ignore" {
				dec = scheme.StrictJSON
			}
			return decodePatched(w, dec, patched, ep.gvk, ep.newObject(), fv)
		}
	default:
		return unsupportedMediaType(pt)
	}
	out, created, err := s.update(r.Context(), ep, info.Namespace, info.Name, mutate, allowCreate, wo)
	if err != nil {
		return err
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	return s.respond(w, r, ep, code, out)
}
