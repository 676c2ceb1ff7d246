package job

import (
	"sync"
	"time"
)

// Upstream's pod re-create delay: 10 s after the first failure since the last success, doubling
// with each further failure, at most 6 minutes.
const (
	backoffBase = 10 * time.Second
	backoffMax  = 6 * time.Minute
)

// backoffStore keeps, per job, the failures seen since its last success. It lives in memory as
// upstream's does: after a restart jobs start without delay.
type backoffStore struct {
	mu   sync.Mutex
	jobs map[string]backoffRecord
}

type backoffRecord struct {
	failures    int
	lastFailure time.Time
}

func newBackoffStore() *backoffStore { return &backoffStore{jobs: map[string]backoffRecord{}} }

// finished is one newly counted pod outcome.
type finished struct {
	at     time.Time
	failed bool
}

// record folds newly counted outcomes, in order of their finish times, into the job's record.
func (s *backoffStore) record(key string, outcomes []finished) {
	if len(outcomes) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.jobs[key]
	for _, o := range outcomes {
		if !o.failed {
			if o.at.After(r.lastFailure) {
				r.failures = 0
			}
			continue
		}
		r.failures++
		if o.at.After(r.lastFailure) {
			r.lastFailure = o.at
		}
	}
	s.jobs[key] = r
}

// remaining is how long new pods must still wait at now.
func (s *backoffStore) remaining(key string, now time.Time) time.Duration {
	s.mu.Lock()
	r := s.jobs[key]
	s.mu.Unlock()
	if r.failures == 0 {
		return 0
	}
	return max(r.lastFailure.Add(backoffDelay(r.failures)).Sub(now), 0)
}

func backoffDelay(failures int) time.Duration {
	d := backoffBase
	for i := 1; i < failures && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

func (s *backoffStore) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.jobs, key)
}
