package scheduler

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"

	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
)

// Upstream's preemption reasons.
const (
	reasonPreemptionNotHelpful = "Preemption is not helpful for scheduling"
	reasonNoVictims            = "No preemption victims found for incoming pod"
	msgPreemptionNever         = "not eligible due to preemptionPolicy=Never."
	msgTerminatingOnNominated  = "not eligible due to a terminating pod on the nominated node."
)

// candidate is a node where evicting victims lets the pod fit.
type candidate struct {
	node    string
	victims []*fw.PodInfo
}

// eligibleToPreempt says whether pod may evict others: not with preemptionPolicy Never, and not
// again while lower-priority pods on its nominated node are still terminating (it already made
// room there).
func eligibleToPreempt(pod *fw.PodInfo, snap *fw.Snapshot) (bool, string) {
	if p := pod.Pod.Spec.PreemptionPolicy; p != nil && *p == corev1.PreemptNever {
		return false, msgPreemptionNever
	}
	if nn := pod.Pod.Status.NominatedNodeName; nn != "" {
		if ni := snap.Get(nn); ni != nil {
			for _, p := range ni.Pods {
				if p.Pod.DeletionTimestamp != nil && p.Priority < pod.Priority {
					return false, msgTerminatingOnNominated
				}
			}
		}
	}
	return true, ""
}

// findCandidate looks for the node where the fewest and least important lower-priority pods must
// go for pod to fit. It returns nil and the "preemption: ..." message when there is none.
func (a *algorithm) findCandidate(ctx context.Context, pod *fw.PodInfo, snap *fw.Snapshot, fe *FitError) (*candidate, string) {
	if ok, msg := eligibleToPreempt(pod, snap); !ok {
		return nil, "preemption: " + msg
	}
	statuses := map[string]*fw.Status{}
	var cands []*candidate
	for _, ni := range snap.List() {
		name := ni.Node.Name
		st := fe.NodeStatus[name]
		if st == nil || st.Code == fw.UnschedulableAndUnresolvable {
			statuses[name] = fw.NewStatus(fw.UnschedulableAndUnresolvable, reasonPreemptionNotHelpful)
			continue
		}
		victims, ok := a.selectVictims(ctx, pod, snap, ni)
		if !ok {
			statuses[name] = fw.NewStatus(fw.Unschedulable, reasonNoVictims)
			continue
		}
		cands = append(cands, &candidate{node: name, victims: victims})
	}
	if len(cands) == 0 {
		return nil, fmt.Sprintf("preemption: 0/%d nodes are available: %s.", len(snap.List()), histogram(statuses))
	}
	return pickCandidate(cands), ""
}

// fits runs the whole filter chain for pod against one (modified) node, with cluster-wide
// PreFilter state recomputed over a snapshot holding that node.
func (a *algorithm) fits(ctx context.Context, pod *fw.PodInfo, snap *fw.Snapshot, ni *fw.NodeInfo) bool {
	s := snap.WithNode(ni)
	state := fw.NewCycleState()
	if !a.profile.RunPreFilters(ctx, state, pod, s).IsSuccess() {
		return false
	}
	return a.profile.RunFilters(ctx, state, pod, ni).IsSuccess()
}

// selectVictims removes every lower-priority pod from a copy of the node; if the pod then fits,
// it puts them back one at a time, most important first, keeping each that still leaves room.
// What cannot go back are the victims.
func (a *algorithm) selectVictims(ctx context.Context, pod *fw.PodInfo, snap *fw.Snapshot, ni *fw.NodeInfo) ([]*fw.PodInfo, bool) {
	clone := ni.Clone()
	var potential []*fw.PodInfo
	for _, p := range ni.Pods {
		if p.Priority < pod.Priority {
			potential = append(potential, p)
			_ = clone.RemovePod(p.Pod)
		}
	}
	if len(potential) == 0 || !a.fits(ctx, pod, snap, clone) {
		return nil, false
	}
	sort.SliceStable(potential, func(i, j int) bool {
		if potential[i].Priority != potential[j].Priority {
			return potential[i].Priority > potential[j].Priority
		}
		return startTime(potential[i]).Before(startTime(potential[j]))
	})
	var victims []*fw.PodInfo
	for _, p := range potential {
		clone.AddPod(p)
		if !a.fits(ctx, pod, snap, clone) {
			_ = clone.RemovePod(p.Pod)
			victims = append(victims, p)
		}
	}
	return victims, true
}

func startTime(p *fw.PodInfo) time.Time {
	if p.Pod.Status.StartTime != nil {
		return p.Pod.Status.StartTime.Time
	}
	return p.Pod.CreationTimestamp.Time
}

// pickCandidate prefers, in upstream's order: the lowest highest-victim priority, the lowest sum
// of victim priorities, the fewest victims; then the first found.
func pickCandidate(cands []*candidate) *candidate {
	type key struct{ highest, sum, count int64 }
	keyOf := func(c *candidate) key {
		k := key{highest: math.MinInt64, count: int64(len(c.victims))}
		for _, v := range c.victims {
			if int64(v.Priority) > k.highest {
				k.highest = int64(v.Priority)
			}
			// Shift so that negative priorities still add up to more victims being worse.
			k.sum += int64(v.Priority) + math.MaxInt32 + 1
		}
		return k
	}
	best, bk := cands[0], keyOf(cands[0])
	for _, c := range cands[1:] {
		k := keyOf(c)
		if k.highest < bk.highest || (k.highest == bk.highest && (k.sum < bk.sum || (k.sum == bk.sum && k.count < bk.count))) {
			best, bk = c, k
		}
	}
	return best
}
