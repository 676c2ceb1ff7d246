package proxy

import (
	"testing"

	"github.com/skiff-dev/skiff/internal/network/nettest"
)

func TestSmokeWriter(t *testing.T) {
	ns := nettest.NewNamespace(t, "smoke")
	w, err := openWriter(ns.Path, "skiff-smoke")
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	m := modelConfig{NodeName: "n1", ServiceCIDR: mustPrefix("10.96.0.0/12"), ClusterCIDR: mustPrefix("10.244.0.0/16")}
	if err := w.setup(fixedChains(m)); err != nil {
		t.Fatal(err)
	}
	svc := testService("default", "web", "10.96.0.10", withNodePort(30080), withAffinity(60), withLocalExternal())
	sl := testSlice("default", "web", "web-abc", ep("10.244.0.5", "n1", true), ep("10.244.1.5", "n2", true))
	rs := serviceRules(m, svc, sl)
	t.Log(diff(nil, rs))
	if err := w.apply([]*delta{diff(nil, rs)}); err != nil {
		t.Fatal(err)
	}
	obs, err := w.read()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", obs)
	if err := w.apply([]*delta{diff(rs, nil)}); err != nil {
		t.Fatal(err)
	}
	if err := w.deleteTable(); err != nil {
		t.Fatal(err)
	}
}
