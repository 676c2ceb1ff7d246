package admission

import (
	"testing"
	"time"
)

func TestRecent(t *testing.T) {
	now := time.Unix(1000, 0)
	r := NewRecent(10 * time.Second)
	r.Now = func() time.Time { return now }
	r.Mark("a")
	steps := []struct {
		advance time.Duration
		key     string
		want    bool
	}{
		{0, "a", true}, {0, "b", false}, {10 * time.Second, "a", true}, {time.Second, "a", false},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if got := r.Has(s.key); got != s.want {
			t.Fatalf("step %d: Has(%s) = %v, want %v", i, s.key, got, s.want)
		}
	}
}
