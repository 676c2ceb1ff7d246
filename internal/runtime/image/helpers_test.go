package image

import "github.com/google/go-containerregistry/pkg/authn"

func basicAuth(user, pw string) authn.Authenticator {
	return &authn.Basic{Username: user, Password: pw}
}
