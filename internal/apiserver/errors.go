package apiserver

import (
	"errors"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-dev/skiff/internal/apiserver/storage"
)

func statusError(code int, reason metav1.StatusReason, format string, args ...interface{}) *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: int32(code), Reason: reason, Message: fmt.Sprintf(format, args...),
	}}
}

func unsupportedMediaType(ct string) error {
	return statusError(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType,
		"the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got %q)", ct)
}

func tooLarge(msg string) error {
	return statusError(http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge, "%s", msg)
}

// storageError turns a storage error into the API error a client expects for gr/name.
func storageError(err error, gr schema.GroupResource, name string) error {
	var pe *storage.PreconditionError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(gr, name)
	case errors.Is(err, storage.ErrAlreadyExists):
		return apierrors.NewAlreadyExists(gr, name)
	case errors.Is(err, storage.ErrConflict):
		return apierrors.NewConflict(gr, name, errors.New(conflictMessage))
	case errors.As(err, &pe):
		return apierrors.NewConflict(gr, name, errors.New(pe.Msg))
	case errors.Is(err, storage.ErrCompacted):
		return apierrors.NewResourceExpired("The resourceVersion for the provided watch is too old.")
	case errors.Is(err, storage.ErrInvalidRV):
		return apierrors.NewBadRequest(err.Error())
	case errors.Is(err, storage.ErrInvalidContinue):
		return apierrors.NewBadRequest("continue key is not valid: the continue token could not be decoded")
	case errors.Is(err, storage.ErrTooLarge):
		return tooLarge("etcdserver: request is too large: the object exceeds the store's limit of 1.5 MiB")
	case errors.Is(err, storage.ErrTooLargeRV):
		return apierrors.NewTimeoutError("Too large resource version", 1)
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return err
	}
	return apierrors.NewInternalError(err)
}

const conflictMessage = "the object has been modified; please apply your changes to the latest version and try again"
