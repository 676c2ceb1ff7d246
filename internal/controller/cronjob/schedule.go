package cronjob

import (
	"time"

	"github.com/skiff-dev/skiff/internal/cronschedule"
)

// tooManyMissed is upstream's threshold for warning that schedule times were skipped.
const tooManyMissed = 100

// mostRecent returns the latest activation of sched in (earliest, now] and how many activations
// that interval holds (estimated from the first interval when there are very many); nil when none.
func mostRecent(sched cronschedule.Schedule, earliest, now time.Time) (*time.Time, int) {
	first := sched.Next(earliest)
	if first.IsZero() || first.After(now) {
		return nil, 0
	}
	last, n := first, 1
	for n <= tooManyMissed {
		next := sched.Next(last)
		if next.IsZero() || next.After(now) {
			return &last, n
		}
		last, n = next, n+1
	}
	// Very many: walking from earliest could take millions of steps. Find an activation close to
	// now by looking back through growing windows, then walk forward from it.
	interval := sched.Next(first).Sub(first)
	for d := time.Minute; ; d *= 2 {
		from := now.Add(-d)
		if !from.After(last) {
			from = last
		}
		t := sched.Next(from)
		if !t.IsZero() && !t.After(now) {
			for {
				next := sched.Next(t)
				if next.IsZero() || next.After(now) {
					break
				}
				t = next
			}
			missed := n
			if interval > 0 {
				missed = max(int(t.Sub(first)/interval)+1, n)
			}
			return &t, missed
		}
		if from.Equal(last) {
			return &last, n
		}
	}
}
