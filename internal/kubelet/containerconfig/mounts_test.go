package containerconfig

import (
	"errors"
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestMounts(t *testing.T) {
	bidir := v1.MountPropagationBidirectional
	env := []v1.EnvVar{{Name: "POD", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}}, {Name: "EMPTY", Value: ""}, {Name: "UP", Value: ".."}}
	special := func(ro bool) []Mount {
		return []Mount{
			{Kind: MountTerminationMessage, ContainerPath: "/dev/termination-log", HostPath: "/pods/u/containers/app/1/termination-log"},
			{Kind: MountEtcHosts, ContainerPath: "/etc/hosts", HostPath: "/pods/u/etc-hosts", ReadOnly: ro},
			{Kind: MountEtcHostname, ContainerPath: "/etc/hostname", HostPath: "/pods/u/hostname", ReadOnly: ro},
			{Kind: MountResolvConf, ContainerPath: "/etc/resolv.conf", HostPath: "/pods/u/resolv.conf", ReadOnly: ro},
		}
	}
	tests := []struct {
		name    string
		c       v1.Container
		want    []Mount
		wantErr string
	}{
		{name: "no volumes: node files only", c: v1.Container{TerminationMessagePath: "/dev/termination-log"}, want: special(false)},
		{name: "read-only rootfs makes node files read-only",
			c:    v1.Container{TerminationMessagePath: "/dev/termination-log", SecurityContext: &v1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)}},
			want: special(true)},
		{name: "volume mounts with subPath and subPathExpr",
			c: v1.Container{VolumeMounts: []v1.VolumeMount{
				{Name: "data", MountPath: "/data", SubPath: "a/b", ReadOnly: true},
				{Name: "logs", MountPath: "/logs", SubPathExpr: "$(POD)/logs", MountPropagation: &bidir},
			}},
			want: append([]Mount{
				{Kind: MountVolume, Volume: "data", ContainerPath: "/data", SubPath: "a/b", ReadOnly: true},
				{Kind: MountVolume, Volume: "logs", ContainerPath: "/logs", SubPath: "web-0/logs", Propagation: &bidir},
			}, special(false)[1:]...)},
		{name: "user mount at /etc/hosts and termination path wins",
			c: v1.Container{TerminationMessagePath: "/dev/termination-log", VolumeMounts: []v1.VolumeMount{
				{Name: "h", MountPath: "/etc/hosts"}, {Name: "t", MountPath: "/dev/termination-log/"}}},
			want: []Mount{{Kind: MountVolume, Volume: "h", ContainerPath: "/etc/hosts"}, {Kind: MountVolume, Volume: "t", ContainerPath: "/dev/termination-log/"},
				special(false)[2], special(false)[3]}},
		{name: "subPathExpr undefined", c: v1.Container{VolumeMounts: []v1.VolumeMount{{Name: "d", MountPath: "/d", SubPathExpr: "$(NOPE)/$(EMPTY)/$(NOPE)"}}},
			wantErr: "missing value for EMPTY, NOPE"},
		{name: "subPathExpr escaping", c: v1.Container{VolumeMounts: []v1.VolumeMount{{Name: "d", MountPath: "/d", SubPathExpr: "$(UP)/etc"}}},
			wantErr: "unable to provision SubPath `../etc`: must not contain '..'"},
		{name: "absolute subPath", c: v1.Container{VolumeMounts: []v1.VolumeMount{{Name: "d", MountPath: "/d", SubPath: "/etc"}}},
			wantErr: "error SubPath `/etc` must not be an absolute path"},
		{name: "dots inside names are fine", c: v1.Container{VolumeMounts: []v1.VolumeMount{{Name: "d", MountPath: "/d", SubPath: "a..b/.c"}}},
			want: append([]Mount{{Kind: MountVolume, Volume: "d", ContainerPath: "/d", SubPath: "a..b/.c"}}, special(false)[1:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			c.Env = env
			cfg, err := gen(t, c, func(in *Input) { in.PodDir, in.ContainerDir = "/pods/u", "/pods/u/containers/app/1" })
			if tt.wantErr != "" {
				var ce *Error
				if !errors.As(err, &ce) || ce.Message != tt.wantErr || ce.Reason != ReasonCreateContainerConfigError {
					t.Fatalf("err %#v want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Mounts, tt.want) {
				t.Fatalf("mounts\n got %+v\nwant %+v", cfg.Mounts, tt.want)
			}
		})
	}
}

func TestMountsWithoutDirs(t *testing.T) {
	cfg, err := gen(t, v1.Container{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range cfg.Mounts {
		if m.HostPath != "" {
			t.Fatalf("host path %q invented without PodDir", m.HostPath)
		}
	}
	if len(cfg.Mounts) != 3 {
		t.Fatalf("mounts %+v", cfg.Mounts)
	}
}

func TestStdio(t *testing.T) {
	cfg, err := gen(t, v1.Container{Stdin: true, StdinOnce: true, TTY: true}, nil)
	if err != nil || !cfg.Stdin || !cfg.StdinOnce || !cfg.TTY {
		t.Fatalf("%+v %v", cfg, err)
	}
}
