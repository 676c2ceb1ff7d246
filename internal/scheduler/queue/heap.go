package queue

import "container/heap"

// itemHeap is a heap of queued pods with positions tracked for removal.
type itemHeap struct {
	items []*QueuedPod
	less  func(a, b *QueuedPod) bool
	// pos is the index of each pod in items; the key is the pod's UID.
	pos map[*QueuedPod]int
}

func newHeap(less func(a, b *QueuedPod) bool) *itemHeap {
	return &itemHeap{less: less, pos: map[*QueuedPod]int{}}
}

func (h *itemHeap) Len() int           { return len(h.items) }
func (h *itemHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *itemHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.pos[h.items[i]] = i
	h.pos[h.items[j]] = j
}
func (h *itemHeap) Push(x any) {
	qp := x.(*QueuedPod)
	h.pos[qp] = len(h.items)
	h.items = append(h.items, qp)
}
func (h *itemHeap) Pop() any {
	n := len(h.items)
	qp := h.items[n-1]
	h.items[n-1] = nil
	h.items = h.items[:n-1]
	delete(h.pos, qp)
	return qp
}

func (h *itemHeap) add(qp *QueuedPod) { heap.Push(h, qp) }

func (h *itemHeap) peek() *QueuedPod {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

func (h *itemHeap) pop() *QueuedPod {
	if len(h.items) == 0 {
		return nil
	}
	return heap.Pop(h).(*QueuedPod)
}

func (h *itemHeap) remove(qp *QueuedPod) bool {
	i, ok := h.pos[qp]
	if !ok {
		return false
	}
	heap.Remove(h, i)
	return true
}

func (h *itemHeap) fix(qp *QueuedPod) {
	if i, ok := h.pos[qp]; ok {
		heap.Fix(h, i)
	}
}
