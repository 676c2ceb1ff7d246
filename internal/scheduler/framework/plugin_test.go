package framework

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fake is a PreFilter, Filter and Score plugin whose answers the test sets.
type fake struct {
	name             string
	preFilter        *Status
	preScore         *Status
	rejects          bool
	score            int64
	filtered, scored *int
}

func (f fake) Name() string { return f.name }
func (f fake) PreFilter(context.Context, *CycleState, *PodInfo, *Snapshot) *Status {
	return f.preFilter
}
func (f fake) Filter(context.Context, *CycleState, *PodInfo, *NodeInfo) *Status {
	*f.filtered++
	if f.rejects {
		return NewStatus(Unschedulable, f.name+" says no")
	}
	return nil
}
func (f fake) PreScore(context.Context, *CycleState, *PodInfo, []*NodeInfo, *Snapshot) *Status {
	return f.preScore
}
func (f fake) Score(context.Context, *CycleState, *PodInfo, *NodeInfo) int64 {
	*f.scored++
	return f.score
}
func (f fake) Normalize(context.Context, *CycleState, *PodInfo, []int64) {}

func TestSkippedPluginsAreNotRun(t *testing.T) {
	var filteredA, filteredB, scoredA, scoredB int
	a := fake{name: "a", preFilter: NewStatus(Skip), rejects: true, preScore: NewStatus(Skip), score: 7, filtered: &filteredA, scored: &scoredA}
	b := fake{name: "b", score: 1, filtered: &filteredB, scored: &scoredB}
	p := &Profile{PreFilters: []PreFilterPlugin{a, b}, Filters: []FilterPlugin{a, b},
		Scores: []WeightedScore{{Plugin: a, Weight: 10}, {Plugin: b, Weight: 2}}}
	node := &NodeInfo{Node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}}
	ctx, state, pod := context.Background(), NewCycleState(), NewPodInfo(&corev1.Pod{})
	if st := p.RunPreFilters(ctx, state, pod, NewSnapshot(node)); !st.IsSuccess() {
		t.Fatalf("a skip is not a rejection: %v", st.Message())
	}
	if st := p.RunFilters(ctx, state, pod, node); !st.IsSuccess() {
		t.Errorf("the skipped filter ran and rejected: %s", st.Message())
	}
	if filteredA != 0 || filteredB != 1 {
		t.Errorf("filters run: a %d, b %d; want 0 and 1", filteredA, filteredB)
	}
	if got := p.RunScores(ctx, state, pod, []*NodeInfo{node, node}, NewSnapshot(node)); !slices.Equal(got, []int64{2, 2}) {
		t.Errorf("scores %v, want only b's weighted score [2 2]", got)
	}
	if scoredA != 0 {
		t.Errorf("the skipped score ran %d times", scoredA)
	}

	// A cycle without PreFilters run (as in tests of single filters) runs every filter.
	fresh := NewCycleState()
	if st := p.RunFilters(ctx, fresh, pod, node); st.IsSuccess() || st.Plugin != "a" {
		t.Errorf("without PreFilters the profile's filters all run: got %+v", st)
	}
}
