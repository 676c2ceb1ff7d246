package containerconfig

import (
	"errors"
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

type fakeSources struct {
	cms  map[string]*v1.ConfigMap
	secs map[string]*v1.Secret
	err  error
}

func (f fakeSources) GetConfigMap(ns, name string) (*v1.ConfigMap, error) {
	if f.err != nil {
		return nil, f.err
	}
	if cm, ok := f.cms[ns+"/"+name]; ok {
		return cm, nil
	}
	// The API's own plural wording; Generate must reword it.
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func (f fakeSources) GetSecret(ns, name string) (*v1.Secret, error) {
	if f.err != nil {
		return nil, f.err
	}
	if s, ok := f.secs[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

var sources = fakeSources{
	cms: map[string]*v1.ConfigMap{
		"ns/cm":  {Data: map[string]string{"b": "2", "a": "1", "1badkey": "x", "bad=key": "y", "ref": "$(A)"}},
		"ns/cm2": {Data: map[string]string{"a": "from-cm2"}},
	},
	secs: map[string]*v1.Secret{"ns/sec": {Data: map[string][]byte{"user": []byte("admin"), "pw": []byte("s3cret")}}},
}

func basePod(c v1.Container) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "ns", UID: "u-1",
			Labels: map[string]string{"app": "web", "tier": "front"}, Annotations: map[string]string{"note": `say "hi"`}},
		Spec: v1.PodSpec{NodeName: "node-a", ServiceAccountName: "sa", Containers: []v1.Container{c}},
		Status: v1.PodStatus{PodIP: "10.0.0.9", PodIPs: []v1.PodIP{{IP: "10.0.0.9"}, {IP: "fd00::9"}},
			HostIP: "192.168.1.2", HostIPs: []v1.HostIP{{IP: "192.168.1.2"}}},
	}
}

func gen(t *testing.T, c v1.Container, mutate func(*Input)) (*Config, error) {
	t.Helper()
	if c.Name == "" {
		c.Name = "app"
	}
	in := Input{Pod: basePod(c), Image: ImageConfig{Cmd: []string{"/bin/app"}}, Sources: sources}
	in.Container = &in.Pod.Spec.Containers[0]
	if mutate != nil {
		mutate(&in)
	}
	return Generate(in)
}

func TestEnv(t *testing.T) {
	cmKey := func(name, key string, optional bool) *v1.EnvVarSource {
		return &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: name}, Key: key, Optional: ptr.To(optional)}}
	}
	secKey := func(name, key string, optional bool) *v1.EnvVarSource {
		return &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: name}, Key: key, Optional: ptr.To(optional)}}
	}
	field := func(p string) *v1.EnvVarSource {
		return &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: p}}
	}
	res := func(r, div, container string) *v1.EnvVarSource {
		s := &v1.ResourceFieldSelector{Resource: r, ContainerName: container}
		if div != "" {
			s.Divisor = resource.MustParse(div)
		}
		return &v1.EnvVarSource{ResourceFieldRef: s}
	}
	cmFrom := func(name, prefix string, optional bool) v1.EnvFromSource {
		return v1.EnvFromSource{Prefix: prefix, ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: name}, Optional: ptr.To(optional)}}
	}
	tests := []struct {
		name     string
		c        v1.Container
		mutate   func(*Input)
		want     []string
		wantErr  string
		wantWarn []string
	}{
		{name: "image env then container env replaces in place",
			c:      v1.Container{Env: []v1.EnvVar{{Name: "PATH", Value: "/x"}, {Name: "NEW", Value: "n"}}},
			mutate: func(in *Input) { in.Image.Env = []string{"PATH=/usr/bin", "HOME=/root", "EMPTY="} },
			want:   []string{"PATH=/x", "HOME=/root", "EMPTY=", "NEW=n"}},
		{name: "value expansion sees earlier vars, not later or image ones",
			c:      v1.Container{Env: []v1.EnvVar{{Name: "A", Value: "a"}, {Name: "B", Value: "$(A)-$(C)-$(HOME)-$$(A)"}, {Name: "C", Value: "c"}}},
			mutate: func(in *Input) { in.Image.Env = []string{"HOME=/root"} },
			want:   []string{"HOME=/root", "A=a", "B=a-$(C)-$(HOME)-$(A)", "C=c"}},
		{name: "service env is a hook, overridden by own vars and usable in expansion",
			c: v1.Container{Env: []v1.EnvVar{{Name: "URL", Value: "http://$(DB_SERVICE_HOST)"}, {Name: "X_SERVICE_PORT", Value: "9"}}},
			mutate: func(in *Input) {
				in.ServiceEnv = func(*v1.Pod) (map[string]string, error) {
					return map[string]string{"DB_SERVICE_HOST": "10.1.1.1", "X_SERVICE_PORT": "80"}, nil
				}
			},
			want: []string{"DB_SERVICE_HOST=10.1.1.1", "X_SERVICE_PORT=9", "URL=http://10.1.1.1"}},
		{name: "service env error",
			c: v1.Container{},
			mutate: func(in *Input) {
				in.ServiceEnv = func(*v1.Pod) (map[string]string, error) { return nil, errors.New("no services yet") }
			},
			wantErr: "no services yet"},
		{name: "envFrom configMap with prefix, secret, sorted keys, invalid skipped with warning",
			c: v1.Container{EnvFrom: []v1.EnvFromSource{cmFrom("cm", "P_", false),
				{SecretRef: &v1.SecretEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "sec"}}}}},
			want:     []string{"P_1badkey=x", "P_a=1", "P_b=2", "P_ref=$(A)", "pw=s3cret", "user=admin"},
			wantWarn: []string{"Keys [P_bad=key] from the EnvFrom configMap ns/cm were skipped since they are considered invalid environment variable names."}},
		{name: "later envFrom and env override earlier",
			c: v1.Container{EnvFrom: []v1.EnvFromSource{cmFrom("cm", "", false), cmFrom("cm2", "", false)},
				Env: []v1.EnvVar{{Name: "b", Value: "env"}}},
			want:     []string{"1badkey=x", "a=from-cm2", "b=env", "ref=$(A)"},
			wantWarn: []string{"Keys [bad=key] from the EnvFrom configMap ns/cm were skipped since they are considered invalid environment variable names."}},
		{name: "envFrom values are literal but env may reference them",
			c:    v1.Container{EnvFrom: []v1.EnvFromSource{cmFrom("cm2", "", false)}, Env: []v1.EnvVar{{Name: "X", Value: "<$(a)>"}}},
			want: []string{"a=from-cm2", "X=<from-cm2>"}},
		{name: "envFrom optional missing is skipped",
			c:    v1.Container{EnvFrom: []v1.EnvFromSource{cmFrom("nope", "", true)}},
			want: []string{}},
		{name: "envFrom missing configmap",
			c: v1.Container{EnvFrom: []v1.EnvFromSource{cmFrom("nope", "", false)}}, wantErr: `configmap "nope" not found`},
		{name: "envFrom missing secret",
			c:       v1.Container{EnvFrom: []v1.EnvFromSource{{SecretRef: &v1.SecretEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "gone"}}}}},
			wantErr: `secret "gone" not found`},
		{name: "configMapKeyRef",
			c:    v1.Container{Env: []v1.EnvVar{{Name: "A", ValueFrom: cmKey("cm", "a", false)}, {Name: "R", ValueFrom: cmKey("cm", "ref", false)}}},
			want: []string{"A=1", "R=$(A)"}},
		{name: "configMapKeyRef missing key",
			c:       v1.Container{Env: []v1.EnvVar{{Name: "A", ValueFrom: cmKey("cm", "zzz", false)}}},
			wantErr: "couldn't find key zzz in ConfigMap ns/cm"},
		{name: "configMapKeyRef optional missing key and object",
			c:    v1.Container{Env: []v1.EnvVar{{Name: "A", ValueFrom: cmKey("cm", "zzz", true)}, {Name: "B", ValueFrom: cmKey("nope", "x", true)}}},
			want: []string{}},
		{name: "configMapKeyRef missing configmap",
			c:       v1.Container{Env: []v1.EnvVar{{Name: "A", ValueFrom: cmKey("x", "a", false)}}},
			wantErr: `configmap "x" not found`},
		{name: "secretKeyRef",
			c:    v1.Container{Env: []v1.EnvVar{{Name: "PW", ValueFrom: secKey("sec", "pw", false)}}},
			want: []string{"PW=s3cret"}},
		{name: "secretKeyRef missing key",
			c:       v1.Container{Env: []v1.EnvVar{{Name: "PW", ValueFrom: secKey("sec", "token", false)}}},
			wantErr: "couldn't find key token in Secret ns/sec"},
		{name: "secretKeyRef optional missing",
			c:    v1.Container{Env: []v1.EnvVar{{Name: "PW", ValueFrom: secKey("sec", "token", true)}, {Name: "Q", ValueFrom: secKey("gone", "x", true)}}},
			want: []string{}},
		{name: "secretKeyRef missing secret",
			c:       v1.Container{Env: []v1.EnvVar{{Name: "PW", ValueFrom: secKey("gone", "pw", false)}}},
			wantErr: `secret "gone" not found`},
		{name: "source errors other than not found pass through",
			c:       v1.Container{Env: []v1.EnvVar{{Name: "PW", ValueFrom: secKey("sec", "pw", true)}}},
			mutate:  func(in *Input) { in.Sources = fakeSources{err: errors.New("cache not synced")} },
			wantErr: "cache not synced"},
		{name: "fieldRef paths",
			c: v1.Container{Env: []v1.EnvVar{
				{Name: "NAME", ValueFrom: field("metadata.name")}, {Name: "NS", ValueFrom: field("metadata.namespace")},
				{Name: "UID", ValueFrom: field("metadata.uid")}, {Name: "APP", ValueFrom: field("metadata.labels['app']")},
				{Name: "NONE", ValueFrom: field("metadata.labels['none']")}, {Name: "NOTE", ValueFrom: field("metadata.annotations['note']")},
				{Name: "NODE", ValueFrom: field("spec.nodeName")}, {Name: "SA", ValueFrom: field("spec.serviceAccountName")},
				{Name: "PODIP", ValueFrom: field("status.podIP")}, {Name: "PODIPS", ValueFrom: field("status.podIPs")},
				{Name: "HOSTIP", ValueFrom: field("status.hostIP")}, {Name: "HOSTIPS", ValueFrom: field("status.hostIPs")},
				{Name: "LABELS", ValueFrom: field("metadata.labels")},
			}},
			want: []string{"NAME=web-0", "NS=ns", "UID=u-1", "APP=web", "NONE=", `NOTE=say "hi"`, "NODE=node-a", "SA=sa",
				"PODIP=10.0.0.9", "PODIPS=10.0.0.9,fd00::9", "HOSTIP=192.168.1.2", "HOSTIPS=192.168.1.2", "LABELS=app=\"web\"\ntier=\"front\""}},
		{name: "fieldRef IPs from the caller win over status",
			c:      v1.Container{Env: []v1.EnvVar{{Name: "PODIP", ValueFrom: field("status.podIP")}, {Name: "HOSTIPS", ValueFrom: field("status.hostIPs")}}},
			mutate: func(in *Input) { in.PodIPs, in.HostIPs = []string{"10.9.9.9"}, []string{"1.1.1.1", "::1"} },
			want:   []string{"PODIP=10.9.9.9", "HOSTIPS=1.1.1.1,::1"}},
		{name: "fieldRef unsupported",
			c: v1.Container{Env: []v1.EnvVar{{Name: "X", ValueFrom: field("spec.hostname")}}}, wantErr: "unsupported fieldPath: spec.hostname"},
		{name: "resourceFieldRef with divisors and allocatable defaults",
			c: v1.Container{
				Resources: v1.ResourceRequirements{
					Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("250m"), v1.ResourceMemory: resource.MustParse("64Mi")},
					Limits:   v1.ResourceList{v1.ResourceCPU: resource.MustParse("1500m")},
				},
				Env: []v1.EnvVar{
					{Name: "LCPU", ValueFrom: res("limits.cpu", "", "")},         // ceil(1.5) = 2
					{Name: "LCPU_M", ValueFrom: res("limits.cpu", "1m", "")},     // 1500
					{Name: "RCPU", ValueFrom: res("requests.cpu", "", "")},       // ceil(0.25) = 1
					{Name: "RCPU_M", ValueFrom: res("requests.cpu", "100m", "")}, // ceil(2.5) = 3
					{Name: "RMEM", ValueFrom: res("requests.memory", "1Mi", "")},
					{Name: "LMEM", ValueFrom: res("limits.memory", "1Gi", "")}, // allocatable 8Gi
					{Name: "LEPH", ValueFrom: res("limits.ephemeral-storage", "", "")},
					{Name: "REPH", ValueFrom: res("requests.ephemeral-storage", "", "")},
					{Name: "SIDE", ValueFrom: res("limits.cpu", "1m", "side")}, // other container, allocatable 4
				},
			},
			mutate: func(in *Input) {
				in.NodeAllocatable = v1.ResourceList{v1.ResourceCPU: resource.MustParse("4"), v1.ResourceMemory: resource.MustParse("8Gi"),
					v1.ResourceEphemeralStorage: resource.MustParse("1000")}
				in.Pod.Spec.Containers = append(in.Pod.Spec.Containers, v1.Container{Name: "side"})
				in.Container = &in.Pod.Spec.Containers[0]
			},
			want: []string{"LCPU=2", "LCPU_M=1500", "RCPU=1", "RCPU_M=3", "RMEM=64", "LMEM=8", "LEPH=1000", "REPH=0", "SIDE=4000"}},
		{name: "resourceFieldRef unsupported",
			c: v1.Container{Env: []v1.EnvVar{{Name: "X", ValueFrom: res("limits.gpu", "", "")}}}, wantErr: "unsupported container resource : limits.gpu"},
		{name: "command and args see envFrom, env and service vars",
			c: v1.Container{Command: []string{"echo", "$(a)", "$(X)"}, Args: []string{"$(SVC)", "$(HOME)", "$$(X)"},
				EnvFrom: []v1.EnvFromSource{cmFrom("cm2", "", false)}, Env: []v1.EnvVar{{Name: "X", Value: "x"}}},
			mutate: func(in *Input) {
				in.Image.Env = []string{"HOME=/root"}
				in.ServiceEnv = func(*v1.Pod) (map[string]string, error) { return map[string]string{"SVC": "s"}, nil }
			},
			want: []string{"HOME=/root", "SVC=s", "a=from-cm2", "X=x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := gen(t, tt.c, tt.mutate)
			if tt.wantErr != "" {
				var ce *Error
				if !errors.As(err, &ce) || ce.Message != tt.wantErr || ce.Reason != ReasonCreateContainerConfigError {
					t.Fatalf("err = %#v, want CreateContainerConfigError %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.Env, tt.want) && !(len(cfg.Env) == 0 && len(tt.want) == 0) {
				t.Fatalf("env\n got %q\nwant %q", cfg.Env, tt.want)
			}
			var warns []string
			for _, w := range cfg.Warnings {
				if w.Reason == ReasonInvalidEnvironmentVariableNames {
					warns = append(warns, w.Message)
				}
			}
			if !slices.Equal(warns, tt.wantWarn) {
				t.Fatalf("warnings %q, want %q", warns, tt.wantWarn)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	img := ImageConfig{Entrypoint: []string{"/entry", "--flag"}, Cmd: []string{"serve", "--port=80"}}
	tests := []struct {
		name          string
		img           ImageConfig
		command, args []string
		want          []string
		wantErr       string
	}{
		{"image only", img, nil, nil, []string{"/entry", "--flag", "serve", "--port=80"}, ""},
		{"command replaces entrypoint and drops cmd", img, []string{"/bin/sh"}, nil, []string{"/bin/sh"}, ""},
		{"command and args", img, []string{"/bin/sh", "-c"}, []string{"echo hi"}, []string{"/bin/sh", "-c", "echo hi"}, ""},
		{"args replace cmd only", img, nil, []string{"run", "$(V)"}, []string{"/entry", "--flag", "run", "v"}, ""},
		{"image cmd without entrypoint", ImageConfig{Cmd: []string{"/app"}}, nil, nil, []string{"/app"}, ""},
		{"args without entrypoint", ImageConfig{Cmd: []string{"/app"}}, nil, []string{"/other"}, []string{"/other"}, ""},
		{"expansion in command, image values literal", ImageConfig{Entrypoint: []string{"$(V)"}}, nil, []string{"$(V)", "$(NOPE)"}, []string{"$(V)", "v", "$(NOPE)"}, ""},
		{"nothing to run", ImageConfig{}, nil, nil, nil, "no command specified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := gen(t, v1.Container{Command: tt.command, Args: tt.args, Env: []v1.EnvVar{{Name: "V", Value: "v"}}},
				func(in *Input) { in.Image = tt.img })
			if tt.wantErr != "" {
				var ce *Error
				if !errors.As(err, &ce) || ce.Message != tt.wantErr || ce.Reason != ReasonCreateContainerError {
					t.Fatalf("err %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.Args, tt.want) {
				t.Fatalf("args %q want %q", cfg.Args, tt.want)
			}
		})
	}
}

func TestWorkingDir(t *testing.T) {
	for _, tt := range []struct{ container, image, want string }{
		{"", "", "/"}, {"", "/srv", "/srv"}, {"/work", "/srv", "/work"},
	} {
		cfg, err := gen(t, v1.Container{WorkingDir: tt.container}, func(in *Input) { in.Image.WorkingDir = tt.image })
		if err != nil || cfg.WorkingDir != tt.want {
			t.Errorf("%+v: got %q %v", tt, cfg.WorkingDir, err)
		}
	}
}
