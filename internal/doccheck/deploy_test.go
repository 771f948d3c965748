package doccheck

import (
	"regexp"
	"strings"
	"testing"
)

// TestDeployDocStatesTheManifests: docs/deploy.md's description of the
// shipped Deployment (its replicas, resources and grace period) says what
// deploy/k8s/deployment.yaml sets, and its compose grace period what
// deploy/compose.yaml sets, so that an operator sizing nodes or a
// grace period reads the values that run.
func TestDeployDocStatesTheManifests(t *testing.T) {
	yaml := read(t, "deploy/k8s/deployment.yaml")
	doc := read(t, "docs/deploy.md")
	one := func(re, text, where string) string {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("%s: nothing matches %s", where, re)
		}
		return strings.Join(m[1:], "")
	}
	// The YAML's values, in the order the page gives them.
	code := map[string]string{
		"Deployment's replicas":                      one(`(?m)^  replicas: (\d+)`, yaml, "deployment.yaml"),
		"Deployment's cpu request":                   one(`(?s)requests:\s+cpu: (\S+)`, yaml, "deployment.yaml"),
		"Deployment's memory request":                one(`(?s)requests:.*?memory: (\S+)`, yaml, "deployment.yaml"),
		"Deployment's memory limit":                  one(`(?s)limits:.*?memory: (\S+)`, yaml, "deployment.yaml"),
		"Deployment's terminationGracePeriodSeconds": one(`terminationGracePeriodSeconds: (\d+)`, yaml, "deployment.yaml"),
	}
	page := map[string]string{
		"Deployment's replicas":                      one(`The Deployment runs (\d+) replicas`, doc, "docs/deploy.md"),
		"Deployment's cpu request":                   one(`requests (\S+) / \d+ ?\w+, limit`, doc, "docs/deploy.md"),
		"Deployment's memory request":                one(`requests \S+ / (\d+) ?(\w+), limit`, doc, "docs/deploy.md"),
		"Deployment's memory limit":                  one(`requests \S+ / \d+ ?\w+, limit (\d+) ?(\w+)`, doc, "docs/deploy.md"),
		"Deployment's terminationGracePeriodSeconds": one("`terminationGracePeriodSeconds: (\\d+)`", doc, "docs/deploy.md"),
	}
	compose := read(t, "deploy/compose.yaml")
	code["compose stop_grace_period"] = one(`stop_grace_period: (\d+)s`, compose, "deploy/compose.yaml")
	page["compose stop_grace_period"] = one("`stop_grace_period` is (\\d+) s", doc, "docs/deploy.md")
	for k, v := range code {
		if page[k] != v {
			t.Errorf("docs/deploy.md: the shipped %s is %s, the page says %s", k, v, page[k])
		}
	}
}
