package container

import (
	"slices"
	"strings"
	"testing"
)

const podmanMountInfo = `80 53 0:41 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/containers/storage/overlay/l/EC6U:/var/lib/containers/storage/overlay/l/B2\:x,upperdir=/var/lib/containers/storage/overlay/0fa7/diff,workdir=/var/lib/containers/storage/overlay/0fa7/work,uuid=on
81 80 0:43 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
86 80 254:0 /run/containers/storage/overlay-containers/6668/userdata/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw,discard
87 80 254:0 /srv/my\040data /data ro,relatime - ext4 /dev/vda rw
`

func TestOverlayOfAPodmanContainerNamesItsLayersAndItsMountPoints(t *testing.T) {
	o, err := OverlayOf(ParseMountInfo([]byte(podmanMountInfo)), "test")
	if err != nil {
		t.Fatal(err)
	}
	wantLower := []string{"/var/lib/containers/storage/overlay/l/EC6U", "/var/lib/containers/storage/overlay/l/B2:x"}
	if !slices.Equal(o.Lower, wantLower) || o.Upper != "/var/lib/containers/storage/overlay/0fa7/diff" ||
		o.Work != "/var/lib/containers/storage/overlay/0fa7/work" || o.UserXattr {
		t.Errorf("overlay = %+v", o)
	}
	if !slices.Equal(o.MountPoints, []string{"/proc", "/etc/hostname", "/data"}) {
		t.Errorf("mount points %v", o.MountPoints)
	}
}

func TestParseMountInfoUnescapesPathsAndSplitsOptions(t *testing.T) {
	ms := ParseMountInfo([]byte(podmanMountInfo))
	if len(ms) != 4 {
		t.Fatalf("%d mounts", len(ms))
	}
	d := ms[3]
	if d.Root != "/srv/my data" || d.MountPoint != "/data" || !slices.Equal(d.Options, []string{"ro", "relatime"}) ||
		d.FSType != "ext4" || d.Source != "/dev/vda" || !slices.Equal(d.Super, []string{"rw"}) {
		t.Errorf("mount = %+v", d)
	}
}

func TestOverlayOfRefusesARootThatIsNotAnOverlayWithAnUpperLayer(t *testing.T) {
	tests := map[string]string{
		"host root":   "22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n",
		"lower only":  "80 53 0:41 / / ro - overlay overlay ro,lowerdir=/a:/b\n",
		"no root":     "81 80 0:43 / /proc rw - proc proc rw\n",
		"short lines": "80 53 0:41 / /\n",
	}
	for name, mi := range tests {
		t.Run(name, func(t *testing.T) {
			if o, err := OverlayOf(ParseMountInfo([]byte(mi)), "/proc/9/mountinfo"); err == nil || !strings.Contains(err.Error(), "/proc/9/mountinfo") {
				t.Errorf("overlay %+v, error %v", o, err)
			}
		})
	}
}

func FuzzParseMountInfo(f *testing.F) {
	f.Add([]byte(podmanMountInfo))
	f.Add([]byte("1 2 3:4 / / rw - overlay o lowerdir=\\:,upperdir=\\\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms := ParseMountInfo(b)
		if o, err := OverlayOf(ms, "fuzz"); err == nil && (o.Upper == "" || len(o.Lower) == 0) {
			t.Errorf("overlay without layers accepted: %+v", o)
		}
	})
}
