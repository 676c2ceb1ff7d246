// Package serviceaccount is the service account controller: every active namespace has a
// "default" ServiceAccount, created when the namespace appears and again whenever it is deleted.
//
// It must never delete or modify service accounts, act in a namespace that is terminating (the
// namespace controller is emptying it), nor mint tokens.
//
// Usage:
//
//	c, err := serviceaccount.New(serviceaccount.Config{Client: cs, Informers: informers, Logger: logger})
//	go c.Run(ctx, 2)
package serviceaccount
