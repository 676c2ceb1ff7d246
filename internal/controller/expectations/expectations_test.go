package expectations

import (
	"testing"
	"time"
)

func TestExpectations(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tests := []struct {
		name string
		do   func(e *Expectations)
		want bool
	}{
		{"nothing recorded", func(e *Expectations) {}, true},
		{"creations outstanding", func(e *Expectations) { e.ExpectCreations("k", 2); e.CreationObserved("k") }, false},
		{"creations observed", func(e *Expectations) { e.ExpectCreations("k", 2); e.CreationObserved("k"); e.CreationObserved("k") }, true},
		{"observed more than expected stays satisfied", func(e *Expectations) {
			e.ExpectCreations("k", 1)
			e.CreationObserved("k")
			e.CreationObserved("k")
		}, true},
		{"deletion seen twice counts once", func(e *Expectations) {
			e.ExpectDeletions("k", []string{"ns/a", "ns/b"})
			e.DeletionObserved("k", "ns/a")
			e.DeletionObserved("k", "ns/a")
		}, false},
		{"deletions observed", func(e *Expectations) {
			e.ExpectDeletions("k", []string{"ns/a", "ns/b"})
			e.DeletionObserved("k", "ns/a")
			e.DeletionObserved("k", "ns/b")
		}, true},
		{"creations and deletions in one round", func(e *Expectations) {
			e.Expect("k", 1, []string{"uid-a"})
			e.CreationObserved("k")
		}, false},
		{"creations and deletions in one round observed", func(e *Expectations) {
			e.Expect("k", 1, []string{"uid-a"})
			e.DeletionObserved("k", "uid-a")
			e.CreationObserved("k")
		}, true},
		{"a new round replaces the last", func(e *Expectations) {
			e.Expect("k", 1, []string{"uid-a"})
			e.ExpectCreations("k", 0)
		}, true},
		{"expired", func(e *Expectations) { e.ExpectCreations("k", 3); now = now.Add(Timeout + time.Second) }, true},
		{"deleted key", func(e *Expectations) { e.ExpectCreations("k", 3); e.Delete("k") }, true},
		{"other key does not interfere", func(e *Expectations) { e.ExpectCreations("k", 1); e.CreationObserved("other") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(clock)
			tt.do(e)
			if got := e.Satisfied("k"); got != tt.want {
				a, d := e.Pending("k")
				t.Errorf("Satisfied = %v, want %v (pending adds %d deletes %d)", got, tt.want, a, d)
			}
		})
	}
}
