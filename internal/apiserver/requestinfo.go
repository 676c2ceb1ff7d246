package apiserver

import (
	"net/http"
	"strings"
)

// requestInfo is what a URL and method address.
type requestInfo struct {
	IsResource  bool
	Path        string
	Verb        string // get list watch create update patch delete deletecollection
	APIPrefix   string // "api" or "apis"
	Group       string
	Version     string
	Namespace   string
	Resource    string
	Name        string
	Subresource string
	Parts       []string
}

// parseRequestInfo reads /api/v1/... and /apis/<group>/<version>/... paths.
func parseRequestInfo(r *http.Request) *requestInfo {
	info := &requestInfo{Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
	parts := splitPath(r.URL.Path)
	if len(parts) == 0 || (parts[0] != "api" && parts[0] != "apis") {
		return info
	}
	info.APIPrefix = parts[0]
	parts = parts[1:]
	if info.APIPrefix == "apis" {
		if len(parts) < 2 {
			return info // /apis or /apis/<group>: discovery
		}
		info.Group, parts = parts[0], parts[1:]
	}
	if len(parts) < 1 {
		return info
	}
	info.Version, parts = parts[0], parts[1:]
	if len(parts) == 0 {
		return info // group-version discovery
	}
	info.IsResource = true
	// /namespaces/<ns>/<resource>... addresses a namespaced resource; /namespaces and
	// /namespaces/<name>[/status|/finalize] address namespaces themselves.
	if parts[0] == "namespaces" && len(parts) >= 3 && parts[2] != "status" && parts[2] != "finalize" {
		info.Namespace, parts = parts[1], parts[2:]
	}
	info.Parts = parts
	info.Resource = parts[0]
	if len(parts) > 1 {
		info.Name = parts[1]
	}
	if len(parts) > 2 {
		info.Subresource = parts[2]
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case info.Name != "":
			info.Verb = "get"
		case isTrue(r.URL.Query().Get("watch")):
			info.Verb = "watch"
		default:
			info.Verb = "list"
		}
	case http.MethodPost:
		info.Verb = "create"
	case http.MethodPut:
		info.Verb = "update"
	case http.MethodPatch:
		info.Verb = "patch"
	case http.MethodDelete:
		info.Verb = "delete"
		if info.Name == "" {
			info.Verb = "deletecollection"
		}
	}
	return info
}

func isTrue(s string) bool { return s == "true" || s == "1" }

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
