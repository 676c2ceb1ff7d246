// Package job is the Job controller: it creates a batch/v1 Job's pods up to its parallelism until
// its completions are reached (NonIndexed, or Indexed with one success per completion index), tracks
// every finished pod through the batch.kubernetes.io/job-tracking finalizer and
// status.uncountedTerminatedPods so that no completion or failure is lost or counted twice, applies
// backoffLimit (with the exponential re-create delay), backoffLimitPerIndex, activeDeadlineSeconds,
// the pod failure policy and suspend, and writes the status counters and the conditions (FailureTarget
// and SuccessCriteriaMet first, Failed or Complete once no pod is left running) that kubectl reads.
//
// It must never count a pod whose tracking finalizer is already gone, never remove that finalizer
// before the pod's outcome is recorded in the Job's status, never touch pods it does not control,
// and never delete the Job itself (ttlSecondsAfterFinished belongs to the ttlafterfinished
// controller).
//
// Usage:
//
//	c, err := job.New(job.Config{Client: cs, Informers: factory, Recorder: recorder, Logger: logger})
//	factory.Start(ctx.Done())
//	go c.Run(ctx, 5)
package job
