// Package deploytest tests what deploy/ ships: the Helm chart renders, with
// the default values and each tier, into objects that decode strictly as
// the real Kubernetes types and carry the privileges each tier documents;
// the image holds exactly the binary and the CA bundle; and the chart's
// DaemonSet pod, played by podman, catches the seed scenario with the detect
// tier's capabilities only.
package deploytest
