package defaultchain

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-dev/skiff/internal/apiserver/admission"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/defaultstorageclass"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/limitranger"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/namespacelifecycle"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/priority"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/pvcresize"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/resourcequota"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/serviceaccount"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/storageprotection"
	"github.com/skiff-dev/skiff/internal/apiserver/admission/tolerationseconds"
)

// New returns the default chain over l. served lists the resources the server serves (the
// quota plugin measures their usage).
func New(l admission.Lookup, served []schema.GroupVersionResource) *admission.Chain {
	lifecycle := namespacelifecycle.New(l)
	limits := limitranger.New(l)
	sa := serviceaccount.New(l)
	prio := priority.New(l)
	quota := resourcequota.New(l, served)
	return &admission.Chain{
		Mutators: []admission.Mutator{
			lifecycle, limits, sa, prio, tolerationseconds.New(), defaultstorageclass.New(l), storageprotection.New(), quota,
		},
		Validators: []admission.Validator{limits, sa, prio, pvcresize.New(l), quota},
	}
}
