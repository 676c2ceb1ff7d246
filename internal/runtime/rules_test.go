package runtime

import (
	"reflect"
	"testing"
	"time"
)

func TestResolveArgs(t *testing.T) {
	img := ImageConfig{Entrypoint: []string{"/ep"}, Cmd: []string{"c1", "c2"}}
	for _, tc := range []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"image defaults", nil, nil, []string{"/ep", "c1", "c2"}},
		{"args replace cmd", nil, []string{"a"}, []string{"/ep", "a"}},
		{"command drops image cmd", []string{"/bin/sh"}, nil, []string{"/bin/sh"}},
		{"command and args", []string{"/bin/sh"}, []string{"-c", "x"}, []string{"/bin/sh", "-c", "x"}},
	} {
		if got := ResolveArgs(tc.command, tc.args, img); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	got := MergeEnv([]string{"PATH=/bin", "A=1"}, []string{"B=2", "A=3", "B=4"})
	want := []string{"PATH=/bin", "A=3", "B=4"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestParseImageUser(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want *User
		err  bool
	}{
		{"", nil, false},
		{"1000", &User{UID: 1000}, false},
		{"1000:50", &User{UID: 1000, GID: 50}, false},
		{"nginx", nil, true},
		{"1:www", nil, true},
	} {
		got, err := ParseImageUser(tc.in)
		if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %+v, %v", tc.in, got, err)
		}
	}
}

func TestExitReason(t *testing.T) {
	for _, tc := range []struct {
		code int
		oom  bool
		want string
	}{{0, false, ReasonCompleted}, {1, false, ReasonError}, {137, true, ReasonOOMKilled}, {0, true, ReasonOOMKilled}} {
		if got := ExitReason(tc.code, tc.oom); got != tc.want {
			t.Errorf("%d %v: got %s want %s", tc.code, tc.oom, got, tc.want)
		}
	}
}

func TestFilters(t *testing.T) {
	c := &ContainerStatus{ID: "a", SandboxID: "s", State: ContainerRunning, Labels: map[string]string{"k": "v"}}
	for _, tc := range []struct {
		f    *ContainerFilter
		want bool
	}{
		{nil, true},
		{&ContainerFilter{}, true},
		{&ContainerFilter{SandboxID: "s", State: ContainerRunning}, true},
		{&ContainerFilter{State: ContainerExited}, false},
		{&ContainerFilter{Labels: map[string]string{"k": "v"}}, true},
		{&ContainerFilter{Labels: map[string]string{"k": "w"}}, false},
		{&ContainerFilter{ID: "b"}, false},
	} {
		if got := tc.f.Matches(c); got != tc.want {
			t.Errorf("%+v: got %v", tc.f, got)
		}
	}
	s := &SandboxStatus{ID: "s", State: SandboxReady}
	if (&SandboxFilter{State: SandboxNotReady}).Matches(s) || !(&SandboxFilter{ID: "s"}).Matches(s) {
		t.Error("sandbox filter")
	}
}

func TestLogLineRoundTrip(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	for _, l := range []LogLine{
		{Time: ts, Stream: "stdout", Content: []byte("hello world")},
		{Time: ts, Stream: "stderr", Partial: true, Content: []byte("")},
	} {
		b := FormatLogLine(nil, l)
		got, err := ParseLogLine(b)
		if err != nil || !got.Time.Equal(l.Time) || got.Stream != l.Stream || got.Partial != l.Partial || string(got.Content) != string(l.Content) {
			t.Errorf("%q: got %+v %v", b, got, err)
		}
	}
	for _, bad := range []string{"", "x stdout F a", "2026-01-02T03:04:05Z stdin F a", "2026-01-02T03:04:05Z stdout X a"} {
		if _, err := ParseLogLine([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if got, _ := ParseLogLine([]byte("2026-01-02T03:04:05.123456789Z stdout F a b")); string(got.Content) != "a b" {
		t.Errorf("content with spaces: %q", got.Content)
	}
}
