package container

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// Procs is what /proc shows of one container: how many processes run in
// it, and one of them (the lowest pid) to reach its root filesystem.
type Procs struct {
	Count int
	Pid   int
}

// ScanProcs reads the cgroup of every process under procRoot (normally
// /proc, /host/proc in a DaemonSet) and counts processes per container
// full id. Processes outside containers are not counted. Processes that
// exit during the scan are skipped.
func ScanProcs(procRoot string) (map[string]Procs, error) {
	dir, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	out := map[string]Procs{}
	for _, d := range dir {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(procRoot, d.Name(), "cgroup"))
		if err != nil {
			continue
		}
		id := IDFromCgroupFile(data)
		if id == "" {
			continue
		}
		p := out[id]
		p.Count++
		if p.Pid == 0 || pid < p.Pid {
			p.Pid = pid
		}
		out[id] = p
	}
	return out, nil
}

// IDFromCgroupFile returns the container id of a /proc/<pid>/cgroup file:
// from the unified (v2) line when it names one, else from the first v1
// line that does.
func IDFromCgroupFile(data []byte) string {
	first := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Bytes()
		// hierarchy-id:controllers:path
		i := bytes.IndexByte(line, ':')
		if i < 0 {
			continue
		}
		j := bytes.IndexByte(line[i+1:], ':')
		if j < 0 {
			continue
		}
		id := IDFromCgroup(string(line[i+1+j+1:]))
		if id == "" {
			continue
		}
		if string(line[:i]) == "0" {
			return id
		}
		if first == "" {
			first = id
		}
	}
	return first
}
