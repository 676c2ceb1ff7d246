package embeddedkubectl

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/plugin"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

// mu serialises runs: kubectl's fatal handler is process-global.
var mu sync.Mutex

// Run runs `kubectl --kubeconfig kubeconfig args...` and returns its stdout and stderr; the test
// fails at once when kubectl fails.
func Run(t testing.TB, kubeconfig string, args ...string) (stdout, stderr string) {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	var out, errOut bytes.Buffer
	var fatal string
	cmdutil.BehaviorOnFatal(func(msg string, code int) { fatal = fmt.Sprintf("exit %d: %s", code, msg) })
	defer cmdutil.DefaultBehaviorOnFatal()
	args = append([]string{"--kubeconfig", kubeconfig}, args...)
	kc := kubectlcmd.NewDefaultKubectlCommandWithArgs(kubectlcmd.KubectlOptions{
		PluginHandler: kubectlcmd.NewDefaultPluginHandler(plugin.ValidPluginFilenamePrefixes),
		Arguments:     append([]string{"kubectl"}, args...),
		ConfigFlags:   genericclioptions.NewConfigFlags(true),
		IOStreams:     genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
	})
	kc.SetArgs(args)
	if err := kc.Execute(); err != nil || fatal != "" {
		t.Fatalf("kubectl %v: %v %s\n%s\n%s", args, err, fatal, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}
