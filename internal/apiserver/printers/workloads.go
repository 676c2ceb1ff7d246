package printers

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

var deploymentTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Ready", Type: "string", Description: "Ready pods out of the desired replicas."},
		{Name: "Up-to-date", Type: "string", Description: "Pods that run the current template."},
		{Name: "Available", Type: "string", Description: "Pods that have been ready for at least minReadySeconds."},
		ageColumn,
		containersColumn, imagesColumn, selectorColumn,
	},
	Row: rowFor(func(d *appsv1.Deployment) []interface{} {
		names, images := containerCells(d.Spec.Template.Spec.Containers)
		// Unlike the other workloads, upstream prints the deployment selector without "<none>".
		selector := "<invalid>"
		if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
			selector = s.String()
		}
		return []interface{}{
			d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas(d.Spec.Replicas)),
			int64(d.Status.UpdatedReplicas), int64(d.Status.AvailableReplicas), age(d.CreationTimestamp),
			names, images, selector,
		}
	}),
}

var replicaSetTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Desired", Type: "integer", Description: "Replicas the set should run."},
		{Name: "Current", Type: "integer", Description: "Replicas the set runs."},
		{Name: "Ready", Type: "integer", Description: "Replicas that are ready."},
		ageColumn,
		containersColumn, imagesColumn, selectorColumn,
	},
	Row: rowFor(func(rs *appsv1.ReplicaSet) []interface{} {
		names, images := containerCells(rs.Spec.Template.Spec.Containers)
		return []interface{}{
			rs.Name, replicas(rs.Spec.Replicas), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas),
			age(rs.CreationTimestamp), names, images, metav1.FormatLabelSelector(rs.Spec.Selector),
		}
	}),
}

var statefulSetTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Ready", Type: "string", Description: "Ready pods out of the desired replicas."},
		ageColumn,
		containersColumn, imagesColumn,
	},
	Row: rowFor(func(s *appsv1.StatefulSet) []interface{} {
		names, images := containerCells(s.Spec.Template.Spec.Containers)
		return []interface{}{
			s.Name, fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, replicas(s.Spec.Replicas)),
			age(s.CreationTimestamp), names, images,
		}
	}),
}

var daemonSetTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Desired", Type: "integer", Description: "Nodes that should run the daemon pod."},
		{Name: "Current", Type: "integer", Description: "Nodes that run at least one daemon pod."},
		{Name: "Ready", Type: "integer", Description: "Nodes whose daemon pod is ready."},
		{Name: "Up-to-date", Type: "integer", Description: "Nodes that run the current template."},
		{Name: "Available", Type: "integer", Description: "Nodes whose daemon pod is available."},
		{Name: "Node Selector", Type: "string", Description: "Node labels the pod template requires."},
		ageColumn,
		containersColumn, imagesColumn, selectorColumn,
	},
	Row: rowFor(func(ds *appsv1.DaemonSet) []interface{} {
		names, images := containerCells(ds.Spec.Template.Spec.Containers)
		st := ds.Status
		return []interface{}{
			ds.Name, int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady),
			int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable),
			labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector), age(ds.CreationTimestamp),
			names, images, metav1.FormatLabelSelector(ds.Spec.Selector),
		}
	}),
}

var controllerRevisionTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Controller", Type: "string", Description: "The object that owns the revision, as kind.group/name."},
		{Name: "Revision", Type: "string", Description: "Revision number of the recorded state."},
		ageColumn,
	},
	Row: rowForErr(func(cr *appsv1.ControllerRevision) ([]interface{}, error) {
		controller := none
		if ref := metav1.GetControllerOf(cr); ref != nil {
			gv, err := schema.ParseGroupVersion(ref.APIVersion)
			if err != nil {
				return nil, err
			}
			gk := gv.WithKind(ref.Kind).GroupKind()
			controller = ref.Name
			if !gk.Empty() {
				controller = strings.ToLower(gk.String()) + "/" + ref.Name
			}
		}
		return []interface{}{cr.Name, controller, cr.Revision, age(cr.CreationTimestamp)}, nil
	}),
}

var jobTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Status", Type: "string", Description: "State of the job, from its conditions."},
		{Name: "Completions", Type: "string", Description: "Succeeded pods out of the completions asked for."},
		{Name: "Duration", Type: "string", Description: "How long the job ran, or has been running."},
		ageColumn,
		containersColumn, imagesColumn, selectorColumn,
	},
	Row: rowFor(func(j *batchv1.Job) []interface{} {
		names, images := containerCells(j.Spec.Template.Spec.Containers)
		return []interface{}{
			j.Name, jobStatus(j), jobCompletions(j), jobDuration(j), age(j.CreationTimestamp),
			names, images, metav1.FormatLabelSelector(j.Spec.Selector),
		}
	}),
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// jobStatus picks the first of upstream's states that applies, terminal conditions first.
func jobStatus(j *batchv1.Job) string {
	switch {
	case jobCondition(j, batchv1.JobComplete):
		return "Complete"
	case jobCondition(j, batchv1.JobFailed):
		return "Failed"
	case j.DeletionTimestamp != nil:
		return "Terminating"
	case jobCondition(j, batchv1.JobSuspended):
		return "Suspended"
	case jobCondition(j, batchv1.JobFailureTarget):
		return "FailureTarget"
	case jobCondition(j, batchv1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	}
	return "Running"
}

func jobCompletions(j *batchv1.Job) string {
	if j.Spec.Completions != nil {
		return fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	}
	// A work-queue job (no completions) is done after one success, whatever its parallelism.
	if j.Spec.Parallelism != nil && *j.Spec.Parallelism > 1 {
		return fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, *j.Spec.Parallelism)
	}
	return fmt.Sprintf("%d/1", j.Status.Succeeded)
}

func jobDuration(j *batchv1.Job) string {
	switch {
	case j.Status.StartTime == nil:
		return ""
	case j.Status.CompletionTime == nil:
		return duration.HumanDuration(now().Sub(j.Status.StartTime.Time))
	}
	return duration.HumanDuration(j.Status.CompletionTime.Sub(j.Status.StartTime.Time))
}

var cronJobTable = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Schedule", Type: "string", Description: "Cron schedule of the job."},
		{Name: "Timezone", Type: "string", Description: "Time zone the schedule is read in."},
		{Name: "Suspend", Type: "boolean", Description: "Whether new runs are suspended."},
		{Name: "Active", Type: "integer", Description: "Jobs of the cron job that are running."},
		{Name: "Last Schedule", Type: "string", Description: "Time since a job was last scheduled."},
		ageColumn,
		containersColumn, imagesColumn, selectorColumn,
	},
	Row: rowFor(func(cj *batchv1.CronJob) []interface{} {
		last := none
		if t := cj.Status.LastScheduleTime; t != nil {
			last = age(*t)
		}
		tmpl := cj.Spec.JobTemplate.Spec
		names, images := containerCells(tmpl.Template.Spec.Containers)
		return []interface{}{
			cj.Name, cj.Spec.Schedule, strPtrOr(cj.Spec.TimeZone, none), boolPtrCell(cj.Spec.Suspend),
			int64(len(cj.Status.Active)), last, age(cj.CreationTimestamp),
			names, images, metav1.FormatLabelSelector(tmpl.Selector),
		}
	}),
}
