// Package ttlafterfinished deletes finished Jobs whose spec.ttlSecondsAfterFinished has run out,
// counting from the Job's completion (or failure) time, with background propagation so that the
// garbage collector removes their pods. It is upstream's ttl-after-finished controller.
//
// It must never delete a Job that is not finished, and never act on a stale copy: the Job is read
// live before the delete, and the delete is conditional on the UID and resourceVersion it judged.
//
// Usage:
//
//	c, err := ttlafterfinished.New(ttlafterfinished.Config{Client: cs, Informers: factory, Logger: logger})
//	go c.Run(ctx, 5)
package ttlafterfinished
