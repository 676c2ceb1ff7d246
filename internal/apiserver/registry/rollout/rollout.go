package rollout

import (
	"strconv"
	"strings"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateIntOrPercent accepts a non-negative integer or a percentage string such as "25%".
func ValidateIntOrPercent(v *intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	switch v.Type {
	case intstr.String:
		if len(validation.IsValidPercent(v.StrVal)) > 0 {
			return field.ErrorList{field.Invalid(fldPath, v, "must be an integer or percentage (e.g '5%')")}
		}
	case intstr.Int:
		return apivalidation.ValidateNonnegativeField(int64(v.IntValue()), fldPath)
	}
	return nil
}

// ValidateAtMost100Percent rejects percentages above 100%; integers are not bounded here.
func ValidateAtMost100Percent(v *intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	if v == nil || v.Type != intstr.String {
		return nil
	}
	if p, ok := percent(v.StrVal); ok && p > 100 {
		return field.ErrorList{field.Invalid(fldPath, v, "must not be greater than 100%")}
	}
	return nil
}

// IsZero reports whether an integer or a percentage is 0; invalid values are not zero.
func IsZero(v *intstr.IntOrString) bool {
	if v == nil {
		return false
	}
	if v.Type == intstr.Int {
		return v.IntValue() == 0
	}
	p, ok := percent(v.StrVal)
	return ok && p == 0
}

func percent(s string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
	return n, err == nil && strings.HasSuffix(s, "%")
}

// ValidateSurgeAndUnavailable checks a maxSurge/maxUnavailable pair under fldPath (the rollingUpdate
// struct). Both at zero would leave a rollout unable to make progress. surgeMax100 bounds maxSurge as
// a percentage too (DaemonSets: surging more than one pod per node has no meaning).
func ValidateSurgeAndUnavailable(maxSurge, maxUnavailable *intstr.IntOrString, surgeMax100 bool, fldPath *field.Path) field.ErrorList {
	unavailPath, surgePath := fldPath.Child("maxUnavailable"), fldPath.Child("maxSurge")
	errs := ValidateIntOrPercent(maxUnavailable, unavailPath)
	errs = append(errs, ValidateIntOrPercent(maxSurge, surgePath)...)
	if IsZero(maxUnavailable) && IsZero(maxSurge) {
		errs = append(errs, field.Invalid(unavailPath, maxUnavailable, "may not be 0 when `maxSurge` is 0"))
	}
	errs = append(errs, ValidateAtMost100Percent(maxUnavailable, unavailPath)...)
	if surgeMax100 {
		errs = append(errs, ValidateAtMost100Percent(maxSurge, surgePath)...)
	}
	return errs
}

// ValidateCollisionCount keeps status.collisionCount non-negative and monotonic: it salts the hash that
// names each revision, and going back would re-create names that already collided.
func ValidateCollisionCount(n, old *int32, p *field.Path) field.ErrorList {
	if n == nil {
		return nil
	}
	errs := apivalidation.ValidateNonnegativeField(int64(*n), p)
	if old != nil && *n < *old {
		errs = append(errs, field.Invalid(p, *n, "cannot be decremented"))
	}
	return errs
}

// ValidateMinReadyAndHistory checks spec.minReadySeconds and spec.revisionHistoryLimit, the two counts
// every revisioned workload carries; neither may be negative, and an unset limit is left to defaulting.
func ValidateMinReadyAndHistory(minReadySeconds int32, revisionHistoryLimit *int32, specPath *field.Path) field.ErrorList {
	errs := apivalidation.ValidateNonnegativeField(int64(minReadySeconds), specPath.Child("minReadySeconds"))
	if revisionHistoryLimit != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*revisionHistoryLimit), specPath.Child("revisionHistoryLimit"))...)
	}
	return errs
}
