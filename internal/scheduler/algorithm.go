package scheduler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	fw "github.com/skiff-dev/skiff/internal/scheduler/framework"
)

// Upstream's adaptive share of nodes to look at once enough feasible ones are found: all of them
// below 100 nodes, then 50% minus 1% per 125 nodes, never under 5%, never fewer than 100 nodes.
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

// ErrNoNodes is upstream's message when the cluster has no node at all.
const ErrNoNodes = "no nodes available to schedule pods"

// FitError says why a pod fits no node, in upstream's words.
type FitError struct {
	NumAllNodes int
	// PreFilterMsg is set when a PreFilter rejected the pod for every node.
	PreFilterMsg  string
	PreFilterCode fw.Code
	// NodeStatus holds each rejected node's status.
	NodeStatus map[string]*fw.Status
	// PostFilterMsg is what preemption said ("preemption: ...").
	PostFilterMsg string
}

// Error formats "0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 Insufficient
// cpu. preemption: ...": reason counts sorted as strings, as upstream.
func (f *FitError) Error() string {
	if f.NumAllNodes == 0 && f.PreFilterMsg == "" {
		return ErrNoNodes
	}
	msg := fmt.Sprintf("0/%d nodes are available:", f.NumAllNodes)
	if f.PreFilterMsg != "" {
		msg += " " + f.PreFilterMsg + "."
	} else if h := histogram(f.NodeStatus); h != "" {
		msg += " " + h + "."
	}
	if f.PostFilterMsg != "" {
		msg += " " + f.PostFilterMsg
	}
	return msg
}

// histogram counts reasons over nodes and formats "N reason" entries sorted as strings.
func histogram(statuses map[string]*fw.Status) string {
	counts := map[string]int{}
	for _, st := range statuses {
		for _, r := range st.Reasons {
			counts[r]++
		}
	}
	out := make([]string, 0, len(counts))
	for r, n := range counts {
		out = append(out, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// Plugins lists the plugins that rejected the pod, for the queue.
func (f *FitError) Plugins() []string {
	seen := map[string]bool{}
	var out []string
	for _, st := range f.NodeStatus {
		if st.Plugin != "" && !seen[st.Plugin] {
			seen[st.Plugin] = true
			out = append(out, st.Plugin)
		}
	}
	return out
}

// algorithm is the pure part of a scheduling cycle: filters and scores over a snapshot.
type algorithm struct {
	profile *fw.Profile
	// percentage overrides the adaptive share of nodes to find (1..100); 0 = adaptive.
	percentage int
	// next is where the next search starts, so successive pods spread the filtering work (and
	// their placement among equals) over all nodes.
	next int
	// intn breaks ties between equally scored nodes; tests make it deterministic.
	intn func(n int) int
	// nominated lists pods of at least a priority nominated to a node (nil: none).
	nominated func(node string, priority int32, self types.UID) []*fw.PodInfo
	// anyNominated says whether any pod is nominated at all, so that the search need not ask
	// (and touch every node's name) when none is, the usual case.
	anyNominated func() bool
}

func newAlgorithm(p *fw.Profile, percentage int) *algorithm {
	return &algorithm{profile: p, percentage: percentage, intn: rand.IntN}
}

// numFeasibleToFind is how many feasible nodes are enough to stop filtering.
func (a *algorithm) numFeasibleToFind(all int) int {
	if all < minFeasibleNodesToFind || a.percentage >= 100 {
		return all
	}
	pct := a.percentage
	if pct <= 0 {
		pct = 50 - all/125
		if pct < minFeasibleNodesPercentageToFind {
			pct = minFeasibleNodesPercentageToFind
		}
	}
	n := all * pct / 100
	if n < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return n
}

// schedule picks a node for pod, or returns a *FitError (or another error).
func (a *algorithm) schedule(ctx context.Context, state *fw.CycleState, pod *fw.PodInfo, snap *fw.Snapshot) (string, error) {
	nodes := snap.List()
	if len(nodes) == 0 {
		return "", &FitError{}
	}
	if st := a.profile.RunPreFilters(ctx, state, pod, snap); !st.IsSuccess() {
		if st.Code == fw.Error {
			return "", fmt.Errorf("%s: %s", st.Plugin, st.Message())
		}
		fe := &FitError{NumAllNodes: len(nodes), PreFilterMsg: st.Message(), PreFilterCode: st.Code, NodeStatus: map[string]*fw.Status{}}
		for _, n := range nodes {
			fe.NodeStatus[n.Node.Name] = st
		}
		return "", fe
	}
	// A pod that preempted others goes back to its nominated node first, if it fits now.
	if nn := pod.Pod.Status.NominatedNodeName; nn != "" {
		if ni := snap.Get(nn); ni != nil && a.filterNode(ctx, state, pod, ni).IsSuccess() {
			return nn, nil
		}
	}
	feasible, statuses, err := a.findFeasible(ctx, state, pod, nodes)
	if err != nil {
		return "", err
	}
	if len(feasible) == 0 {
		return "", &FitError{NumAllNodes: len(nodes), NodeStatus: statuses}
	}
	if len(feasible) == 1 {
		return feasible[0].Node.Name, nil
	}
	scores := a.profile.RunScores(ctx, state, pod, feasible, snap)
	return feasible[a.selectHost(scores)].Node.Name, nil
}

func (a *algorithm) findFeasible(ctx context.Context, state *fw.CycleState, pod *fw.PodInfo, nodes []*fw.NodeInfo) ([]*fw.NodeInfo, map[string]*fw.Status, error) {
	want := a.numFeasibleToFind(len(nodes))
	feasible := make([]*fw.NodeInfo, 0, want)
	statuses := map[string]*fw.Status{}
	start := a.next % len(nodes)
	processed := 0
	for i := 0; i < len(nodes) && len(feasible) < want; i++ {
		n := nodes[(start+i)%len(nodes)]
		processed++
		st := a.filterNode(ctx, state, pod, n)
		switch {
		case st.IsSuccess():
			feasible = append(feasible, n)
		case st.Code == fw.Error:
			return nil, nil, fmt.Errorf("%s on node %q: %s", st.Plugin, n.Node.Name, st.Message())
		default:
			statuses[n.Node.Name] = st
		}
	}
	a.next = (start + processed) % len(nodes)
	return feasible, statuses, nil
}

// filterNode runs the filters on a node, and, when pods of at least the same priority are
// nominated to it, also as if they were already there: the pod must fit both ways, as upstream.
func (a *algorithm) filterNode(ctx context.Context, state *fw.CycleState, pod *fw.PodInfo, n *fw.NodeInfo) *fw.Status {
	if a.nominated != nil && (a.anyNominated == nil || a.anyNominated()) {
		if noms := a.nominated(n.Node.Name, pod.Priority, pod.Pod.UID); len(noms) > 0 {
			clone := n.Clone()
			for _, np := range noms {
				clone.AddPod(np)
			}
			if st := a.profile.RunFilters(ctx, state, pod, clone); !st.IsSuccess() {
				return st
			}
		}
	}
	return a.profile.RunFilters(ctx, state, pod, n)
}

// selectHost picks the highest score, choosing uniformly among ties (reservoir sampling).
func (a *algorithm) selectHost(scores []int64) int {
	best, ties := 0, 1
	for i := 1; i < len(scores); i++ {
		switch {
		case scores[i] > scores[best]:
			best, ties = i, 1
		case scores[i] == scores[best]:
			ties++
			if a.intn(ties) == 0 {
				best = i
			}
		}
	}
	return best
}
