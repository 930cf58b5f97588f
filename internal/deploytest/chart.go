package deploytest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// Chart is the chart's directory, relative to the module root.
const Chart = "deploy/helm/truesight"

// Helm finds the helm command: on PATH, else where go install puts it.
func Helm() (string, error) {
	if p, err := exec.LookPath("helm"); err == nil {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOPATH: %w", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "bin", "helm")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("helm is not installed (scripts/deps.sh installs it): %w", err)
	}
	return p, nil
}

// Objects are the rendered chart's objects by kind and name.
type Objects struct {
	DaemonSet       *appsv1.DaemonSet
	ConfigMaps      map[string]*corev1.ConfigMap
	Services        map[string]*corev1.Service
	ServiceAccounts map[string]*corev1.ServiceAccount
	ServiceMonitors map[string]*ServiceMonitor
}

// ServiceMonitor is the Prometheus operator's object, as much of it as the
// chart renders (k8s.io/api does not hold it); decoding is strict, so a
// field the chart renders and this does not know fails.
type ServiceMonitor struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Metadata   metadataOnly       `json:"metadata"`
	Spec       serviceMonitorSpec `json:"spec"`
}

type metadataOnly struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
}

type serviceMonitorSpec struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	NamespaceSelector struct {
		MatchNames []string `json:"matchNames"`
	} `json:"namespaceSelector"`
	Endpoints []struct {
		Port          string `json:"port"`
		Path          string `json:"path"`
		Interval      string `json:"interval"`
		ScrapeTimeout string `json:"scrapeTimeout"`
	} `json:"endpoints"`
}

// Render runs helm template on the chart in root with the given --set
// values and returns its output.
func Render(root string, set ...string) ([]byte, error) {
	return RenderWith(root, "", set...)
}

// RenderWith is Render with a values file too (none when values is "").
func RenderWith(root, values string, set ...string) ([]byte, error) {
	helm, err := Helm()
	if err != nil {
		return nil, err
	}
	args := []string{"template", "truesight", filepath.Join(root, Chart), "--namespace", "truesight"}
	if values != "" {
		args = append(args, "--values", values)
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	cmd := exec.Command(helm, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Decode splits rendered YAML into documents and decodes each strictly
// (unknown and duplicate fields are errors) as the type of its kind; a
// kind the chart should not render is an error too.
func Decode(rendered []byte) (*Objects, error) {
	o := &Objects{ConfigMaps: map[string]*corev1.ConfigMap{}, Services: map[string]*corev1.Service{},
		ServiceAccounts: map[string]*corev1.ServiceAccount{}, ServiceMonitors: map[string]*ServiceMonitor{}}
	for i, doc := range strings.Split(string(rendered), "\n---") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		strict := func(v any) error {
			if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
				return fmt.Errorf("document %d (%s %s): %w", i, head.APIVersion, head.Kind, err)
			}
			return nil
		}
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 DaemonSet":
			if o.DaemonSet != nil {
				return nil, fmt.Errorf("document %d: a second DaemonSet", i)
			}
			o.DaemonSet = &appsv1.DaemonSet{}
			if err := strict(o.DaemonSet); err != nil {
				return nil, err
			}
		case "v1 ConfigMap":
			v := &corev1.ConfigMap{}
			if err := strict(v); err != nil {
				return nil, err
			}
			o.ConfigMaps[v.Name] = v
		case "v1 Service":
			v := &corev1.Service{}
			if err := strict(v); err != nil {
				return nil, err
			}
			o.Services[v.Name] = v
		case "v1 ServiceAccount":
			v := &corev1.ServiceAccount{}
			if err := strict(v); err != nil {
				return nil, err
			}
			o.ServiceAccounts[v.Name] = v
		case "monitoring.coreos.com/v1 ServiceMonitor":
			v := &ServiceMonitor{}
			if err := strict(v); err != nil {
				return nil, err
			}
			o.ServiceMonitors[v.Metadata.Name] = v
		default:
			return nil, fmt.Errorf("document %d: unexpected object %s %s", i, head.APIVersion, head.Kind)
		}
	}
	if o.DaemonSet == nil {
		return nil, fmt.Errorf("no DaemonSet rendered")
	}
	return o, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for l := range strings.SplitSeq(doc, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
