package framework

import (
	"context"
	"slices"
	"strings"
)

// Code is the outcome of a plugin.
type Code int

const (
	// Success: the node passes (or the step succeeded).
	Success Code = iota
	// Unschedulable: the node does not fit now, but removing pods (preemption) might help.
	Unschedulable
	// UnschedulableAndUnresolvable: the node does not fit and preemption cannot change that.
	UnschedulableAndUnresolvable
	// Error: the plugin failed; the pod is retried with back-off.
	Error
	// Skip, from a PreFilter or PreScore, says the plugin has nothing to decide for this pod
	// (no affinity, no claims, no spread constraints...): its Filter, or its Score, is not run
	// for any node in this cycle. A skipped score counts as the same for every node, which
	// changes no choice.
	Skip
)

// Status is what a plugin returns; nil means Success.
type Status struct {
	Code    Code
	Reasons []string
	// Plugin names who said so; the queue uses it to know which cluster events may help.
	Plugin string
}

// NewStatus makes a status.
func NewStatus(code Code, reasons ...string) *Status { return &Status{Code: code, Reasons: reasons} }

// IsSuccess says whether s is nil or Success.
func (s *Status) IsSuccess() bool { return s == nil || s.Code == Success }

// IsSkip says whether s is a Skip.
func (s *Status) IsSkip() bool { return s != nil && s.Code == Skip }

// Message joins the reasons.
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.Reasons, ", ")
}

// CycleState carries what PreFilter/PreScore computed for one pod to the per-node steps of the
// same cycle. It is written during PreFilter/PreScore and only read afterwards.
//
// The few entries sit in a slice searched in order rather than a map: Filter and Score read them
// once per node for every pod, and comparing a handful of constant keys costs less than hashing.
type CycleState struct {
	keys []string
	vals []any
	// filters are the filters this cycle runs: the profile's, less those whose PreFilter
	// skipped; nil until RunPreFilters ran.
	filters []FilterPlugin
}

// NewCycleState makes an empty state.
func NewCycleState() *CycleState { return &CycleState{} }

// Write stores a plugin's data.
func (c *CycleState) Write(key string, v any) {
	for i, k := range c.keys {
		if k == key {
			c.vals[i] = v
			return
		}
	}
	c.keys = append(c.keys, key)
	c.vals = append(c.vals, v)
}

// Read fetches a plugin's data.
func (c *CycleState) Read(key string) any {
	for i, k := range c.keys {
		if k == key {
			return c.vals[i]
		}
	}
	return nil
}

// Plugin is anything with a name.
type Plugin interface{ Name() string }

// PreFilterPlugin computes, once per pod, what its Filter needs (cluster-wide counts), or rejects
// the pod for every node at once.
type PreFilterPlugin interface {
	Plugin
	PreFilter(ctx context.Context, state *CycleState, pod *PodInfo, snap *Snapshot) *Status
}

// FilterPlugin decides whether the pod fits one node. It must not change anything.
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) *Status
}

// ScorePlugin ranks the feasible nodes. PreScore sees all of them first; Normalize turns the raw
// scores into 0..MaxNodeScore in place.
type ScorePlugin interface {
	Plugin
	PreScore(ctx context.Context, state *CycleState, pod *PodInfo, nodes []*NodeInfo, snap *Snapshot) *Status
	Score(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) int64
	Normalize(ctx context.Context, state *CycleState, pod *PodInfo, scores []int64)
}

// MaxNodeScore is the best score a plugin gives a node after normalisation.
const MaxNodeScore int64 = 100

// WeightedScore is a score plugin and its weight in the sum.
type WeightedScore struct {
	Plugin ScorePlugin
	Weight int64
}

// Profile is the ordered set of plugins one scheduler runs.
type Profile struct {
	PreFilters []PreFilterPlugin
	Filters    []FilterPlugin
	Scores     []WeightedScore
}

// RunPreFilters runs every PreFilter; the first rejection wins. Those that skip take their
// Filter out of this cycle.
func (p *Profile) RunPreFilters(ctx context.Context, state *CycleState, pod *PodInfo, snap *Snapshot) *Status {
	var skipped []string
	for _, pl := range p.PreFilters {
		st := pl.PreFilter(ctx, state, pod, snap)
		switch {
		case st.IsSkip():
			skipped = append(skipped, pl.Name())
		case !st.IsSuccess():
			st.Plugin = pl.Name()
			return st
		}
	}
	if len(skipped) == 0 {
		state.filters = p.Filters
		return nil
	}
	state.filters = make([]FilterPlugin, 0, len(p.Filters))
	for _, f := range p.Filters {
		if !slices.Contains(skipped, f.Name()) {
			state.filters = append(state.filters, f)
		}
	}
	return nil
}

// RunFilters runs the filters in order and stops at the first that rejects the node, as upstream.
func (p *Profile) RunFilters(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) *Status {
	filters := state.filters
	if filters == nil {
		filters = p.Filters
	}
	for _, pl := range filters {
		if st := pl.Filter(ctx, state, pod, node); !st.IsSuccess() {
			st.Plugin = pl.Name()
			return st
		}
	}
	return nil
}

// RunScores scores every node with every plugin that did not skip, normalises per plugin and
// returns the weighted sums, index for index with nodes.
func (p *Profile) RunScores(ctx context.Context, state *CycleState, pod *PodInfo, nodes []*NodeInfo, snap *Snapshot) []int64 {
	total := make([]int64, len(nodes))
	scores := make([]int64, len(nodes))
	for _, ws := range p.Scores {
		if ws.Plugin.PreScore(ctx, state, pod, nodes, snap).IsSkip() {
			continue
		}
		for i, n := range nodes {
			scores[i] = ws.Plugin.Score(ctx, state, pod, n)
		}
		ws.Plugin.Normalize(ctx, state, pod, scores)
		for i := range scores {
			total[i] += scores[i] * ws.Weight
		}
	}
	return total
}

// DefaultNormalize scales scores to 0..MaxNodeScore by the highest one; reverse makes the highest
// raw score the worst (for counts of bad things). All-zero scores become MaxNodeScore when
// reversed and stay 0 otherwise, as upstream.
func DefaultNormalize(scores []int64, reverse bool) {
	var max int64
	for _, s := range scores {
		if s > max {
			max = s
		}
	}
	if max == 0 {
		if reverse {
			for i := range scores {
				scores[i] = MaxNodeScore
			}
		}
		return
	}
	for i, s := range scores {
		s = MaxNodeScore * s / max
		if reverse {
			s = MaxNodeScore - s
		}
		scores[i] = s
	}
}
