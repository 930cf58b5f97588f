package container

import "testing"

func TestIDFromCgroupKnowsEveryRuntimeLayout(t *testing.T) {
	const id = "3f2a9c1d5e7b8a6f4c2e0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f"
	const pod = "6b7e8d33c68992a5d2f2b442c565797d9e54250a9219b11dc7bd3c8f5e9c06e9"
	cases := []struct{ path, want string }{
		{"/libpod_parent/libpod-" + id, id},
		{"/libpod_parent/" + pod + "/libpod-" + id, id},
		{"/libpod_parent/" + pod + "/conmon", ""},
		{"/machine.slice/libpod-" + id + ".scope", id},
		{"/machine.slice/libpod-conmon-" + id + ".scope", ""},
		{"/system.slice/docker-" + id + ".scope", id},
		{"/docker/" + id, id},
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/cri-containerd-" + id + ".scope", id},
		{"/kubepods/besteffort/pod1234/" + id, id},
		{"/kubepods.slice/kubepods-pod1.slice/crio-" + id + ".scope", id},
		{"/k8s.io/" + id, id},
		{"/user.slice/user-0.slice/session-3.scope", ""},
		{"/", ""},
		{"", ""},
		{"/docker/" + id[:63], ""},
	}
	for _, c := range cases {
		if got := IDFromCgroup(c.path); got != c.want {
			t.Errorf("%s: got %q, want %q", c.path, got, c.want)
		}
	}
}
