// Package statefulset is the StatefulSet controller: it gives each replica a stable identity (pod
// `<set>-<ordinal>`, hostname, subdomain, identity labels) and stable storage (one claim per
// volumeClaimTemplate and ordinal, created before the pod and outliving it unless the retention
// policy hands it to the garbage collector), creates and removes replicas in ordinal order under
// OrderedReady or all at once under Parallel, rolls template changes from the highest ordinal down
// to the partition, keeps the set's ControllerRevisions, and reports status.
//
// It works only through the API server and reads only from informer caches; it must never delete a
// claim itself (that is the garbage collector's job, through the ownerReferences set here), never
// schedule pods, and never run two incarnations of one ordinal at once.
//
// Usage:
//
//	c, err := statefulset.New(statefulset.Config{Client: client, Informers: factory, Recorder: rec, Logger: log})
//	factory.Start(ctx.Done())
//	c.Run(ctx, 5)
package statefulset
