package nodes

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/testcluster"
	"github.com/skiff-dev/skiff/test/images/testimages"
)

// basicAuth lets through only requests carrying user:pass, answering others with the challenge
// registries send, so that clients retry with credentials.
func basicAuth(user, pass string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="skiff-test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// TestPullThroughRegistry pulls images over the real pull path from in-process registries that
// the node reaches on its loopback: a docker.io short name through a mirror, and a private image
// with and without its imagePullSecret.
func TestPullThroughRegistry(t *testing.T) {
	quiet := registry.Logger(log.New(io.Discard, "", 0))
	mirror := httptest.NewServer(registry.New(quiet))
	defer mirror.Close()
	private := httptest.NewServer(basicAuth("puller", "s3cret", registry.New(quiet)))
	defer private.Close()
	mirrorHost := strings.TrimPrefix(mirror.URL, "http://")
	privateHost := strings.TrimPrefix(private.URL, "http://")

	set := testimages.Ensure(t)
	img := set.Load(t, testimages.Testserver)
	ref := set.Ref(testimages.Testserver)
	version := ref[strings.LastIndex(ref, ":")+1:]
	push := func(to string, auth authn.Authenticator) {
		r, err := name.ParseReference(to, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(r, img, remote.WithAuth(auth)); err != nil {
			t.Fatalf("push %s: %v", to, err)
		}
	}
	push(mirrorHost+"/library/testserver:"+version, authn.Anonymous)
	push(privateHost+"/private/testserver:"+version, &authn.Basic{Username: "puller", Password: "s3cret"})

	c := testcluster.Start(t, testcluster.Options{
		Images:   []string{}, // every image comes from a registry
		Loopback: []string{mirrorHost, privateHost},
		NodeArgs: func(n *testcluster.Node) []string {
			return []string{"--registry-mirror", "docker.io=" + mirror.URL, "--insecure-registry", privateHost}
		},
	})
	nd := c.Nodes[0]
	ns := c.Namespace(t, "pull")
	ctx := context.Background()

	t.Run("DockerHubShortNameThroughMirror", func(t *testing.T) {
		image := "testserver:" + version
		c.CreatePod(t, ns, nd, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "mirrored"}, Spec: v1.PodSpec{
			Containers: []v1.Container{{Name: "app", Image: image, ImagePullPolicy: v1.PullAlways}}}})
		p := c.WaitRunning(t, ns, "mirrored")
		if id := p.Status.ContainerStatuses[0].ImageID; !strings.Contains(id, "sha256:") {
			t.Errorf("imageID %q", id)
		}
		c.WaitEvents(t, ns, "mirrored", `Normal Pulling Pulling image "`+image+`"`, `Normal Pulled Successfully pulled image "`+image+`" in `)
	})

	image := privateHost + "/private/testserver:" + version
	t.Run("PrivateWithPullSecret", func(t *testing.T) {
		auth := base64.StdEncoding.EncodeToString([]byte("puller:s3cret"))
		cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{privateHost: map[string]string{"auth": auth}}})
		_, err := c.Client.CoreV1().Secrets(ns).Create(ctx, &v1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred"},
			Type: v1.SecretTypeDockerConfigJson, Data: map[string][]byte{v1.DockerConfigJsonKey: cfg}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c.CreatePod(t, ns, nd, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "private"}, Spec: v1.PodSpec{
			ImagePullSecrets: []v1.LocalObjectReference{{Name: "regcred"}},
			Containers:       []v1.Container{{Name: "app", Image: image, ImagePullPolicy: v1.PullAlways}}}})
		c.WaitRunning(t, ns, "private")
		c.WaitEvents(t, ns, "private", `Normal Pulled Successfully pulled image "`+image+`"`)
	})

	t.Run("PrivateWithoutPullSecret", func(t *testing.T) {
		// A watch sees every status the agent writes, however briefly it lasts.
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		w, err := c.Client.CoreV1().Pods(ns).Watch(wctx, metav1.ListOptions{FieldSelector: "metadata.name=denied"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		start := time.Now()
		c.CreatePod(t, ns, nd, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "denied"}, Spec: v1.PodSpec{
			Containers: []v1.Container{{Name: "app", Image: image, ImagePullPolicy: v1.PullAlways}}}})
		var order []string
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*v1.Pod)
			if !ok || len(p.Status.ContainerStatuses) == 0 {
				continue
			}
			if wt := p.Status.ContainerStatuses[0].State.Waiting; wt != nil && (len(order) == 0 || order[len(order)-1] != wt.Reason) {
				order = append(order, wt.Reason)
			}
			if slices.Contains(order, "ImagePullBackOff") {
				break
			}
		}
		t.Logf("waiting reasons %v within %v", order, time.Since(start).Round(time.Millisecond))
		if i := slices.Index(order, "ErrImagePull"); i < 0 || i > slices.Index(order, "ImagePullBackOff") {
			t.Errorf("waiting reasons %v, want ErrImagePull then ImagePullBackOff", order)
		}
		if p, _ := c.Client.CoreV1().Pods(ns).Get(ctx, "denied", metav1.GetOptions{}); p != nil && p.Status.Phase != v1.PodPending {
			t.Errorf("phase %s, want Pending", p.Status.Phase)
		}
		c.WaitEvents(t, ns, "denied", `Normal Pulling Pulling image "`+image+`"`, `Warning Failed Failed to pull image "`+image+`"`,
			"Warning Failed Error: ErrImagePull", `Normal BackOff Back-off pulling image "`+image+`"`, "Warning Failed Error: ImagePullBackOff")
	})
}
