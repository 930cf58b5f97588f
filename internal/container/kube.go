package container

import "strings"

// Labels the kubelet puts on the containers it creates (through CRI, or
// through dockershim on older nodes).
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
	LabelSandboxID     = "io.kubernetes.sandbox.id"
)

// setKube fills the pod fields from the container's kubelet labels; fields
// already set by the runtime's own pod record are kept.
func (i *Info) setKube() {
	set := func(dst *string, key string) {
		if v := i.Labels[key]; v != "" {
			*dst = v
		}
	}
	set(&i.PodName, LabelPodName)
	set(&i.PodNamespace, LabelPodNamespace)
	set(&i.PodUID, LabelPodUID)
	if i.PodSandboxID == "" {
		set(&i.PodSandboxID, LabelSandboxID)
	}
	if i.PodIP == "" && (i.PodName != "" || i.PodSandboxID != "") {
		i.PodIP = i.IP
	}
}

// podLabels keeps the labels a user put on a pod, dropping the ones the
// kubelet and runtimes add for their own bookkeeping.
func podLabels(labels map[string]string) map[string]string {
	var out map[string]string
	for k, v := range labels {
		if strings.HasPrefix(k, "io.kubernetes.") || strings.HasPrefix(k, "annotation.") ||
			strings.HasPrefix(k, "io.cri-containerd.") || k == "io.buildah.version" {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(labels))
		}
		out[k] = v
	}
	return out
}
