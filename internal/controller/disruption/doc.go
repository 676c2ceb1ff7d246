// Package disruption is the PodDisruptionBudget controller: for every budget it counts the pods
// its selector picks, the healthy ones among them (Ready, not being deleted, not just evicted),
// how many there should be (the scale of the pods' controllers for percentages and
// maxUnavailable), and writes status: currentHealthy, desiredHealthy, expectedPods,
// disruptionsAllowed, observedGeneration, the DisruptionAllowed condition, and disruptedPods with
// the entries of pods that are gone, deleting, or still there two minutes after their eviction
// dropped. The API server's eviction subresource reads that status and takes from it.
//
// It must never evict or delete pods, nor grant a disruption it cannot count: when a budget's
// expected count cannot be computed its status allows none (SyncFailed).
//
// Usage:
//
//	c, err := disruption.New(disruption.Config{Client: cs, Informers: informers, Recorder: recorder,
//		Logger: logger, Scales: scales, Mapper: mapper})
//	go c.Run(ctx, 2)
package disruption
