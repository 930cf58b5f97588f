package sensor

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// writeRecord is write(5, buf, 200) = ret with a data field of the given
// bytes (nil: no field), the first 8 of them the length moved.
func writeRecord(t testing.TB, ret int64, data []byte) []byte {
	sc := sensorBPFScRec{
		H:    sensorBPFRecHdr{Ts: 3_000, Kind: uint16(KindSyscall), Tid: 300, Tgid: 300},
		T:    sensorBPFTaskIds{Comm: comm("nginx")},
		Ret:  ret,
		Args: [6]uint64{5, 0x7ffd1000, 200},
		Nr:   1, RawNr: 1,
	}
	b := marshal(t, sc)
	if data != nil {
		b = append(b, field(ftData, 0, data)...)
	}
	return finish(b)
}

func dataField(moved uint64, head []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, moved)
	return append(b, head...)
}

func TestDecodeIOData(t *testing.T) {
	head := []byte("GET /etc/shadow HTTP/1.1\r\nHost: x\r\n")
	for _, tc := range []struct {
		name    string
		rec     []byte
		hasData bool
		dataLen int64
		data    []byte
	}{
		{name: "the first bytes and the length moved", rec: writeRecord(t, 200, dataField(200, head)),
			hasData: true, dataLen: 200, data: head},
		{name: "a failed write keeps what it asked to write", rec: writeRecord(t, -9, dataField(200, head)),
			hasData: true, dataLen: 200, data: head},
		{name: "nothing moved", rec: writeRecord(t, 0, dataField(0, nil)),
			hasData: true, dataLen: 0, data: []byte{}},
		{name: "no data field: not copied", rec: writeRecord(t, 200, nil)},
		{name: "a field too short for its length is ignored", rec: writeRecord(t, 200, []byte{1, 2, 3})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r Record
			if err := NewDecoder(0).Decode(tc.rec, &r); err != nil {
				t.Fatal(err)
			}
			s := r.Syscall
			if s.HasData != tc.hasData || s.DataLen != tc.dataLen || !bytes.Equal(s.Data, tc.data) || (s.Data == nil) != (tc.data == nil) {
				t.Errorf("HasData %v DataLen %d Data %q; want %v %d %q", s.HasData, s.DataLen, s.Data, tc.hasData, tc.dataLen, tc.data)
			}
		})
	}
}

// Data is the record's own copy: the reader reuses its buffer, and a
// record reused for the next one starts without data.
func TestDecodeIODataIsACopy(t *testing.T) {
	buf := writeRecord(t, 4, dataField(4, []byte("ABCD")))
	d := NewDecoder(0)
	var r Record
	if err := d.Decode(buf, &r); err != nil {
		t.Fatal(err)
	}
	kept := r
	for i := range buf {
		buf[i] = 0xff
	}
	if string(kept.Syscall.Data) != "ABCD" {
		t.Errorf("Data changed with the ring buffer's bytes: %q", kept.Syscall.Data)
	}
	if err := d.Decode(openatRecord(t), &r); err != nil {
		t.Fatal(err)
	}
	if r.Syscall.HasData || r.Syscall.Data != nil || r.Syscall.DataLen != 0 {
		t.Errorf("stale data after a record without it: %+v", r.Syscall)
	}
}
