// Package job owns the API rules for batch/v1 Jobs: the v1 defaults, the selector and pod labels the API
// generates on create, spec and status validation, the fields fixed once a job exists, and the
// status.successful field selector. ValidateJobSpec is shared with CronJob job templates. It must never
// create pods or judge completion; that is the Job controller's work.
package job
