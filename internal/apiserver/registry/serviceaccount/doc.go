// Package serviceaccount is the strategy for core/v1 ServiceAccounts: beyond the generic metadata
// checks it only validates the secret and image-pull-secret references.
//
// It must never mint tokens or create token secrets: token issuance belongs to the TokenRequest
// subresource and the service-account controllers.
package serviceaccount
