package container_test

import (
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/testenv"
)

// TestMetadataIsCompleteWithinASecondOfContainerStart measures the time
// from the moment the runtime says a container started to the moment its
// full metadata is in the cache, the runtime's event stream being the only
// trigger (no Lookup or Seen for it).
func TestMetadataIsCompleteWithinASecondOfContainerStart(t *testing.T) {
	sock, _ := startPodmanService(t)
	reg, _ := runRegistry(t, container.Options{Docker: []string{sock}})

	const name = "ts-latency"
	found := make(chan time.Time, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, i := range reg.Containers() {
				if i.Name == name && i.StartTs != 0 {
					found <- time.Now()
					return
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	id := testenv.StartContainer(t, name, nil, "sleep", "1000")
	var at time.Time
	select {
	case at = <-found:
	case <-time.After(10 * time.Second):
		t.Fatal("metadata never arrived from the event stream")
	}
	startedAt := time.Unix(0, inspectStartedAt(t, id))
	lat := at.Sub(startedAt)
	t.Logf("container start -> full metadata: %v (event-driven)", lat)
	if lat > time.Second {
		t.Errorf("metadata complete %v after start, want < 1s", lat)
	}
}

func inspectStartedAt(t *testing.T, id string) int64 {
	t.Helper()
	return rfc3339(t, inspectContainer(t, id).State.StartedAt)
}
