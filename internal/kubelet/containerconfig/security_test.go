package containerconfig

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func writeRootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	passwd := "root:x:0:0:root:/root:/bin/sh\n# comment\nnginx:x:101:102::/nonexistent:/bin/false\nbroken:x:abc:1\nalice:x:1000:1000::/home/alice:/bin/sh\n"
	group := "root:x:0:\nnginx:x:102:\nalice:x:1000:\nwheel:x:10:alice,bob\naudio:x:29: alice\nstaff:x:50:bob\n"
	for name, body := range map[string]string{"etc/passwd": passwd, "etc/group": group} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestUser(t *testing.T) {
	acc := RootfsAccounts{Root: writeRootfs(t)}
	psc := func(uid, gid *int64, nonRoot *bool) *v1.PodSecurityContext {
		return &v1.PodSecurityContext{RunAsUser: uid, RunAsGroup: gid, RunAsNonRoot: nonRoot}
	}
	csc := func(uid, gid *int64, nonRoot *bool) *v1.SecurityContext {
		return &v1.SecurityContext{RunAsUser: uid, RunAsGroup: gid, RunAsNonRoot: nonRoot}
	}
	tests := []struct {
		name      string
		imageUser string
		pod       *v1.PodSecurityContext
		sc        *v1.SecurityContext
		noAcc     bool
		want      User
		wantErr   string
		reason    string
	}{
		{name: "image default is root", want: User{UID: 0, GID: 0}},
		{name: "numeric image user takes passwd group", imageUser: "1000", want: User{UID: 1000, GID: 1000, AdditionalGIDs: []int64{10, 29}}},
		{name: "numeric image user unknown to passwd", imageUser: "4242", want: User{UID: 4242, GID: 0}},
		{name: "named image user", imageUser: "nginx", want: User{UID: 101, GID: 102, Name: "nginx"}},
		{name: "named user and group", imageUser: "alice:staff", want: User{UID: 1000, GID: 50, Name: "alice", AdditionalGIDs: []int64{10, 29}}},
		{name: "uid:gid", imageUser: "7:8", want: User{UID: 7, GID: 8}},
		{name: "unknown image user", imageUser: "ghost", wantErr: "unable to find user ghost: no matching entries in passwd file", reason: ReasonCreateContainerError},
		{name: "unknown image group", imageUser: "1:ghosts", wantErr: "unable to find group ghosts: no matching entries in group file", reason: ReasonCreateContainerError},
		{name: "named user without accounts", imageUser: "nginx", noAcc: true, wantErr: "unable to find user nginx: no accounts lookup for the image", reason: ReasonCreateContainerError},
		{name: "pod runAsUser over image", imageUser: "nginx", pod: psc(ptr.To[int64](1000), nil, nil), want: User{UID: 1000, GID: 1000, AdditionalGIDs: []int64{10, 29}}},
		{name: "container over pod", pod: psc(ptr.To[int64](5), ptr.To[int64](6), nil), sc: csc(ptr.To[int64](7), nil, nil), want: User{UID: 7, GID: 6}},
		{name: "container group over pod group", pod: psc(ptr.To[int64](5), ptr.To[int64](6), nil), sc: csc(nil, ptr.To[int64](9), nil), want: User{UID: 5, GID: 9}},
		{name: "runAsGroup over image group", imageUser: "7:8", pod: psc(nil, ptr.To[int64](3), nil), want: User{UID: 7, GID: 3}},
		{name: "runAsNonRoot with root image", pod: psc(nil, nil, ptr.To(true)),
			wantErr: `container has runAsNonRoot and image will run as root (pod: "web-0_ns(u-1)", container: app)`, reason: ReasonCreateContainerConfigError},
		{name: "runAsNonRoot with image uid 0", imageUser: "0:0", sc: csc(nil, nil, ptr.To(true)),
			wantErr: `container has runAsNonRoot and image will run as root (pod: "web-0_ns(u-1)", container: app)`, reason: ReasonCreateContainerConfigError},
		{name: "runAsNonRoot with named image user", imageUser: "nginx", pod: psc(nil, nil, ptr.To(true)),
			wantErr: `container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root (pod: "web-0_ns(u-1)", container: app)`, reason: ReasonCreateContainerConfigError},
		{name: "runAsNonRoot with runAsUser 0", sc: csc(ptr.To[int64](0), nil, ptr.To(true)),
			wantErr: `container's runAsUser breaks non-root policy (pod: "web-0_ns(u-1)", container: app)`, reason: ReasonCreateContainerConfigError},
		{name: "runAsNonRoot satisfied by runAsUser", imageUser: "nginx", sc: csc(ptr.To[int64](1000), nil, ptr.To(true)), want: User{UID: 1000, GID: 1000, AdditionalGIDs: []int64{10, 29}}},
		{name: "container disables pod runAsNonRoot", pod: psc(nil, nil, ptr.To(true)), sc: csc(nil, nil, ptr.To(false)), want: User{}},
		{name: "runAsNonRoot with numeric image user", imageUser: "101", pod: psc(nil, nil, ptr.To(true)), want: User{UID: 101, GID: 102}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := gen(t, v1.Container{SecurityContext: tt.sc}, func(in *Input) {
				in.Image.User = tt.imageUser
				in.Pod.Spec.SecurityContext = tt.pod
				if !tt.noAcc {
					in.Accounts = acc
				}
			})
			if tt.wantErr != "" {
				var ce *Error
				if !errors.As(err, &ce) || ce.Message != tt.wantErr || ce.Reason != tt.reason {
					t.Fatalf("err = %#v, want %s %q", err, tt.reason, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.User.UID != tt.want.UID || cfg.User.GID != tt.want.GID || cfg.User.Name != tt.want.Name ||
				!slices.Equal(cfg.User.AdditionalGIDs, tt.want.AdditionalGIDs) {
				t.Fatalf("user %+v want %+v", cfg.User, tt.want)
			}
		})
	}
}

func TestSupplementalGroups(t *testing.T) {
	acc := RootfsAccounts{Root: writeRootfs(t)}
	strict := v1.SupplementalGroupsPolicyStrict
	for _, tt := range []struct {
		name string
		psc  *v1.PodSecurityContext
		want []int64
	}{
		{"merge adds image memberships after pod groups", &v1.PodSecurityContext{SupplementalGroups: []int64{5, 10}, FSGroup: ptr.To[int64](2000)}, []int64{5, 10, 2000, 29}},
		{"strict ignores the image", &v1.PodSecurityContext{SupplementalGroups: []int64{5}, SupplementalGroupsPolicy: &strict}, []int64{5}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := gen(t, v1.Container{}, func(in *Input) {
				in.Image.User = "alice"
				in.Accounts = acc
				in.Pod.Spec.SecurityContext = tt.psc
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.User.AdditionalGIDs, tt.want) {
				t.Fatalf("gids %v want %v", cfg.User.AdditionalGIDs, tt.want)
			}
		})
	}
}

func TestRootfsAccountsStaysInRoot(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	// An image may ship /etc/passwd as a symlink to the host's file.
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	_, ok, err := RootfsAccounts{Root: root}.User("root")
	if err == nil || ok {
		t.Fatalf("followed a symlink out of the rootfs: ok=%v err=%v", ok, err)
	}
	// No files at all: nothing found, no error.
	_, ok, err = RootfsAccounts{Root: t.TempDir()}.User("root")
	if ok || err != nil {
		t.Fatalf("empty rootfs: ok=%v err=%v", ok, err)
	}
}

func TestCapabilities(t *testing.T) {
	sorted := func(list ...string) []string {
		out := []string{}
		for _, c := range allCapabilities {
			if slices.Contains(list, c) {
				out = append(out, c)
			}
		}
		return out
	}
	without := func(base []string, drop ...string) []string {
		var out []string
		for _, c := range base {
			if !slices.Contains(drop, c) {
				out = append(out, c)
			}
		}
		return out
	}
	def := sorted(defaultCapabilities...)
	tests := []struct {
		name     string
		caps     *v1.Capabilities
		priv     bool
		want     []string
		wantWarn bool
	}{
		{"default set", nil, false, def, false},
		{"add", &v1.Capabilities{Add: []v1.Capability{"NET_ADMIN", "sys_time"}}, false, sorted(append(slices.Clone(defaultCapabilities), "CAP_NET_ADMIN", "CAP_SYS_TIME")...), false},
		{"drop", &v1.Capabilities{Drop: []v1.Capability{"NET_RAW", "CAP_CHOWN"}}, false, without(def, "CAP_NET_RAW", "CAP_CHOWN"), false},
		{"drop all then add", &v1.Capabilities{Drop: []v1.Capability{"ALL"}, Add: []v1.Capability{"NET_BIND_SERVICE"}}, false, []string{"CAP_NET_BIND_SERVICE"}, false},
		{"add all minus one", &v1.Capabilities{Add: []v1.Capability{"all"}, Drop: []v1.Capability{"SYS_ADMIN"}}, false, without(allCapabilities, "CAP_SYS_ADMIN"), false},
		{"drop wins over add", &v1.Capabilities{Add: []v1.Capability{"NET_ADMIN"}, Drop: []v1.Capability{"NET_ADMIN"}}, false, def, false},
		{"unknown ignored with warning", &v1.Capabilities{Add: []v1.Capability{"BOGUS"}}, false, def, true},
		{"privileged gets all", &v1.Capabilities{Drop: []v1.Capability{"ALL"}}, true, allCapabilities, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := gen(t, v1.Container{SecurityContext: &v1.SecurityContext{Capabilities: tt.caps, Privileged: ptr.To(tt.priv)}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.Capabilities, tt.want) {
				t.Fatalf("caps\n got %v\nwant %v", cfg.Capabilities, tt.want)
			}
			warned := slices.ContainsFunc(cfg.Warnings, func(w Warning) bool { return strings.Contains(w.Message, "BOGUS") })
			if warned != tt.wantWarn {
				t.Fatalf("warnings %+v", cfg.Warnings)
			}
		})
	}
	if len(defaultCapabilities) != 14 {
		t.Fatalf("Docker's default set has 14 capabilities, have %d", len(defaultCapabilities))
	}
}

func TestPrivilegeFlags(t *testing.T) {
	unmasked := v1.UnmaskedProcMount
	local := v1.SeccompProfile{Type: v1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("prof.json")}
	tests := []struct {
		name    string
		sc      *v1.SecurityContext
		psc     *v1.PodSecurityContext
		nnp, ro bool
		priv    bool
		masked  bool
		seccomp Seccomp
	}{
		{"defaults", nil, nil, false, false, false, true, Seccomp{}},
		{"escalation refused", &v1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false)}, nil, true, false, false, true, Seccomp{}},
		{"escalation allowed", &v1.SecurityContext{AllowPrivilegeEscalation: ptr.To(true)}, nil, false, false, false, true, Seccomp{}},
		{"escalation refused but SYS_ADMIN", &v1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
			Capabilities: &v1.Capabilities{Add: []v1.Capability{"SYS_ADMIN"}}}, nil, false, false, false, true, Seccomp{}},
		{"privileged", &v1.SecurityContext{Privileged: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false)}, nil, false, false, true, false,
			Seccomp{Type: v1.SeccompProfileTypeUnconfined}},
		{"read-only rootfs", &v1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)}, nil, false, true, false, true, Seccomp{}},
		{"unmasked proc", &v1.SecurityContext{ProcMount: &unmasked}, nil, false, false, false, false, Seccomp{}},
		{"pod seccomp", nil, &v1.PodSecurityContext{SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault}}, false, false, false, true,
			Seccomp{Type: v1.SeccompProfileTypeRuntimeDefault}},
		{"container seccomp over pod", &v1.SecurityContext{SeccompProfile: &local},
			&v1.PodSecurityContext{SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault}}, false, false, false, true,
			Seccomp{Type: v1.SeccompProfileTypeLocalhost, LocalhostProfile: "prof.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := gen(t, v1.Container{SecurityContext: tt.sc}, func(in *Input) { in.Pod.Spec.SecurityContext = tt.psc })
			if err != nil {
				t.Fatal(err)
			}
			if cfg.NoNewPrivileges != tt.nnp || cfg.ReadOnlyRootfs != tt.ro || cfg.Privileged != tt.priv ||
				(len(cfg.MaskedPaths) > 0) != tt.masked || (len(cfg.ReadonlyPaths) > 0) != tt.masked || cfg.Seccomp != tt.seccomp {
				t.Fatalf("got nnp=%v ro=%v priv=%v masked=%v seccomp=%+v", cfg.NoNewPrivileges, cfg.ReadOnlyRootfs, cfg.Privileged, cfg.MaskedPaths, cfg.Seccomp)
			}
		})
	}
}
