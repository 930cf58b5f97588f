package sensor

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Tasks is the task iterator alone: the one program of the sensor that a
// snapshot of the kernel's processes needs (and the maps it uses), loaded
// without the tracing programs, the ring buffer or the syscall tables. A
// one-off scan opens Tasks instead of a whole Sensor: loading the full
// object costs the verifier's time on every program, most of a scan's
// wall time before this existed.
type Tasks struct {
	prog *ebpf.Program
	iter *link.Iter
	boot int64

	mu        sync.Mutex // one snapshot at a time: one scratch buffer
	closeOnce sync.Once
	closeErr  error
}

// taskObjects are the objects Tasks asks cilium/ebpf for; it loads only
// these and the maps they reference.
type taskObjects struct {
	Snapshot *ebpf.Program `ebpf:"snapshot"`
}

// OpenTasks loads and attaches the task iterator. cgroupHier is as
// Options.CgroupHierarchy ("" picks as Open does).
func OpenTasks(cgroupHier string) (*Tasks, error) {
	hier, err := cgroupHierarchy(cgroupHier)
	if err != nil {
		return nil, fmt.Errorf("sensor: options: %w", err)
	}
	// Only the constants the iterator reads; the rest keep their defaults
	// and belong to programs that are not loaded.
	spec, err := prepareSpec(0, map[string]uint32{
		sensorBPFVarCgroupHier:   hier,
		sensorBPFVarFmodeBacking: fmodeBacking(),
	})
	if err != nil {
		return nil, err
	}
	var objs taskObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return nil, loadError(err)
	}
	t := &Tasks{prog: objs.Snapshot}
	t.iter, err = link.AttachIter(link.IterOptions{Program: objs.Snapshot})
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("sensor: attach iter/task: %w", err)
	}
	if t.boot, err = BootOffset(); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// Snapshot lists every thread-group leader the kernel has, as
// Sensor.Snapshot does.
func (t *Tasks) Snapshot() ([]ProcessInfo, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return snapshot(t.iter, t.boot)
}

// Close detaches and unloads the iterator. It is safe to call twice.
func (t *Tasks) Close() error {
	t.closeOnce.Do(func() {
		var errs []error
		if t.iter != nil {
			if err := t.iter.Close(); err != nil {
				errs = append(errs, fmt.Errorf("detach iter: %w", err))
			}
		}
		if t.prog != nil {
			if err := t.prog.Close(); err != nil {
				errs = append(errs, fmt.Errorf("unload iter program: %w", err))
			}
		}
		if len(errs) > 0 {
			t.closeErr = fmt.Errorf("sensor: close tasks: %w", errors.Join(errs...))
		}
	})
	return t.closeErr
}

// snapshot runs the iterator once and decodes its records.
func snapshot(it *link.Iter, boot int64) ([]ProcessInfo, error) {
	rd, err := it.Open()
	if err != nil {
		return nil, fmt.Errorf("sensor: snapshot: open iterator: %w", err)
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("sensor: snapshot: read iterator: %w", err)
	}
	var (
		out []ProcessInfo
		r   Record
		d   = NewDecoder(boot)
	)
	for len(data) > 0 {
		if len(data) < hdrSize {
			return nil, fmt.Errorf("sensor: snapshot: %w", malformed("%d trailing bytes", len(data)))
		}
		size := int(le.Uint32(data[8:]))
		if size < hdrSize || size > len(data) {
			return nil, fmt.Errorf("sensor: snapshot: %w", malformed("record size %d with %d bytes left", size, len(data)))
		}
		if err := d.Decode(data[:size], &r); err != nil {
			return nil, fmt.Errorf("sensor: snapshot: %w", err)
		}
		out = append(out, r.Process.ProcessInfo)
		data = data[size:]
	}
	return out, nil
}
