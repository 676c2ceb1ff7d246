package kubelet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiff-dev/skiff/internal/kubelet/containerconfig"
	"github.com/skiff-dev/skiff/internal/runtime"
)

// startContainer pulls the image as the pull policy says, generates the container's config and
// creates and starts instance attempt. Failures it can name become the container's waiting
// reason; the error is returned for the worker's log.
func (k *Kubelet) startContainer(ctx context.Context, w *podWorker, pod *v1.Pod, c *v1.Container, init bool,
	attempt uint32, paths map[string]string) error {
	info, ok := k.ensureImage(ctx, w, pod, c, init)
	if !ok {
		return nil
	}
	fail := func(reason, msg string) error {
		w.waiting[c.Name] = &v1.ContainerStateWaiting{Reason: reason, Message: msg}
		if w.shouldRecord("failed/"+c.Name, msg, time.Now()) {
			k.containerEvent(pod, c, init, v1.EventTypeWarning, "Failed", "Error: %s", msg)
		}
		return errors.New(msg)
	}
	podDir := k.volumes.PodDir(pod.UID)
	ctrDir := filepath.Join(podDir, "containers", c.Name, strconv.FormatUint(uint64(attempt), 10))
	in := containerconfig.Input{
		Pod: pod, Container: c, Image: info.Config, Sources: configSources{ctx, k.sources},
		HostIPs: []string{k.cfg.NodeIP.String()}, PodDir: podDir, ContainerDir: ctrDir,
	}
	if k.memCapacity > 0 {
		in.NodeCapacity = v1.ResourceList{v1.ResourceMemory: *resource.NewQuantity(k.memCapacity, resource.BinarySI)}
	}
	if dirs, err := k.images.RootDirs(c.Image); err == nil {
		in.Accounts = layeredAccounts{dirs: dirs}
	}
	if w.podIP != "" {
		in.PodIPs = []string{w.podIP}
	}
	gen, err := containerconfig.Generate(in)
	if err != nil {
		var ce *containerconfig.Error
		if errors.As(err, &ce) {
			return fail(ce.Reason, ce.Message)
		}
		return fail(containerconfig.ReasonCreateContainerConfigError, err.Error())
	}
	for _, warn := range gen.Warnings {
		k.containerEvent(pod, c, init, v1.EventTypeWarning, warn.Reason, "%s", warn.Message)
	}
	env := map[string]string{}
	for _, kv := range gen.Env {
		name, val, _ := strings.Cut(kv, "=")
		env[name] = val
	}
	vmounts, err := k.volumes.ContainerMounts(pod, c, paths, env)
	if err != nil {
		return fail(containerconfig.ReasonCreateContainerConfigError, err.Error())
	}
	var mounts []runtime.Mount
	for _, m := range vmounts {
		prop := ""
		switch m.Propagation {
		case v1.MountPropagationHostToContainer:
			prop = "rslave"
		case v1.MountPropagationBidirectional:
			prop = "rshared"
		}
		mounts = append(mounts, runtime.Mount{HostPath: m.Source, ContainerPath: m.Destination, ReadOnly: m.ReadOnly, Propagation: prop})
	}
	termLog := ""
	for _, m := range gen.Mounts {
		// /etc/hosts, /etc/hostname and /etc/resolv.conf come with the sandbox.
		if m.Kind != containerconfig.MountTerminationMessage {
			continue
		}
		if err := os.MkdirAll(ctrDir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(m.HostPath, nil, 0o666); err != nil {
			return err
		}
		os.Chmod(m.HostPath, 0o666)
		termLog = m.HostPath
		mounts = append(mounts, runtime.Mount{HostPath: m.HostPath, ContainerPath: m.ContainerPath})
	}
	logPath := k.containerLogPath(pod, c.Name, attempt)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o750); err != nil {
		return err
	}
	os.Remove(logPath) // a leftover of an instance that never started
	cfg := &runtime.ContainerConfig{
		Name: c.Name, Attempt: attempt, Image: c.Image, Command: gen.Args, Env: gen.Env,
		WorkingDir: gen.WorkingDir, Mounts: mounts, LogPath: logPath,
		User: &runtime.User{UID: uint32(gen.User.UID), GID: uint32(gen.User.GID)},
		Resources: runtime.Resources{CPUShares: gen.Resources.CPUShares, CPUQuota: gen.Resources.CPUQuota,
			CPUPeriod: gen.Resources.CPUPeriod, MemoryLimit: gen.Resources.MemoryLimit,
			PidsLimit: gen.Resources.PidsLimit, OOMScoreAdj: gen.Resources.OOMScoreAdj},
		Security: runtime.Security{Privileged: gen.Privileged, CapDrop: []string{"ALL"}, CapAdd: gen.Capabilities,
			ReadOnlyRootfs: gen.ReadOnlyRootfs, NoNewPrivileges: gen.NoNewPrivileges,
			MaskedPaths: gen.MaskedPaths, ReadonlyPaths: gen.ReadonlyPaths,
			SeccompUnconfined: gen.Privileged || gen.Seccomp.Type == v1.SeccompProfileTypeUnconfined},
		Labels: map[string]string{labelPodName: pod.Name, labelPodNamespace: pod.Namespace,
			labelPodUID: string(pod.UID), labelContainerName: c.Name},
		Annotations: map[string]string{annotationTermLog: termLog},
		Stdin:       gen.Stdin, StdinOnce: gen.StdinOnce, TTY: gen.TTY,
	}
	for _, g := range gen.User.AdditionalGIDs {
		cfg.User.AdditionalGIDs = append(cfg.User.AdditionalGIDs, uint32(g))
	}
	if cfg.Security.Privileged {
		cfg.Security.CapDrop, cfg.Security.CapAdd = nil, nil
	}

	pr, err := k.podRuntime(ctx, pod.UID)
	if err != nil {
		return err
	}
	if pr.sandbox == nil {
		return errors.New("sandbox is gone")
	}
	// Keep the instances GC would keep once this one starts (the one before it is what logs
	// --previous reads); older ones go now rather than at the next collection.
	if l, keep := pr.containers[c.Name], k.cfg.GC.MaxPerPodContainer; keep >= 0 && len(l) > keep {
		for _, old := range l[keep:] {
			if old.State == runtime.ContainerExited {
				k.removeInstance(ctx, old)
			}
		}
	}
	id, err := k.rt.CreateContainer(ctx, pr.sandbox.ID, cfg)
	if err != nil {
		return fail(containerconfig.ReasonCreateContainerError, err.Error())
	}
	k.containerEvent(pod, c, init, v1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	if err := k.rt.StartContainer(ctx, id); err != nil {
		return fail("RunContainerError", err.Error())
	}
	delete(w.waiting, c.Name)
	k.containerEvent(pod, c, init, v1.EventTypeNormal, "Started", "Started container %s", c.Name)
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := k.runHook(hctx, pod, id, c.Lifecycle.PostStart)
		cancel()
		if err != nil {
			k.containerEvent(pod, c, init, v1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %v", err)
			k.containerEvent(pod, c, init, v1.EventTypeNormal, "Killing", "FailedPostStartHook")
			k.rt.StopContainer(ctx, id, gracePeriod(pod))
		}
	}
	return nil
}

func pullPolicy(c *v1.Container) v1.PullPolicy {
	if c.ImagePullPolicy != "" {
		return c.ImagePullPolicy
	}
	ref := c.Image
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		return v1.PullIfNotPresent
	}
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon <= slash || strings.HasSuffix(ref, ":latest") {
		return v1.PullAlways
	}
	return v1.PullIfNotPresent
}

// ensureImage makes the container's image present as its pull policy says, with upstream's
// events, waiting reasons and pull back-off.
func (k *Kubelet) ensureImage(ctx context.Context, w *podWorker, pod *v1.Pod, c *v1.Container, init bool) (ImageInfo, bool) {
	policy := pullPolicy(c)
	info, err := k.images.Get(c.Image)
	present := err == nil
	switch {
	case policy == v1.PullNever && !present:
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		w.waiting[c.Name] = &v1.ContainerStateWaiting{Reason: reasonErrImageNeverPull, Message: msg}
		k.containerEvent(pod, c, init, v1.EventTypeWarning, reasonErrImageNeverPull, "%s", msg)
		return ImageInfo{}, false
	case present && policy != v1.PullAlways:
		k.containerEvent(pod, c, init, v1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
		return info, true
	}
	key := string(pod.UID) + "/" + c.Image
	if f, ok := w.pullErrs[c.Image]; ok {
		if in, _ := k.pulls.InBackoff(key, f.at); in {
			prev := w.waiting[c.Name]
			w.waiting[c.Name] = &v1.ContainerStateWaiting{Reason: reasonImagePullBackOff,
				Message: fmt.Sprintf("Back-off pulling image %q: ErrImagePull: %s", c.Image, f.err)}
			if prev == nil || prev.Reason != reasonImagePullBackOff {
				k.containerEvent(pod, c, init, v1.EventTypeNormal, "BackOff", "Back-off pulling image %q", c.Image)
				k.containerEvent(pod, c, init, v1.EventTypeWarning, "Failed", "Error: %s", reasonImagePullBackOff)
			}
			return ImageInfo{}, false
		}
	}
	k.containerEvent(pod, c, init, v1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	start := time.Now()
	info, err = k.images.Pull(ctx, c.Image, k.pullSecrets(ctx, pod))
	if err != nil {
		now := k.cfg.Clock.Now()
		k.pulls.Next(key, now)
		w.pullErrs[c.Image] = pullFailure{at: now, err: err.Error()}
		w.waiting[c.Name] = &v1.ContainerStateWaiting{Reason: reasonErrImagePull, Message: err.Error()}
		k.containerEvent(pod, c, init, v1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", c.Image, err)
		k.containerEvent(pod, c, init, v1.EventTypeWarning, "Failed", "Error: %s", reasonErrImagePull)
		return ImageInfo{}, false
	}
	k.pulls.Reset(key)
	delete(w.pullErrs, c.Image)
	took := time.Since(start).Round(time.Millisecond)
	k.containerEvent(pod, c, init, v1.EventTypeNormal, "Pulled",
		"Successfully pulled image %q in %s (%s including waiting). Image size: %d bytes.", c.Image, took, took, info.Size)
	return info, true
}

// pullSecrets reads the pod's imagePullSecrets; missing ones are skipped, as upstream does.
func (k *Kubelet) pullSecrets(ctx context.Context, pod *v1.Pod) [][]byte {
	var out [][]byte
	for _, ref := range pod.Spec.ImagePullSecrets {
		s, err := k.sources.GetSecret(ctx, pod.Namespace, ref.Name)
		if err != nil {
			continue
		}
		if b := s.Data[v1.DockerConfigJsonKey]; len(b) > 0 {
			out = append(out, b)
		} else if b := s.Data[v1.DockerConfigKey]; len(b) > 0 {
			out = append(out, b)
		}
	}
	return out
}

// runHook runs a lifecycle handler against the container.
func (k *Kubelet) runHook(ctx context.Context, pod *v1.Pod, id string, h *v1.LifecycleHandler) error {
	switch {
	case h.Exec != nil:
		timeout := time.Minute
		if d, ok := ctx.Deadline(); ok {
			timeout = time.Until(d)
		}
		res, err := k.rt.ExecSync(ctx, id, h.Exec.Command, timeout)
		if err != nil {
			return err
		}
		if res.ExitCode != 0 {
			return fmt.Errorf("command '%s' exited with %d: %s", strings.Join(h.Exec.Command, " "), res.ExitCode, res.Stdout)
		}
		return nil
	case h.HTTPGet != nil:
		host := h.HTTPGet.Host
		if host == "" {
			k.mu.Lock()
			host = k.statuses[pod.UID].PodIP
			k.mu.Unlock()
		}
		port, err := resolvePort(h.HTTPGet.Port, pod)
		if err != nil {
			return err
		}
		scheme := "http"
		if h.HTTPGet.Scheme == v1.URISchemeHTTPS {
			scheme = "https"
		}
		path := h.HTTPGet.Path
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+path, nil)
		if err != nil {
			return err
		}
		for _, hd := range h.HTTPGet.HTTPHeaders {
			req.Header.Add(hd.Name, hd.Value)
		}
		client := &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: k.dial, DisableKeepAlives: true}}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP lifecycle hook (%s) for Container in Pod %q failed - error: %s", path, pod.Name, resp.Status)
		}
		return nil
	case h.Sleep != nil:
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
		}
		return nil
	}
	return errors.New("lifecycle handler has no action")
}

func resolvePort(p intstr.IntOrString, pod *v1.Pod) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, c := range pod.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return int(cp.ContainerPort), nil
			}
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("port %q not found", p.StrVal)
}

// Termination message limits, as upstream applies them.
const (
	maxTermMessageFile  = 4096
	maxTermMessageLogs  = 2048
	termMessageLogLines = 80
)

// terminationMessage reads what an exited container left in its termination-log file, or, with
// FallbackToLogsOnError and a failure that left nothing, the tail of its log.
func (k *Kubelet) terminationMessage(spec *v1.Container, c *runtime.ContainerStatus) string {
	if c.State != runtime.ContainerExited {
		return ""
	}
	if p := c.Annotations[annotationTermLog]; p != "" {
		if f, err := os.Open(p); err == nil {
			b, _ := io.ReadAll(io.LimitReader(f, maxTermMessageFile))
			f.Close()
			if len(b) > 0 {
				return string(b)
			}
		}
	}
	if spec.TerminationMessagePolicy != v1.TerminationMessageFallbackToLogsOnError || c.ExitCode == 0 || c.LogPath == "" {
		return ""
	}
	return logTail(c.LogPath, termMessageLogLines, maxTermMessageLogs)
}

// logTail returns the last lines of a CRI log's content, at most max bytes.
func logTail(path string, lines, maxBytes int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var cur []byte
	for sc.Scan() {
		l, err := runtime.ParseLogLine(sc.Bytes())
		if err != nil {
			continue
		}
		cur = append(cur, l.Content...)
		if !l.Partial {
			out = append(out, append(cur, '\n'))
			cur = nil
		}
	}
	if len(out) > lines {
		out = out[len(out)-lines:]
	}
	s := bytes.Join(out, nil)
	if len(s) > maxBytes {
		s = s[len(s)-maxBytes:]
	}
	return string(s)
}

// podHostname is the pod's hostname: spec.hostname, else its name, at most 63 characters.
func podHostname(pod *v1.Pod) string {
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// writePodFiles writes the pod's /etc/hosts and /etc/resolv.conf under its pod dir. Files are
// replaced by rename; containers bind them when created, after the pod's address is known.
func (k *Kubelet) writePodFiles(pod *v1.Pod, podIP string) error {
	dir := k.volumes.PodDir(pod.UID)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	hosts, err := k.hostsFile(pod, podIP)
	if err != nil {
		return err
	}
	resolv, err := k.resolvConf(pod)
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{"etc-hosts": hosts, "resolv.conf": resolv} {
		p := filepath.Join(dir, name)
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, b) {
			continue
		}
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, p); err != nil {
			return err
		}
	}
	return nil
}

func (k *Kubelet) hostsFile(pod *v1.Pod, podIP string) ([]byte, error) {
	if pod.Spec.HostNetwork {
		b, err := os.ReadFile("/etc/hosts")
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	var b bytes.Buffer
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n" +
		"fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	if podIP != "" {
		host := podHostname(pod)
		if pod.Spec.Subdomain != "" {
			fmt.Fprintf(&b, "%s\t%s.%s.%s.svc.%s\t%s\n", podIP, host, pod.Spec.Subdomain, pod.Namespace, k.cfg.ClusterDomain, host)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", podIP, host)
		}
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.Bytes(), nil
}

// resolvConf builds the pod's resolver file per its dnsPolicy: ClusterFirst (and
// ClusterFirstWithHostNet) name the cluster DNS and search the pod's namespace, its Services and
// the cluster domain before the host's search list, with ndots:5; Default (and ClusterFirst on
// the host network, or without a cluster DNS) copies the host's file; None starts empty. The
// pod's dnsConfig is merged in last.
func (k *Kubelet) resolvConf(pod *v1.Pod) ([]byte, error) {
	var servers, searches, options []string
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = v1.DNSClusterFirst
	}
	cluster := len(k.cfg.ClusterDNS) > 0 && (policy == v1.DNSClusterFirstWithHostNet ||
		(policy == v1.DNSClusterFirst && !pod.Spec.HostNetwork))
	if policy != v1.DNSNone {
		path := k.cfg.ResolvConf
		if path == "" {
			path = "/etc/resolv.conf"
			if _, err := os.Stat("/run/systemd/resolve/resolv.conf"); err == nil {
				path = "/run/systemd/resolve/resolv.conf"
			}
		}
		b, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || strings.HasPrefix(f[0], "#") {
				continue
			}
			switch f[0] {
			case "nameserver":
				servers = append(servers, f[1])
			case "search":
				searches = f[1:]
			case "options":
				options = append(options, f[1:]...)
			}
		}
	}
	if cluster {
		d := k.cfg.ClusterDomain
		servers = servers[:0]
		for _, ip := range k.cfg.ClusterDNS {
			servers = append(servers, ip.String())
		}
		searches = append([]string{pod.Namespace + ".svc." + d, "svc." + d, d}, searches...)
		options = []string{"ndots:5"}
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		servers = append(servers, dc.Nameservers...)
		searches = append(searches, dc.Searches...)
		for _, o := range dc.Options {
			if o.Value != nil {
				options = append(options, o.Name+":"+*o.Value)
			} else {
				options = append(options, o.Name)
			}
		}
	}
	// A later option of the same name (the pod's dnsConfig) wins; searches appear once.
	var names []string
	vals := map[string]string{}
	for _, o := range options {
		name, _, _ := strings.Cut(o, ":")
		if _, ok := vals[name]; !ok {
			names = append(names, name)
		}
		vals[name] = o
	}
	options = options[:0]
	for _, n := range names {
		options = append(options, vals[n])
	}
	seen := map[string]bool{}
	uniq := searches[:0:0]
	for _, d := range searches {
		if !seen[d] {
			seen[d] = true
			uniq = append(uniq, d)
		}
	}
	searches = uniq
	var b bytes.Buffer
	if len(searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(searches, " "))
	}
	for i, s := range servers {
		if i == 3 {
			break // the resolver reads three
		}
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.Bytes(), nil
}
