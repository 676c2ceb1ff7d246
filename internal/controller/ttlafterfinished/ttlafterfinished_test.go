package ttlafterfinished

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestSync(t *testing.T) {
	finished := func(ct batchv1.JobConditionType, at time.Time) []batchv1.JobCondition {
		return []batchv1.JobCondition{{Type: ct, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Time{Time: at}}}
	}
	cases := []struct {
		name       string
		ttl        *int32
		conditions []batchv1.JobCondition
		completion *time.Time
		now        time.Time
		wantDelete bool
		wantAfter  time.Duration
	}{
		{"running", ptr.To[int32](0), nil, nil, t0, false, 0},
		{"no ttl", nil, finished(batchv1.JobComplete, t0), &t0, t0.Add(time.Hour), false, 0},
		{"complete, ttl 0", ptr.To[int32](0), finished(batchv1.JobComplete, t0), &t0, t0, true, 0},
		{"complete, 40 s left", ptr.To[int32](100), finished(batchv1.JobComplete, t0), &t0, t0.Add(60 * time.Second), false, 40 * time.Second},
		{"failed, expired", ptr.To[int32](100), finished(batchv1.JobFailed, t0), nil, t0.Add(100 * time.Second), true, 0},
		{"failure target only", ptr.To[int32](0), finished(batchv1.JobFailureTarget, t0), nil, t0, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "ns", UID: "u1", ResourceVersion: "7"},
				Spec: batchv1.JobSpec{TTLSecondsAfterFinished: tc.ttl}, Status: batchv1.JobStatus{Conditions: tc.conditions}}
			if tc.completion != nil {
				j.Status.CompletionTime = &metav1.Time{Time: *tc.completion}
			}
			client := fake.NewSimpleClientset(j)
			f := informers.NewSharedInformerFactory(client, 0)
			c, err := New(Config{Client: client, Informers: f, Clock: clocktesting.NewFakeClock(tc.now), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			f.Batch().V1().Jobs().Informer().GetStore().Add(j)
			after, err := c.sync(context.Background(), "ns/j")
			if err != nil {
				t.Fatal(err)
			}
			var del *metav1.DeleteOptions
			for _, a := range client.Actions() {
				if d, ok := a.(k8stesting.DeleteAction); ok {
					o := d.GetDeleteOptions()
					del = &o
				}
			}
			if (del != nil) != tc.wantDelete || after != tc.wantAfter {
				t.Fatalf("deleted %v after %v, want %v %v", del != nil, after, tc.wantDelete, tc.wantAfter)
			}
			if del != nil && (*del.PropagationPolicy != metav1.DeletePropagationBackground || *del.Preconditions.UID != "u1" || *del.Preconditions.ResourceVersion != "7") {
				t.Errorf("delete options %+v", del)
			}
		})
	}
}
