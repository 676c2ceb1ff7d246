// Package resourcequota is the strategy for core/v1 ResourceQuotas: resource names quota
// understands, non-negative (and for counts, whole) amounts, and consistent scopes.
//
// It must never compute usage or admit requests against a quota: the quota controller and admission
// own that; this package only checks what a quota declares.
package resourcequota
