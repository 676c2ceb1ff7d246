package event

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-dev/skiff/internal/apiserver/registry"
)

// Upstream's length limits on the fields of new-style events.
const (
	reportingInstanceLengthLimit = 128
	actionLengthLimit            = 128
	reasonLengthLimit            = 128
	noteLengthLimit              = 1024
)

// names maps the fields that are spelled differently in the two versions, so one set of checks
// reports paths in the version the client used.
type names struct {
	regarding, reportingController, note string
}

var (
	coreNames   = names{regarding: "involvedObject", reportingController: "reportingComponent", note: "message"}
	eventsNames = names{regarding: "regarding", reportingController: "reportingController", note: "note"}
)

// Strategy returns the core/v1 Event strategy. Core clients keep upstream's lenient rules: only
// events that set eventTime (written by the new recorder) must carry the reporting fields.
func Strategy() registry.Strategy {
	validate := func(ev *corev1.Event) field.ErrorList { return validateLegacy(ev, coreNames) }
	return eitherVersion(validate, registry.IgnoringOld(validate), CoreSelectableFields)
}

// EventsV1Strategy returns the events.k8s.io/v1 Event strategy: strict validation on create and
// immutability of everything but series (and metadata) on update. Its hooks accept the served
// *eventsv1.Event or the stored *corev1.Event alike.
func EventsV1Strategy() registry.Strategy {
	return eitherVersion(ValidateEventsV1Create, ValidateEventsV1Update, EventsV1SelectableFields)
}

// eitherVersion builds a strategy from hooks written for the stored *corev1.Event whose hooks take a
// served *eventsv1.Event too, converted first: both versions share one storage, so an update may
// pair an object of one version with a stored object of the other.
func eitherVersion(validate func(ev *corev1.Event) field.ErrorList, validateUpdate func(ev, old *corev1.Event) field.ErrorList,
	selectable func(ev *corev1.Event) fields.Set) registry.Strategy {
	s := registry.Typed[*corev1.Event]{Validate: validate, ValidateUpdate: validateUpdate, SelectableFields: selectable}.Strategy()
	return registry.Strategy{
		Validate: func(ctx context.Context, obj runtime.Object) field.ErrorList { return s.Validate(ctx, asCore(obj)) },
		ValidateUpdate: func(ctx context.Context, obj, old runtime.Object) field.ErrorList {
			return s.ValidateUpdate(ctx, asCore(obj), asCore(old))
		},
		SelectableFields: func(obj runtime.Object) fields.Set { return s.SelectableFields(asCore(obj)) },
	}
}

func asCore(obj runtime.Object) runtime.Object {
	if e, ok := obj.(*eventsv1.Event); ok {
		return ToCore(e)
	}
	return obj
}

// CoreSelectableFields is upstream's field set for core/v1 events; "source" falls back to the
// reporting controller so new-style events are found by the old selector too.
func CoreSelectableFields(ev *corev1.Event) fields.Set {
	source := ev.Source.Component
	if source == "" {
		source = ev.ReportingController
	}
	return fields.Set{
		"involvedObject.kind":            ev.InvolvedObject.Kind,
		"involvedObject.namespace":       ev.InvolvedObject.Namespace,
		"involvedObject.name":            ev.InvolvedObject.Name,
		"involvedObject.uid":             string(ev.InvolvedObject.UID),
		"involvedObject.apiVersion":      ev.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": ev.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       ev.InvolvedObject.FieldPath,
		"reason":                         ev.Reason,
		"reportingComponent":             ev.ReportingController,
		"source":                         source,
		"type":                           ev.Type,
	}
}

// EventsV1SelectableFields is the same set spelled as events.k8s.io/v1 spells it.
func EventsV1SelectableFields(ev *corev1.Event) fields.Set {
	return fields.Set{
		"regarding.kind":            ev.InvolvedObject.Kind,
		"regarding.namespace":       ev.InvolvedObject.Namespace,
		"regarding.name":            ev.InvolvedObject.Name,
		"regarding.uid":             string(ev.InvolvedObject.UID),
		"regarding.apiVersion":      ev.InvolvedObject.APIVersion,
		"regarding.resourceVersion": ev.InvolvedObject.ResourceVersion,
		"regarding.fieldPath":       ev.InvolvedObject.FieldPath,
		"reason":                    ev.Reason,
		"reportingController":       ev.ReportingController,
		"type":                      ev.Type,
	}
}

// validateLegacy holds the rules every event passes whatever version wrote it.
func validateLegacy(ev *corev1.Event, n names) field.ErrorList {
	var errs field.ErrorList
	nsPath := field.NewPath(n.regarding, "namespace")
	if ev.EventTime.IsZero() {
		// An event about a cluster-scoped object lives in "default" (old clients) or nowhere.
		if ev.InvolvedObject.Namespace == "" {
			if ev.Namespace != metav1.NamespaceNone && ev.Namespace != metav1.NamespaceDefault {
				errs = append(errs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, "does not match event.namespace"))
			}
		} else if ev.Namespace != ev.InvolvedObject.Namespace {
			errs = append(errs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, "does not match event.namespace"))
		}
	} else {
		if ev.InvolvedObject.Namespace == "" && ev.Namespace != metav1.NamespaceDefault && ev.Namespace != metav1.NamespaceSystem {
			errs = append(errs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, "does not match event.namespace"))
		}
		rcPath := field.NewPath(n.reportingController)
		if ev.ReportingController == "" {
			errs = append(errs, field.Required(rcPath, ""))
		} else {
			for _, msg := range content.IsLabelKey(ev.ReportingController) {
				errs = append(errs, field.Invalid(rcPath, ev.ReportingController, msg))
			}
		}
		errs = append(errs, requiredWithLimit(ev.ReportingInstance, reportingInstanceLengthLimit, field.NewPath("reportingInstance"))...)
		errs = append(errs, requiredWithLimit(ev.Action, actionLengthLimit, field.NewPath("action"))...)
		errs = append(errs, requiredWithLimit(ev.Reason, reasonLengthLimit, field.NewPath("reason"))...)
		if len(ev.Message) > noteLengthLimit {
			errs = append(errs, field.Invalid(field.NewPath(n.note), "", fmt.Sprintf("can have at most %v characters", noteLengthLimit)))
		}
	}
	return errs
}

func requiredWithLimit(value string, limit int, fldPath *field.Path) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	if len(value) > limit {
		return field.ErrorList{field.Invalid(fldPath, "", fmt.Sprintf("can have at most %v characters", limit))}
	}
	return nil
}

// ValidateEventsV1Create checks an event created through events.k8s.io/v1: the legacy rules, plus
// eventTime, a known type, a sane series, and none of the deprecated fields.
func ValidateEventsV1Create(ev *corev1.Event) field.ErrorList {
	errs := validateLegacy(ev, eventsNames)
	errs = append(errs, validateSeries(ev)...)
	if ev.EventTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("eventTime"), ""))
	}
	if ev.Type != corev1.EventTypeNormal && ev.Type != corev1.EventTypeWarning {
		errs = append(errs, field.Invalid(field.NewPath("type"), ev.Type, fmt.Sprintf("has invalid value: %v", ev.Type)))
	}
	if !ev.FirstTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedFirstTimestamp"), "", "needs to be unset"))
	}
	if !ev.LastTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedLastTimestamp"), "", "needs to be unset"))
	}
	if ev.Count != 0 {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedCount"), "", "needs to be unset"))
	}
	if ev.Source.Component != "" || ev.Source.Host != "" {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedSource"), "", "needs to be unset"))
	}
	return errs
}

// ValidateEventsV1Update checks an update through events.k8s.io/v1: only the series (and metadata)
// may change. eventTime is compared at microsecond precision, the precision it is serialized with.
func ValidateEventsV1Update(ev, old *corev1.Event) field.ErrorList {
	errs := validateLegacy(ev, eventsNames)
	if !seriesEqual(ev.Series, old.Series) {
		errs = append(errs, validateSeries(ev)...)
	}
	immutable := func(newV, oldV interface{}, name string) {
		errs = append(errs, apimachineryvalidation.ValidateImmutableField(newV, oldV, field.NewPath(name))...)
	}
	immutable(ev.InvolvedObject, old.InvolvedObject, "regarding")
	immutable(ev.Reason, old.Reason, "reason")
	immutable(ev.Message, old.Message, "note")
	immutable(ev.Source, old.Source, "deprecatedSource")
	immutable(ev.FirstTimestamp, old.FirstTimestamp, "deprecatedFirstTimestamp")
	immutable(ev.LastTimestamp, old.LastTimestamp, "deprecatedLastTimestamp")
	immutable(ev.Count, old.Count, "deprecatedCount")
	immutable(ev.Type, old.Type, "type")
	if !ev.EventTime.Truncate(time.Microsecond).Equal(old.EventTime.Truncate(time.Microsecond)) {
		immutable(ev.EventTime, old.EventTime, "eventTime")
	}
	immutable(ev.Action, old.Action, "action")
	immutable(ev.Related, old.Related, "related")
	immutable(ev.ReportingController, old.ReportingController, "reportingController")
	immutable(ev.ReportingInstance, old.ReportingInstance, "reportingInstance")
	return errs
}

func seriesEqual(a, b *corev1.EventSeries) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Count == b.Count && a.LastObservedTime.Equal(&b.LastObservedTime)
}

func validateSeries(ev *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	if ev.Series != nil {
		if ev.Series.Count < 2 {
			errs = append(errs, field.Invalid(field.NewPath("series", "count"), ev.Series.Count, "should be at least 2"))
		}
		if ev.Series.LastObservedTime.IsZero() {
			errs = append(errs, field.Required(field.NewPath("series", "lastObservedTime"), ""))
		}
	}
	return errs
}
