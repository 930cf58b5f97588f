package deploytest

import (
	"bytes"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Pod is the DaemonSet's pod as a Pod named name, for `podman kube play`,
// which runs Pods but not DaemonSets: the template's spec as rendered
// (hostPID, the security contexts and capabilities, the init container,
// the /host and ConfigMap volumes, probes), its labels and annotations.
func (o *Objects) Pod(name string) *corev1.Pod {
	tpl := o.DaemonSet.Spec.Template
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: tpl.Labels, Annotations: tpl.Annotations},
		Spec:       *tpl.Spec.DeepCopy(),
	}
}

// Manifest writes objects as one multi-document YAML file.
func Manifest(objects ...any) ([]byte, error) {
	var b bytes.Buffer
	for i, obj := range objects {
		y, err := yaml.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("object %d: %w", i, err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}

// VolumeConfigMaps are the rendered ConfigMaps that the pod's volumes
// name, in the volumes' order; a volume naming a ConfigMap the chart did
// not render is an error.
func (o *Objects) VolumeConfigMaps(pod *corev1.Pod) ([]*corev1.ConfigMap, error) {
	var out []*corev1.ConfigMap
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		cm := o.ConfigMaps[v.ConfigMap.Name]
		if cm == nil {
			return nil, fmt.Errorf("volume %s names ConfigMap %s, which the chart did not render", v.Name, v.ConfigMap.Name)
		}
		c := cm.DeepCopy()
		c.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}
		out = append(out, c)
	}
	return out, nil
}
