// Package cronschedule parses the schedules CronJobs use (standard five-field cron lines, the
// @hourly-style descriptors and @every <duration>) and computes their next activation. The API server
// validates with it and the CronJob controller schedules with it, so both agree on what a schedule
// means. It must never read the clock or a time zone database on its own: callers pass times in the
// zone they mean.
package cronschedule
