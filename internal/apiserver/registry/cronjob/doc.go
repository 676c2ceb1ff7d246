// Package cronjob owns the API rules for batch/v1 CronJobs: the v1 defaults, the schedule and time zone
// checks, and the validation of the job template (through package job). It must never start jobs or
// read the clock; scheduling is the CronJob controller's work.
package cronjob
