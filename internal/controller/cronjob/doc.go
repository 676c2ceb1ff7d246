// Package cronjob is the CronJob controller: at each time a CronJob's schedule names (in its
// timeZone) it creates a Job from the job template, named <cronjob>-<scheduled minutes since the
// epoch> so that a schedule time yields at most one Job, honours concurrencyPolicy
// (Allow/Forbid/Replace), suspend and startingDeadlineSeconds, keeps status.active,
// lastScheduleTime and lastSuccessfulTime, and deletes finished Jobs beyond the history limits. It
// wakes at the next schedule time from the injected clock rather than polling.
//
// It must never create a Job for a schedule time it already handled, never run Jobs it does not
// own, and never delete a running Job except to replace it under concurrencyPolicy Replace.
//
// Usage:
//
//	c, err := cronjob.New(cronjob.Config{Client: cs, Informers: factory, Recorder: recorder, Logger: logger})
//	go c.Run(ctx, 5)
package cronjob
