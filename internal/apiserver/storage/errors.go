package storage

import (
	"errors"
	"fmt"
)

// Error kinds the store reports; callers map them to API status codes.
var (
	ErrNotFound        = errors.New("not found")
	ErrAlreadyExists   = errors.New("already exists")
	ErrConflict        = errors.New("resource version conflict")
	ErrCompacted       = errors.New("resource version compacted")
	ErrTooLarge        = errors.New("object too large")
	ErrTooLargeRV      = errors.New("resource version too large")
	ErrInvalidContinue = errors.New("invalid continue token")
	ErrInvalidRV       = errors.New("invalid resource version")
)

// PreconditionError says a delete or update precondition (uid, resourceVersion) did not hold.
type PreconditionError struct{ Msg string }

func (e *PreconditionError) Error() string { return e.Msg }

func preconditionFailed(format string, args ...interface{}) error {
	return &PreconditionError{Msg: fmt.Sprintf(format, args...)}
}
