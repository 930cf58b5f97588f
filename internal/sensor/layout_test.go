package sensor

import (
	"testing"
	"unsafe"
)

// TestWireLayout pins decode.go's offsets to the C structs, as bpf2go saw
// them in the compiled object's BTF.
func TestWireLayout(t *testing.T) {
	var (
		sc   sensorBPFScRec
		pr   sensorBPFProcRec
		fr   sensorBPFForkRec
		er   sensorBPFExitRec
		fi   sensorBPFFileInfo
		si   sensorBPFSockInfo
		spec sensorBPFScSpec
		fp   sensorBPFFdPair
		ci   sensorBPFCapInfo
	)
	tests := []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof rec_hdr", unsafe.Sizeof(sc.H), hdrSize},
		{"sizeof sc_rec", unsafe.Sizeof(sc), scRecSize},
		{"sizeof proc_rec", unsafe.Sizeof(pr), procRecSize},
		{"sizeof fork_rec", unsafe.Sizeof(fr), forkRecSize},
		{"sizeof exit_rec", unsafe.Sizeof(er), exitRecSize},
		{"sizeof fld", unsafe.Sizeof(sensorBPFFld{}), fldHdrSize},
		{"sizeof file_info", unsafe.Sizeof(fi), fileInfoSize},
		{"sizeof sock_info", unsafe.Sizeof(si), sockInfoSize},
		{"sizeof sc_spec", unsafe.Sizeof(spec), 16},
		{"sc_spec.data_arg", unsafe.Offsetof(spec.DataArg), 13},
		{"sc_spec.count_arg", unsafe.Offsetof(spec.CountArg), 14},
		{"sc_spec.pair_arg", unsafe.Offsetof(spec.PairArg), 15},
		{"sizeof fd_pair", unsafe.Sizeof(fp), fdPairSize},
		{"fd_pair.ino", unsafe.Offsetof(fp.Ino), 8},
		{"sizeof cap_info", unsafe.Sizeof(ci), capInfoSize},
		{"cap_info.permitted", unsafe.Offsetof(ci.Permitted), 8},
		{"cap_info.inheritable", unsafe.Offsetof(ci.Inheritable), 16},

		{"rec_hdr.size", unsafe.Offsetof(sc.H.Size), 8},
		{"rec_hdr.kind", unsafe.Offsetof(sc.H.Kind), 12},
		{"rec_hdr.flags", unsafe.Offsetof(sc.H.Flags), 14},
		{"rec_hdr.tid", unsafe.Offsetof(sc.H.Tid), 16},
		{"rec_hdr.tgid", unsafe.Offsetof(sc.H.Tgid), 20},
		{"rec_hdr.cpu", unsafe.Offsetof(sc.H.Cpu), 24},

		{"sc_rec.t", unsafe.Offsetof(sc.T), taskIDsOff},
		{"task_ids.ppid", unsafe.Offsetof(sc.T.Ppid), 8},
		{"task_ids.uid", unsafe.Offsetof(sc.T.Uid), 12},
		{"task_ids.gid", unsafe.Offsetof(sc.T.Gid), 16},
		{"task_ids.euid", unsafe.Offsetof(sc.T.Euid), 20},
		{"task_ids.egid", unsafe.Offsetof(sc.T.Egid), 24},
		{"task_ids.loginuid", unsafe.Offsetof(sc.T.Loginuid), 28},
		{"task_ids.mntns", unsafe.Offsetof(sc.T.Mntns), 32},
		{"task_ids.pidns", unsafe.Offsetof(sc.T.Pidns), 36},
		{"task_ids.comm", unsafe.Offsetof(sc.T.Comm), 40},
		{"sc_rec.ret", unsafe.Offsetof(sc.Ret), 88},
		{"sc_rec.args", unsafe.Offsetof(sc.Args), 96},
		{"sc_rec.nr", unsafe.Offsetof(sc.Nr), 144},
		{"sc_rec.raw_nr", unsafe.Offsetof(sc.RawNr), 148},

		{"proc_rec.p", unsafe.Offsetof(pr.P), procInfoOff},
		{"proc_info.start_boottime", unsafe.Offsetof(pr.P.StartBoottime), 24},
		{"proc_info.parent_start_boottime", unsafe.Offsetof(pr.P.ParentStartBoottime), 32},
		{"proc_info.pidns_init_start", unsafe.Offsetof(pr.P.PidnsInitStart), 40},
		{"proc_info.cgroup_id", unsafe.Offsetof(pr.P.CgroupId), 48},
		{"proc_info.ppid", unsafe.Offsetof(pr.P.Ppid), 56},
		{"proc_info.vtid", unsafe.Offsetof(pr.P.Vtid), 60},
		{"proc_info.sid", unsafe.Offsetof(pr.P.Sid), 80},
		{"proc_info.uid", unsafe.Offsetof(pr.P.Uid), 84},
		{"proc_info.fsgid", unsafe.Offsetof(pr.P.Fsgid), 112},
		{"proc_info.loginuid", unsafe.Offsetof(pr.P.Loginuid), 116},
		{"proc_info.tty", unsafe.Offsetof(pr.P.Tty), 124},
		{"proc_info.pflags", unsafe.Offsetof(pr.P.Pflags), 128},
		{"proc_info.old_tid", unsafe.Offsetof(pr.P.OldTid), 132},
		{"proc_info.ns", unsafe.Offsetof(pr.P.Ns), 136},
		{"proc_info.str_trunc", unsafe.Offsetof(pr.P.StrTrunc), 164},
		{"proc_info.comm", unsafe.Offsetof(pr.P.Comm), 168},

		{"fork_rec.clone_flags", unsafe.Offsetof(fr.CloneFlags), 216},
		{"fork_rec.caller_tid", unsafe.Offsetof(fr.CallerTid), 224},
		{"fork_rec.caller_tgid", unsafe.Offsetof(fr.CallerTgid), 228},

		{"exit_rec.start_boottime", unsafe.Offsetof(er.StartBoottime), 32},
		{"exit_rec.ppid", unsafe.Offsetof(er.Ppid), 40},
		{"exit_rec.exit_code", unsafe.Offsetof(er.ExitCode), 44},
		{"exit_rec.group_dead", unsafe.Offsetof(er.GroupDead), 48},
		{"exit_rec.comm", unsafe.Offsetof(er.Comm), 56},

		{"file_info.magic", unsafe.Offsetof(fi.Magic), 8},
		{"file_info.ctime", unsafe.Offsetof(fi.Ctime), 16},
		{"file_info.mtime", unsafe.Offsetof(fi.Mtime), 24},
		{"file_info.dev", unsafe.Offsetof(fi.Dev), 32},
		{"file_info.mnt_id", unsafe.Offsetof(fi.MntId), 36},
		{"file_info.mntns", unsafe.Offsetof(fi.Mntns), 40},
		{"file_info.f_flags", unsafe.Offsetof(fi.F_flags), 44},
		{"file_info.f_mode", unsafe.Offsetof(fi.F_mode), 48},
		{"file_info.i_mode", unsafe.Offsetof(fi.I_mode), 52},
		{"file_info.nlink", unsafe.Offsetof(fi.Nlink), 56},
		{"file_info.flags", unsafe.Offsetof(fi.Flags), 60},

		{"sock_info.raddr", unsafe.Offsetof(si.Raddr), 16},
		{"sock_info.family", unsafe.Offsetof(si.Family), 32},
		{"sock_info.type", unsafe.Offsetof(si.Type), 34},
		{"sock_info.proto", unsafe.Offsetof(si.Proto), 36},
		{"sock_info.lport", unsafe.Offsetof(si.Lport), 38},
		{"sock_info.rport", unsafe.Offsetof(si.Rport), 40},
		{"sock_info.state", unsafe.Offsetof(si.State), 42},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d, decoder assumes %d", tt.name, tt.got, tt.want)
		}
	}
}
