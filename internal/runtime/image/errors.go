package image

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Categories of failure. Callers test them with errors.Is, never by message: the kubelet maps
// them to ErrImagePull / ImagePullBackOff reasons and events.
var (
	// ErrInvalidReference: the name cannot be an image reference (InvalidImageName).
	ErrInvalidReference = errors.New("invalid image reference")
	// ErrNotFound: the image is not in the store, or the registry has no such repository/tag.
	ErrNotFound = errors.New("image not found")
	// ErrUnauthorized: the registry refused the credentials (or their absence).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNetwork: the registry could not be reached or failed on its side (retryable).
	ErrNetwork = errors.New("registry unreachable")
	// ErrInvalidImage: the content is malformed (bad digest, unsafe path in a layer, no platform match).
	ErrInvalidImage = errors.New("invalid image content")
)

// classifyRemote wraps a go-containerregistry error in one of the categories above, keeping the
// original text for events and logs.
func classifyRemote(ref string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("pulling %s: %w", ref, err)
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		for _, d := range terr.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				return fmt.Errorf("pulling %s: %w: %w", ref, ErrNotFound, err)
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return fmt.Errorf("pulling %s: %w: %w", ref, ErrUnauthorized, err)
			}
		}
		switch {
		case terr.StatusCode == http.StatusNotFound:
			return fmt.Errorf("pulling %s: %w: %w", ref, ErrNotFound, err)
		case terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden:
			return fmt.Errorf("pulling %s: %w: %w", ref, ErrUnauthorized, err)
		case terr.StatusCode >= 500 || terr.StatusCode == http.StatusTooManyRequests:
			return fmt.Errorf("pulling %s: %w: %w", ref, ErrNetwork, err)
		}
		return fmt.Errorf("pulling %s: %w", ref, err)
	}
	var nerr net.Error
	var uerr *url.Error
	var operr *net.OpError
	if errors.As(err, &nerr) || errors.As(err, &uerr) || errors.As(err, &operr) {
		return fmt.Errorf("pulling %s: %w: %w", ref, ErrNetwork, err)
	}
	return fmt.Errorf("pulling %s: %w", ref, err)
}
