package job

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// noIndex marks a pod whose completion index is missing or unreadable.
const noIndex = -1

// indexSet is a set of completion indexes.
type indexSet map[int]bool

// parseIndexes reads the status form "1,3-5,7"; indexes at or above limit are dropped, as they may be
// left over from a larger completions count before an elastic scale-down.
func parseIndexes(s string, limit int) (indexSet, error) {
	set := indexSet{}
	if s == "" {
		return set, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil || first < 0 {
			return set, fmt.Errorf("bad index %q in %q", part, s)
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil || last < first {
				return set, fmt.Errorf("bad index range %q in %q", part, s)
			}
		}
		for i := first; i <= last && i < limit; i++ {
			set[i] = true
		}
	}
	return set, nil
}

// String writes the set in the status form: increasing, runs of three or more as first-last.
func (s indexSet) String() string {
	idx := s.sorted()
	var b strings.Builder
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		switch {
		case j-i >= 2:
			fmt.Fprintf(&b, "%d-%d", idx[i], idx[j])
		case j == i+1:
			fmt.Fprintf(&b, "%d,%d", idx[i], idx[j])
		default:
			fmt.Fprintf(&b, "%d", idx[i])
		}
		i = j + 1
	}
	return b.String()
}

func (s indexSet) sorted() []int {
	idx := make([]int, 0, len(s))
	for i := range s {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return idx
}

// podIndex reads a pod's completion index from its annotation (the label may be missing on pods
// made before the label existed).
func podIndex(p *corev1.Pod) int {
	v, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		v, ok = p.Labels[batchv1.JobCompletionIndexAnnotation]
	}
	if !ok {
		return noIndex
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return noIndex
	}
	return i
}

// indexFailureCount is how many earlier pods of the pod's index failed, as its annotation says.
func indexFailureCount(p *corev1.Pod) int {
	n, err := strconv.Atoi(p.Annotations[batchv1.JobIndexFailureCountAnnotation])
	if err != nil || n < 0 {
		return 0
	}
	return n
}
