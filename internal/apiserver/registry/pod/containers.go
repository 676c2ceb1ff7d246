package pod

import (
	"fmt"
	"net"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateContainers checks init (init=true) or app containers. names carries the container names
// seen so far: init, app and ephemeral containers share one namespace because the kubelet, logs and
// exec address them by name alone.
func validateContainers(cs []corev1.Container, init bool, s *corev1.PodSpec, volumes map[string]*corev1.VolumeSource, names sets.Set[string], fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range cs {
		c := &cs[i]
		p := fldPath.Index(i)
		switch {
		case c.Name == "":
			errs = append(errs, field.Required(p.Child("name"), ""))
		case names.Has(c.Name):
			errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
		default:
			errs = append(errs, labelErrs(p.Child("name"), c.Name)...)
		}
		names.Insert(c.Name)
		if c.Image == "" {
			errs = append(errs, field.Required(p.Child("image"), ""))
		}
		switch {
		case c.ImagePullPolicy == "":
			errs = append(errs, field.Required(p.Child("imagePullPolicy"), ""))
		case !slices.Contains(supportedPullPolicies, c.ImagePullPolicy):
			errs = append(errs, field.NotSupported(p.Child("imagePullPolicy"), c.ImagePullPolicy, supportedPullPolicies))
		}
		switch {
		case c.TerminationMessagePolicy == "":
			errs = append(errs, field.Required(p.Child("terminationMessagePolicy"), ""))
		case !slices.Contains(supportedTermMsgPolicies, c.TerminationMessagePolicy):
			errs = append(errs, field.NotSupported(p.Child("terminationMessagePolicy"), c.TerminationMessagePolicy, supportedTermMsgPolicies))
		}
		errs = append(errs, validateContainerRestartPolicy(c, init, p)...)
		errs = append(errs, validatePorts(c.Ports, s.HostNetwork, p.Child("ports"))...)
		errs = append(errs, validateEnv(c.Env, p.Child("env"))...)
		errs = append(errs, validateEnvFrom(c.EnvFrom, p.Child("envFrom"))...)
		errs = append(errs, validateVolumeMounts(c, volumes, p)...)
		errs = append(errs, validateResources(&c.Resources, p.Child("resources"))...)
		errs = append(errs, validateContainerSecurityContext(c.SecurityContext, p.Child("securityContext"))...)
		if c.StdinOnce && !c.Stdin {
			errs = append(errs, field.Invalid(p.Child("stdinOnce"), c.StdinOnce, "may only be set when `stdin` is true"))
		}

		// A plain init container runs to completion once: probes and hooks have nothing to act on.
		// A sidecar (restartPolicy Always) runs alongside the app and gets them like any container.
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		if init && !sidecar {
			for name, probe := range map[string]*corev1.Probe{"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe, "startupProbe": c.StartupProbe} {
				if probe != nil {
					errs = append(errs, field.Forbidden(p.Child(name), "may not be set for init containers without restartPolicy=Always"))
				}
			}
			if c.Lifecycle != nil {
				errs = append(errs, field.Forbidden(p.Child("lifecycle"), "may not be set for init containers without restartPolicy=Always"))
			}
			continue
		}
		errs = append(errs, validateProbe(c.LivenessProbe, c.Ports, true, p.Child("livenessProbe"))...)
		errs = append(errs, validateProbe(c.ReadinessProbe, c.Ports, false, p.Child("readinessProbe"))...)
		errs = append(errs, validateProbe(c.StartupProbe, c.Ports, true, p.Child("startupProbe"))...)
		if c.Lifecycle != nil {
			errs = append(errs, validateLifecycleHandler(c.Lifecycle.PostStart, c.Ports, p.Child("lifecycle", "postStart"))...)
			errs = append(errs, validateLifecycleHandler(c.Lifecycle.PreStop, c.Ports, p.Child("lifecycle", "preStop"))...)
		}
	}
	return errs
}

func validateContainerRestartPolicy(c *corev1.Container, init bool, p *field.Path) field.ErrorList {
	if c.RestartPolicy == nil {
		if len(c.RestartPolicyRules) > 0 {
			return field.ErrorList{field.Required(p.Child("restartPolicy"), "must be set when restartPolicyRules are used")}
		}
		return nil
	}
	rp := *c.RestartPolicy
	if init {
		if rp != corev1.ContainerRestartPolicyAlways {
			return field.ErrorList{field.NotSupported(p.Child("restartPolicy"), rp, []corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways})}
		}
		return nil
	}
	valid := []corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways, corev1.ContainerRestartPolicyOnFailure, corev1.ContainerRestartPolicyNever}
	if !slices.Contains(valid, rp) {
		return field.ErrorList{field.NotSupported(p.Child("restartPolicy"), rp, valid)}
	}
	return nil
}

func validatePorts(ports []corev1.ContainerPort, hostNetwork bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, port := range ports {
		p := fldPath.Index(i)
		if port.Name != "" {
			for _, msg := range validation.IsValidPortName(port.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), port.Name, msg))
			}
			if names.Has(port.Name) {
				errs = append(errs, field.Duplicate(p.Child("name"), port.Name))
			}
			names.Insert(port.Name)
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(p.Child("containerPort"), ""))
		} else {
			for _, msg := range validation.IsValidPortNum(int(port.ContainerPort)) {
				errs = append(errs, field.Invalid(p.Child("containerPort"), port.ContainerPort, msg))
			}
		}
		if port.HostPort != 0 {
			for _, msg := range validation.IsValidPortNum(int(port.HostPort)) {
				errs = append(errs, field.Invalid(p.Child("hostPort"), port.HostPort, msg))
			}
		}
		if hostNetwork && port.HostPort != port.ContainerPort {
			errs = append(errs, field.Invalid(p.Child("hostPort"), port.HostPort, "must match `containerPort` when `hostNetwork` is true"))
		}
		switch {
		case port.Protocol == "":
			errs = append(errs, field.Required(p.Child("protocol"), ""))
		case !slices.Contains(supportedProtocols, port.Protocol):
			errs = append(errs, field.NotSupported(p.Child("protocol"), port.Protocol, supportedProtocols))
		}
		if port.HostIP != "" && net.ParseIP(port.HostIP) == nil {
			errs = append(errs, field.Invalid(p.Child("hostIP"), port.HostIP, "must be a valid IP address"))
		}
	}
	return errs
}

var (
	envFieldPaths = []string{"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
		"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"}
	volumeFieldPaths   = []string{"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"}
	resourceFieldNames = []string{"limits.cpu", "limits.memory", "limits.ephemeral-storage", "requests.cpu", "requests.memory", "requests.ephemeral-storage"}
)

func validateEnv(env []corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range env {
		p := fldPath.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			for _, msg := range validation.IsRelaxedEnvVarName(ev.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), ev.Name, msg))
			}
		}
		if ev.ValueFrom == nil {
			continue
		}
		vp := p.Child("valueFrom")
		switch set := setFields(ev.ValueFrom); {
		case len(set) == 0:
			errs = append(errs, field.Invalid(vp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef` or `fileKeyRef`"))
			continue
		case len(set) > 1:
			errs = append(errs, field.Invalid(vp, "", "may not have more than one field specified at a time"))
			continue
		}
		if ev.Value != "" {
			errs = append(errs, field.Invalid(vp, "", "may not be specified when `value` is not empty"))
		}
		vf := ev.ValueFrom
		switch {
		case vf.FieldRef != nil:
			errs = append(errs, validateFieldRef(vf.FieldRef, envFieldPaths, vp.Child("fieldRef"))...)
		case vf.ResourceFieldRef != nil:
			errs = append(errs, validateResourceFieldRef(vf.ResourceFieldRef, false, vp.Child("resourceFieldRef"))...)
		case vf.ConfigMapKeyRef != nil:
			errs = append(errs, validateKeyRef(vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, vp.Child("configMapKeyRef"))...)
		case vf.SecretKeyRef != nil:
			errs = append(errs, validateKeyRef(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, vp.Child("secretKeyRef"))...)
		case vf.FileKeyRef != nil:
			fp := vp.Child("fileKeyRef")
			if vf.FileKeyRef.VolumeName == "" {
				errs = append(errs, field.Required(fp.Child("volumeName"), ""))
			}
			if vf.FileKeyRef.Path == "" {
				errs = append(errs, field.Required(fp.Child("path"), ""))
			} else {
				errs = append(errs, validateLocalRelativePath(vf.FileKeyRef.Path, fp.Child("path"))...)
			}
			if vf.FileKeyRef.Key == "" {
				errs = append(errs, field.Required(fp.Child("key"), ""))
			}
		}
	}
	return errs
}

func validateKeyRef(name, key string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(fldPath.Child("name"), ""))
	} else {
		errs = append(errs, nameErrs(fldPath.Child("name"), name, apivalidation.NameIsDNSSubdomain)...)
	}
	if key == "" {
		errs = append(errs, field.Required(fldPath.Child("key"), ""))
	} else {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(fldPath.Child("key"), key, msg))
		}
	}
	return errs
}

// validateFieldRef accepts the plain paths in allowed plus a single label or annotation addressed by key
// (metadata.labels['app']).
func validateFieldRef(ref *corev1.ObjectFieldSelector, allowed []string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ref.APIVersion == "" {
		errs = append(errs, field.Required(fldPath.Child("apiVersion"), ""))
	} else if ref.APIVersion != "v1" {
		errs = append(errs, field.Invalid(fldPath.Child("apiVersion"), ref.APIVersion, "unsupported API version"))
	}
	fp := fldPath.Child("fieldPath")
	if ref.FieldPath == "" {
		return append(errs, field.Required(fp, ""))
	}
	for _, prefix := range []string{"metadata.labels", "metadata.annotations"} {
		rest, ok := strings.CutPrefix(ref.FieldPath, prefix+"['")
		if !ok {
			continue
		}
		key, ok := strings.CutSuffix(rest, "']")
		if !ok {
			return append(errs, field.Invalid(fp, ref.FieldPath, "error converting fieldPath: invalid subscript"))
		}
		for _, msg := range content.IsQualifiedName(strings.ToLower(key)) {
			errs = append(errs, field.Invalid(fp, ref.FieldPath, msg))
		}
		return errs
	}
	if !slices.Contains(allowed, ref.FieldPath) {
		errs = append(errs, field.NotSupported(fp, ref.FieldPath, allowed))
	}
	return errs
}

func validateResourceFieldRef(ref *corev1.ResourceFieldSelector, needContainer bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if needContainer && ref.ContainerName == "" {
		errs = append(errs, field.Required(fldPath.Child("containerName"), ""))
	}
	rp := fldPath.Child("resource")
	switch {
	case ref.Resource == "":
		errs = append(errs, field.Required(rp, ""))
	case strings.HasPrefix(ref.Resource, "limits.hugepages-"), strings.HasPrefix(ref.Resource, "requests.hugepages-"):
	case !slices.Contains(resourceFieldNames, ref.Resource):
		errs = append(errs, field.NotSupported(rp, ref.Resource, resourceFieldNames))
	}
	if ref.Divisor.Sign() < 0 {
		errs = append(errs, field.Invalid(fldPath.Child("divisor"), ref.Divisor.String(), "must be greater than or equal to 0"))
	}
	return errs
}

func validateEnvFrom(envFrom []corev1.EnvFromSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ef := range envFrom {
		p := fldPath.Index(i)
		if ef.Prefix != "" {
			for _, msg := range validation.IsRelaxedEnvVarName(ef.Prefix) {
				errs = append(errs, field.Invalid(p.Child("prefix"), ef.Prefix, msg))
			}
		}
		n := 0
		if ef.ConfigMapRef != nil {
			n++
			errs = append(errs, refNameErrs(ef.ConfigMapRef.Name, p.Child("configMapRef", "name"))...)
		}
		if ef.SecretRef != nil {
			n++
			errs = append(errs, refNameErrs(ef.SecretRef.Name, p.Child("secretRef", "name"))...)
		}
		switch {
		case n == 0:
			errs = append(errs, field.Invalid(p, "", "must specify one of: `configMapRef` or `secretRef`"))
		case n > 1:
			errs = append(errs, field.Invalid(p, "", "may not have more than one field specified at a time"))
		}
	}
	return errs
}

func refNameErrs(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return nameErrs(p, name, apivalidation.NameIsDNSSubdomain)
}

var supportedPropagation = []corev1.MountPropagationMode{corev1.MountPropagationNone, corev1.MountPropagationHostToContainer, corev1.MountPropagationBidirectional}

func validateVolumeMounts(c *corev1.Container, volumes map[string]*corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	mountPaths := sets.New[string]()
	for i, m := range c.VolumeMounts {
		p := fldPath.Child("volumeMounts").Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else if _, ok := volumes[m.Name]; !ok {
			errs = append(errs, field.NotFound(p.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(p.Child("mountPath"), ""))
		} else if mountPaths.Has(m.MountPath) {
			errs = append(errs, field.Invalid(p.Child("mountPath"), m.MountPath, "must be unique"))
		}
		mountPaths.Insert(m.MountPath)
		if m.SubPath != "" {
			errs = append(errs, validateLocalRelativePath(m.SubPath, p.Child("subPath"))...)
		}
		if m.SubPathExpr != "" {
			if m.SubPath != "" {
				errs = append(errs, field.Invalid(p.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			errs = append(errs, validateLocalRelativePath(m.SubPathExpr, p.Child("subPathExpr"))...)
		}
		if mp := m.MountPropagation; mp != nil {
			switch {
			case !slices.Contains(supportedPropagation, *mp):
				errs = append(errs, field.NotSupported(p.Child("mountPropagation"), *mp, supportedPropagation))
			case *mp == corev1.MountPropagationBidirectional && !privileged(c):
				errs = append(errs, field.Forbidden(p.Child("mountPropagation"), "Bidirectional mount propagation is available only to privileged containers"))
			}
		}
		if rro := m.RecursiveReadOnly; rro != nil {
			valid := []corev1.RecursiveReadOnlyMode{corev1.RecursiveReadOnlyDisabled, corev1.RecursiveReadOnlyIfPossible, corev1.RecursiveReadOnlyEnabled}
			switch {
			case !slices.Contains(valid, *rro):
				errs = append(errs, field.NotSupported(p.Child("recursiveReadOnly"), *rro, valid))
			case *rro != corev1.RecursiveReadOnlyDisabled && !m.ReadOnly:
				errs = append(errs, field.Forbidden(p.Child("recursiveReadOnly"), "may only be specified when readOnly is true"))
			}
		}
	}
	devicePaths := sets.New[string]()
	for i, d := range c.VolumeDevices {
		p := fldPath.Child("volumeDevices").Index(i)
		if d.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else if src, ok := volumes[d.Name]; !ok {
			errs = append(errs, field.NotFound(p.Child("name"), d.Name))
		} else if src.PersistentVolumeClaim == nil && src.Ephemeral == nil {
			errs = append(errs, field.Invalid(p.Child("name"), d.Name, "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode"))
		}
		switch {
		case d.DevicePath == "":
			errs = append(errs, field.Required(p.Child("devicePath"), ""))
		case devicePaths.Has(d.DevicePath):
			errs = append(errs, field.Invalid(p.Child("devicePath"), d.DevicePath, "must be unique"))
		case mountPaths.Has(d.DevicePath):
			errs = append(errs, field.Invalid(p.Child("devicePath"), d.DevicePath, "must not be already mounted in the same container"))
		}
		devicePaths.Insert(d.DevicePath)
	}
	return errs
}

func privileged(c *corev1.Container) bool {
	return c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged
}

func validateContainerSecurityContext(sc *corev1.SecurityContext, fldPath *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	errs = append(errs, idErrs(fldPath.Child("runAsUser"), sc.RunAsUser, validation.IsValidUserID)...)
	errs = append(errs, idErrs(fldPath.Child("runAsGroup"), sc.RunAsGroup, validation.IsValidGroupID)...)
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		if sc.Privileged != nil && *sc.Privileged {
			errs = append(errs, field.Invalid(fldPath, sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
		}
		if sc.Capabilities != nil {
			for _, c := range sc.Capabilities.Add {
				if c == "SYS_ADMIN" || c == "CAP_SYS_ADMIN" {
					errs = append(errs, field.Invalid(fldPath, sc, "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
				}
			}
		}
	}
	if pm := sc.ProcMount; pm != nil && *pm != corev1.DefaultProcMount && *pm != corev1.UnmaskedProcMount {
		errs = append(errs, field.NotSupported(fldPath.Child("procMount"), *pm, []corev1.ProcMountType{corev1.DefaultProcMount, corev1.UnmaskedProcMount}))
	}
	errs = append(errs, validateSeccomp(sc.SeccompProfile, fldPath.Child("seccompProfile"))...)
	return errs
}

// standardContainerResources are the unprefixed resource names a container may ask for; hugepages-*
// are accepted by prefix.
var standardContainerResources = sets.New[corev1.ResourceName](corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage)

// wholeUnit resources (extended resources, hugepages) are handed out whole, never overcommitted, so a
// request without a limit or a request below its limit means nothing.
func wholeUnit(name corev1.ResourceName) bool {
	s := string(name)
	return strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) || (strings.Contains(s, "/") && !strings.Contains(s, "kubernetes.io/"))
}

func validateResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	s := string(name)
	if !strings.Contains(s, "/") || strings.Contains(s, "kubernetes.io/") {
		if !standardContainerResources.Has(name) && !strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) {
			return field.ErrorList{field.Invalid(fldPath, s, "must be a standard resource for containers")}
		}
		return nil
	}
	var errs field.ErrorList
	for _, msg := range content.IsQualifiedName(s) {
		errs = append(errs, field.Invalid(fldPath, s, msg))
	}
	return errs
}

func validateResourceList(list corev1.ResourceList, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for name, q := range list {
		p := fldPath.Key(string(name))
		errs = append(errs, validateResourceName(name, p)...)
		errs = append(errs, nonNegativeQuantity(q, p)...)
	}
	return errs
}

func nonNegativeQuantity(q resource.Quantity, p *field.Path) field.ErrorList {
	if q.Sign() < 0 {
		return field.ErrorList{field.Invalid(p, q.String(), "must be greater than or equal to 0")}
	}
	return nil
}

func validateResources(r *corev1.ResourceRequirements, fldPath *field.Path) field.ErrorList {
	limPath, reqPath := fldPath.Child("limits"), fldPath.Child("requests")
	errs := validateResourceList(r.Limits, limPath)
	errs = append(errs, validateResourceList(r.Requests, reqPath)...)
	for name, req := range r.Requests {
		p := reqPath.Key(string(name))
		limit, hasLimit := r.Limits[name]
		switch {
		case hasLimit && !wholeUnit(name) && req.Cmp(limit) > 0:
			errs = append(errs, field.Invalid(p, req.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		case hasLimit && wholeUnit(name) && req.Cmp(limit) != 0:
			errs = append(errs, field.Invalid(p, req.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
		case !hasLimit && wholeUnit(name):
			errs = append(errs, field.Forbidden(fldPath.Child("limits"), "Limit must be set for non overcommitable resources"))
		}
	}
	claims := sets.New[string]()
	for i, c := range r.Claims {
		p := fldPath.Child("claims").Index(i).Child("name")
		if c.Name == "" {
			errs = append(errs, field.Required(p, ""))
			continue
		}
		errs = append(errs, labelErrs(p, c.Name)...)
		key := c.Name + "/" + c.Request
		if claims.Has(key) {
			errs = append(errs, field.Duplicate(p, c.Name))
		}
		claims.Insert(key)
	}
	return errs
}

var supportedSchemes = []corev1.URIScheme{corev1.URISchemeHTTP, corev1.URISchemeHTTPS}

// validateHandler checks the action of a probe or lifecycle hook once the caller made sure there is one.
func validateHandler(exec *corev1.ExecAction, http *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction, ports []corev1.ContainerPort, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if exec != nil && len(exec.Command) == 0 {
		errs = append(errs, field.Required(fldPath.Child("exec", "command"), ""))
	}
	if http != nil {
		p := fldPath.Child("httpGet")
		if http.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		}
		errs = append(errs, validateHandlerPort(http.Port, ports, p.Child("port"))...)
		if !slices.Contains(supportedSchemes, http.Scheme) {
			errs = append(errs, field.NotSupported(p.Child("scheme"), http.Scheme, supportedSchemes))
		}
		for i, h := range http.HTTPHeaders {
			for _, msg := range validation.IsHTTPHeaderName(h.Name) {
				errs = append(errs, field.Invalid(p.Child("httpHeaders").Index(i).Child("name"), h.Name, msg))
			}
		}
	}
	if tcp != nil {
		errs = append(errs, validateHandlerPort(tcp.Port, ports, fldPath.Child("tcpSocket", "port"))...)
	}
	return errs
}

// validateHandlerPort accepts a number or the name of one of the container's ports.
func validateHandlerPort(port intstr.IntOrString, ports []corev1.ContainerPort, p *field.Path) field.ErrorList {
	if port.Type == intstr.Int {
		var errs field.ErrorList
		for _, msg := range validation.IsValidPortNum(port.IntValue()) {
			errs = append(errs, field.Invalid(p, port.IntValue(), msg))
		}
		return errs
	}
	var errs field.ErrorList
	for _, msg := range validation.IsValidPortName(port.StrVal) {
		errs = append(errs, field.Invalid(p, port.StrVal, msg))
	}
	if len(errs) > 0 {
		return errs
	}
	for _, cp := range ports {
		if cp.Name == port.StrVal {
			return nil
		}
	}
	return field.ErrorList{field.Invalid(p, port.StrVal, "must contain the name of a container port")}
}

func validateProbe(probe *corev1.Probe, ports []corev1.ContainerPort, successMustBeOne bool, fldPath *field.Path) field.ErrorList {
	if probe == nil {
		return nil
	}
	var errs field.ErrorList
	set := setFields(&probe.ProbeHandler)
	switch {
	case len(set) == 0:
		return field.ErrorList{field.Required(fldPath, "must specify a handler type")}
	case len(set) > 1:
		return field.ErrorList{field.Forbidden(fldPath.Child(set[1]), "may not specify more than 1 handler type")}
	}
	h := &probe.ProbeHandler
	errs = append(errs, validateHandler(h.Exec, h.HTTPGet, h.TCPSocket, ports, fldPath)...)
	if h.GRPC != nil {
		for _, msg := range validation.IsValidPortNum(int(h.GRPC.Port)) {
			errs = append(errs, field.Invalid(fldPath.Child("grpc", "port"), h.GRPC.Port, msg))
		}
	}
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(probe.InitialDelaySeconds), fldPath.Child("initialDelaySeconds"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(probe.TimeoutSeconds), fldPath.Child("timeoutSeconds"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(probe.PeriodSeconds), fldPath.Child("periodSeconds"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(probe.SuccessThreshold), fldPath.Child("successThreshold"))...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(probe.FailureThreshold), fldPath.Child("failureThreshold"))...)
	// Liveness and startup probes end in a restart on the first failure streak: a success threshold
	// above 1 would only delay that.
	if successMustBeOne && probe.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(fldPath.Child("successThreshold"), probe.SuccessThreshold, "must be 1"))
	}
	if g := probe.TerminationGracePeriodSeconds; g != nil {
		switch {
		case !successMustBeOne:
			errs = append(errs, field.Invalid(fldPath.Child("terminationGracePeriodSeconds"), *g, "must not be set for readinessProbes"))
		case *g <= 0:
			errs = append(errs, field.Invalid(fldPath.Child("terminationGracePeriodSeconds"), *g, "must be greater than 0"))
		}
	}
	return errs
}

func validateLifecycleHandler(h *corev1.LifecycleHandler, ports []corev1.ContainerPort, fldPath *field.Path) field.ErrorList {
	if h == nil {
		return nil
	}
	set := setFields(h)
	switch {
	case len(set) == 0:
		return field.ErrorList{field.Required(fldPath, "must specify a handler type")}
	case len(set) > 1:
		return field.ErrorList{field.Forbidden(fldPath.Child(set[1]), "may not specify more than 1 handler type")}
	}
	errs := validateHandler(h.Exec, h.HTTPGet, h.TCPSocket, ports, fldPath)
	if h.Sleep != nil && h.Sleep.Seconds < 0 {
		errs = append(errs, field.Invalid(fldPath.Child("sleep", "seconds"), h.Sleep.Seconds, "must be greater than or equal to 0"))
	}
	return errs
}
