package queue

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/utils/clock"
)

// Upstream's defaults.
const (
	DefaultInitialBackoff   = 1 * time.Second
	DefaultMaxBackoff       = 10 * time.Second
	DefaultMaxUnschedulable = 5 * time.Minute
	// leftoverInterval is how often the unschedulable set is checked for pods parked too long.
	leftoverInterval = 30 * time.Second
)

// ErrClosed is returned by Pop after Close.
var ErrClosed = errors.New("scheduling queue closed")

// QueuedPod is a pod in the queue with its scheduling history.
type QueuedPod struct {
	Pod *corev1.Pod
	// Timestamp is when the pod last entered the queue's active or back-off part; it orders pods
	// of equal priority.
	Timestamp time.Time
	// InitialAttempt is when the pod was first popped.
	InitialAttempt time.Time
	// Attempts counts scheduling attempts; it sets the back-off.
	Attempts int
	// UnschedulablePlugins named why the last attempt failed; events that cannot help any of them
	// leave the pod parked. Empty means any event may help.
	UnschedulablePlugins sets.Set[string]
	// failedAt is when the last attempt failed (back-off runs from it).
	failedAt time.Time
	where    location
	deleted  bool
}

type location int

const (
	nowhere location = iota
	inActive
	inBackoff
	inUnschedulable
	inFlight
)

// Options tune the queue; zero values take upstream's defaults.
type Options struct {
	Clock            clock.WithTicker
	InitialBackoff   time.Duration
	MaxBackoff       time.Duration
	MaxUnschedulable time.Duration
}

// Queue holds pods waiting to be scheduled. Safe for concurrent use.
type Queue struct {
	clock                                        clock.WithTicker
	initialBackoff, maxBackoff, maxUnschedulable time.Duration

	mu            sync.Mutex
	cond          *sync.Cond
	active        *itemHeap
	backoff       *itemHeap
	unschedulable map[types.UID]*QueuedPod
	pods          map[types.UID]*QueuedPod
	// cycle counts Pops; moveCycle is the cycle of the last MoveAll. A pod whose attempt began
	// before a move could have missed the event that helps it, so it goes to back-off instead
	// of waiting for another event.
	cycle, moveCycle int64
	closed           bool
	wake             chan struct{}
}

// New makes a queue.
func New(o Options) *Queue {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.InitialBackoff == 0 {
		o.InitialBackoff = DefaultInitialBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxUnschedulable == 0 {
		o.MaxUnschedulable = DefaultMaxUnschedulable
	}
	q := &Queue{
		clock: o.Clock, initialBackoff: o.InitialBackoff, maxBackoff: o.MaxBackoff, maxUnschedulable: o.MaxUnschedulable,
		unschedulable: map[types.UID]*QueuedPod{}, pods: map[types.UID]*QueuedPod{}, wake: make(chan struct{}, 1),
	}
	q.cond = sync.NewCond(&q.mu)
	q.active = newHeap(func(a, b *QueuedPod) bool {
		pa, pb := corev1helpers.PodPriority(a.Pod), corev1helpers.PodPriority(b.Pod)
		if pa != pb {
			return pa > pb
		}
		return a.Timestamp.Before(b.Timestamp)
	})
	q.backoff = newHeap(func(a, b *QueuedPod) bool { return q.backoffExpiry(a).Before(q.backoffExpiry(b)) })
	return q
}

// BackoffDuration is the back-off after a number of attempts: initial doubling, capped.
func (q *Queue) BackoffDuration(attempts int) time.Duration {
	d := q.initialBackoff
	for i := 1; i < attempts; i++ {
		d *= 2
		if d >= q.maxBackoff {
			return q.maxBackoff
		}
	}
	return d
}

func (q *Queue) backoffExpiry(qp *QueuedPod) time.Time {
	return qp.failedAt.Add(q.BackoffDuration(qp.Attempts))
}

func (q *Queue) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Add queues a new pending pod (or refreshes one already queued).
func (q *Queue) Add(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp, ok := q.pods[pod.UID]; ok {
		q.update(qp, pod)
		return
	}
	qp := &QueuedPod{Pod: pod, Timestamp: q.clock.Now()}
	q.pods[pod.UID] = qp
	q.toActive(qp)
}

// Update refreshes a queued pod. A parked pod whose spec or labels changed may fit now, so it
// moves on (to back-off if its back-off has not run out); status-only changes (the scheduler's
// own condition updates) leave it where it is.
func (q *Queue) Update(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp, ok := q.pods[pod.UID]
	if !ok {
		qp = &QueuedPod{Pod: pod, Timestamp: q.clock.Now()}
		q.pods[pod.UID] = qp
		q.toActive(qp)
		return
	}
	q.update(qp, pod)
}

func (q *Queue) update(qp *QueuedPod, pod *corev1.Pod) {
	old := qp.Pod
	qp.Pod = pod
	switch qp.where {
	case inActive:
		q.active.fix(qp)
	case inUnschedulable:
		if schedulingRelevantChange(old, pod) {
			delete(q.unschedulable, pod.UID)
			q.toActiveOrBackoff(qp)
		}
	}
}

// schedulingRelevantChange ignores what changes without affecting placement: status,
// resourceVersion, managed fields.
func schedulingRelevantChange(old, cur *corev1.Pod) bool {
	if old == nil {
		return true
	}
	return !equality.Semantic.DeepEqual(old.Spec, cur.Spec) || !equality.Semantic.DeepEqual(old.Labels, cur.Labels) ||
		!equality.Semantic.DeepEqual(old.Annotations, cur.Annotations)
}

// Delete drops a pod (deleted, or bound by someone else).
func (q *Queue) Delete(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp, ok := q.pods[pod.UID]
	if !ok {
		return
	}
	q.unlink(qp)
	if qp.where == inFlight {
		qp.deleted = true
	}
	delete(q.pods, pod.UID)
}

func (q *Queue) unlink(qp *QueuedPod) {
	switch qp.where {
	case inActive:
		q.active.remove(qp)
	case inBackoff:
		q.backoff.remove(qp)
	case inUnschedulable:
		delete(q.unschedulable, qp.Pod.UID)
	}
}

func (q *Queue) toActive(qp *QueuedPod) {
	qp.where = inActive
	q.active.add(qp)
	q.cond.Broadcast()
}

func (q *Queue) toActiveOrBackoff(qp *QueuedPod) {
	if qp.Attempts > 0 && q.clock.Now().Before(q.backoffExpiry(qp)) {
		qp.where = inBackoff
		q.backoff.add(qp)
		q.kick()
		return
	}
	qp.Timestamp = q.clock.Now()
	q.toActive(qp)
}

// Pop blocks until a pod is active (or the queue is closed) and hands it out with its attempt
// counted. The returned cycle number goes back with AddUnschedulable.
func (q *Queue) Pop(ctx context.Context) (*QueuedPod, int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	for q.active.Len() == 0 {
		if q.closed {
			return nil, 0, ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		q.cond.Wait()
	}
	qp := q.active.pop()
	qp.where = inFlight
	qp.Attempts++
	if qp.InitialAttempt.IsZero() {
		qp.InitialAttempt = q.clock.Now()
	}
	q.cycle++
	return qp, q.cycle, nil
}

// Done says the pod was bound (or given up on): it leaves the queue.
func (q *Queue) Done(qp *QueuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if cur, ok := q.pods[qp.Pod.UID]; ok && cur == qp {
		delete(q.pods, qp.Pod.UID)
	}
	qp.where = nowhere
}

// AddUnschedulable parks a pod after a failed attempt popped in cycle. If a cluster event came
// while the attempt ran, the pod goes to back-off instead: the event may have been what it needed.
// plugins name what rejected it (nil: anything may help).
func (q *Queue) AddUnschedulable(qp *QueuedPod, cycle int64, plugins sets.Set[string]) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp.deleted || q.pods[qp.Pod.UID] != qp {
		return
	}
	qp.failedAt = q.clock.Now()
	qp.UnschedulablePlugins = plugins
	if q.moveCycle >= cycle {
		qp.where = inBackoff
		q.backoff.add(qp)
		q.kick()
		return
	}
	qp.where = inUnschedulable
	qp.Timestamp = q.clock.Now()
	q.unschedulable[qp.Pod.UID] = qp
}

// AddBackoff puts a pod whose attempt failed for a reason other than fit (an API error) into
// back-off.
func (q *Queue) AddBackoff(qp *QueuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp.deleted || q.pods[qp.Pod.UID] != qp {
		return
	}
	qp.failedAt = q.clock.Now()
	qp.where = inBackoff
	q.backoff.add(qp)
	q.kick()
}

// MoveAll moves the parked pods for which interested says the event may help to the active queue
// (or to back-off if theirs has not run out).
func (q *Queue) MoveAll(interested func(*QueuedPod) bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for uid, qp := range q.unschedulable {
		if interested != nil && !interested(qp) {
			continue
		}
		delete(q.unschedulable, uid)
		q.toActiveOrBackoff(qp)
	}
	q.moveCycle = q.cycle
}

// FlushBackoff moves pods whose back-off has run out to the active queue and returns when the
// next one runs out (zero when none waits).
func (q *Queue) FlushBackoff() time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	for {
		qp := q.backoff.peek()
		if qp == nil {
			return time.Time{}
		}
		exp := q.backoffExpiry(qp)
		if exp.After(now) {
			return exp
		}
		q.backoff.pop()
		qp.Timestamp = now
		q.toActive(qp)
	}
}

// FlushLeftover moves pods parked longer than the maximum (5 minutes) back, in case the event
// that would help them was never seen.
func (q *Queue) FlushLeftover() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	for uid, qp := range q.unschedulable {
		if now.Sub(qp.Timestamp) > q.maxUnschedulable {
			delete(q.unschedulable, uid)
			q.toActiveOrBackoff(qp)
		}
	}
}

// Run moves pods out of back-off when it runs out and flushes the leftovers, until ctx ends;
// then it closes the queue.
func (q *Queue) Run(ctx context.Context) {
	defer q.Close()
	leftover := q.clock.NewTicker(leftoverInterval)
	defer leftover.Stop()
	for {
		next := q.FlushBackoff()
		var timer clock.Timer
		var fire <-chan time.Time
		if !next.IsZero() {
			timer = q.clock.NewTimer(next.Sub(q.clock.Now()))
			fire = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-fire:
		case <-q.wake:
		case <-leftover.C():
			q.FlushLeftover()
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// Close wakes every Pop with ErrClosed.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// Stats counts the pods in each part.
type Stats struct{ Active, Backoff, Unschedulable, InFlight int }

// Stats returns the counts.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := Stats{Active: q.active.Len(), Backoff: q.backoff.Len(), Unschedulable: len(q.unschedulable)}
	for _, qp := range q.pods {
		if qp.where == inFlight {
			s.InFlight++
		}
	}
	return s
}

// Where reports which part holds a pod: "active", "backoff", "unschedulable", "inflight" or "".
func (q *Queue) Where(uid types.UID) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp, ok := q.pods[uid]
	if !ok {
		return ""
	}
	return [...]string{"", "active", "backoff", "unschedulable", "inflight"}[qp.where]
}
