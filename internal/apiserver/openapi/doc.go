// Package openapi owns the API server's OpenAPI documents: /openapi/v2 and the per group-version
// /openapi/v3 documents with their index, which kubectl reads for explain, apply (patch metadata and
// the server-side field validation check) and client-side validation. The schemas are derived by
// reflection from the k8s.io/api Go types, named and shaped as upstream's, with descriptions from
// their SwaggerDoc() methods; list and map merge semantics come from client-go's structured-merge-diff
// schema. It must never hand-write a type's schema that the Go type can describe, never build
// documents at start-up (only on the first request), and never serve anything but the documents.
//
// Usage:
//
//	svc, err := openapi.New([]openapi.Resource{{
//		GVR: appsv1.SchemeGroupVersion.WithResource("deployments"), Kind: "Deployment", Namespaced: true,
//		Object: &appsv1.Deployment{}, List: &appsv1.DeploymentList{},
//		Subresources: []openapi.Subresource{{Name: "status"}, {Name: "scale", Object: &autoscalingv1.Scale{},
//			GVK: autoscalingv1.SchemeGroupVersion.WithKind("Scale")}},
//	}})
//	svc.Register(mux) // or route /openapi/v2, /openapi/v3 and /openapi/v3/ to svc (an http.Handler)
package openapi
