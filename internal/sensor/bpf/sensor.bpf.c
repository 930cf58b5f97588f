// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * truesight's kernel sensor: syscall exits (filtered by a per-syscall plan
 * that user space writes), process exec/fork/exit, and an iter/task snapshot.
 * Only tp_btf and iter programs: this kernel refuses fentry and kprobes, and
 * bpf_d_path from tp_btf, so paths are resolved by walking dentries and
 * mounts ourselves with bpf_loop.
 *
 * Records are assembled in a per-CPU scratch buffer and copied into the ring
 * buffer with their real length, so a short path costs a few bytes, not 4 KiB.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "sensor.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by user space before load. */
volatile const __u32 agent_tgid = 0;
volatile const __u32 cgroup_hier = 0;   /* 0 v2 default, 1 pids, 2 memory, 3 cpu (v1) */
volatile const __u32 fmode_backing = 0; /* FMODE_BACKING of this kernel, 0 if none */
volatile const __u32 wakeup_bytes = 1;  /* wake the reader when this much is pending */
volatile const __u32 snaplen = 0;       /* I/O data bytes copied per syscall (FT_DATA); 0: none */

#define DATA_SIZE 65536
#define OFF_MASK 0x7fff /* fields start below 32 KiB; the rest is headroom */
#define PATH_END 4096
#define PATH_MASK 4095
#define MAX_WALK 1024
#define CG_DEPTH 16
#define ARGV_MAX_PTRS 64

#define TS_COMPAT 0x0002
#define PROT_EXEC 0x4
#define AT_FDCWD -100
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define PF_KTHREAD 0x00200000
#define OVERLAYFS_SUPER_MAGIC 0x794c7630

#define CLONE_VM 0x00000100
#define CLONE_FS 0x00000200
#define CLONE_FILES 0x00000400
#define CLONE_SIGHAND 0x00000800
#define CLONE_PARENT 0x00008000
#define CLONE_THREAD 0x00010000
#define CLONE_NEWNS 0x00020000
#define CLONE_NEWCGROUP 0x02000000
#define CLONE_NEWUTS 0x04000000
#define CLONE_NEWIPC 0x08000000
#define CLONE_NEWUSER 0x10000000
#define CLONE_NEWPID 0x20000000
#define CLONE_NEWNET 0x40000000

/* bpf_rdonly_cast turns a kernel address we hold as a number back into a
 * typed pointer: loads through it are plain (fault-safe) memory loads, far
 * cheaper than a bpf_probe_read_kernel call each. */
extern void *bpf_rdonly_cast(const void *obj__ign, __u32 btf_id) __ksym;
#define KPTR(type, v) ((type *)bpf_rdonly_cast((void *)(v), bpf_core_type_id_kernel(type)))

struct ebuf {
	__u32 len;
	__u16 flags;
	__u16 _pad;
	__u8 data[DATA_SIZE];
	__u8 path[2 * PATH_END]; /* components are written backwards here */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

/* One scratch buffer per CPU; user space sets max_entries to the CPU count. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ebuf);
} ebufs SEC(".maps");

/* The iterator's scratch buffer: iter programs can be preempted, so they
 * must not share the per-CPU buffers; user space runs one snapshot at a time. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ebuf);
} ibuf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stats);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, struct sc_spec);
} syscall_specs SEC(".maps");

/* ia32 syscall number -> x86_64 number + 1 (0: not mapped). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, __u32);
} ia32_to_64 SEC(".maps");

/* The fds of a process (its thread group leader, whose fd table its threads
 * share) that a read-only open left unrecorded: their closes are left
 * unrecorded too. fds beyond the bitmap are always recorded. Freed with the
 * task; dropped at exec, after which an inherited fd's close is recorded
 * (a close of an fd user space never saw: harmless). */
#define SKIP_FDS 1024
struct fdset {
	__u64 w[SKIP_FDS / 64];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct fdset);
} skipped_fds SEC(".maps");

/* Keep the wire types in BTF so bpf2go can emit Go mirrors for layout tests. */
const struct sc_rec *_unused_sc_rec __attribute__((unused));
const struct proc_rec *_unused_proc_rec __attribute__((unused));
const struct fork_rec *_unused_fork_rec __attribute__((unused));
const struct exit_rec *_unused_exit_rec __attribute__((unused));
const struct fld *_unused_fld __attribute__((unused));
const struct file_info *_unused_file_info __attribute__((unused));
const struct sock_info *_unused_sock_info __attribute__((unused));
const struct fd_pair *_unused_fd_pair __attribute__((unused));
const struct cap_info *_unused_cap_info __attribute__((unused));

/* Older kernels' layouts, for CO-RE fallbacks. */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

struct inode___v66 {
	struct timespec64 __i_ctime;
	struct timespec64 __i_mtime;
} __attribute__((preserve_access_index));

struct inode___old {
	struct timespec64 i_ctime;
	struct timespec64 i_mtime;
} __attribute__((preserve_access_index));

static __always_inline struct ebuf *get_buf(__u32 iter)
{
	__u32 key = 0;

	if (iter)
		return bpf_map_lookup_elem(&ibuf, &key);
	key = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&ebufs, &key);
}

static __always_inline struct stats *get_stats(void)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&counters, &key);
}

static __always_inline struct mount *real_mount(struct vfsmount *vm)
{
	return (struct mount *)((void *)vm - bpf_core_field_offset(struct mount, mnt));
}

/* Starts a field at the end of the record; NULL when the record is full. */
static __always_inline __u8 *fld_begin(struct ebuf *b)
{
	__u32 off = b->len;

	if (off > OFF_MASK) {
		b->flags |= RF_TRUNCATED;
		return 0;
	}
	barrier_var(off);
	return &b->data[off & OFF_MASK];
}

static __always_inline void fld_end(struct ebuf *b, __u8 *p, __u8 type, __u8 slot, __u32 len)
{
	struct fld *f = (void *)p;

	f->type = type;
	f->slot = slot;
	f->len = len;
	b->len += sizeof(struct fld) + len;
}

static __always_inline void put_user_str(struct ebuf *b, __u8 type, __u8 slot, const void *src, __u32 max)
{
	__u8 *p = fld_begin(b);
	long n;

	if (!p)
		return;
	n = bpf_probe_read_user_str(p + sizeof(struct fld), max, src);
	if (n < 0)
		n = 0;
	fld_end(b, p, type, slot, n);
}

static __always_inline void put_kernel_str(struct ebuf *b, __u8 type, __u8 slot, const void *src, __u32 max)
{
	__u8 *p = fld_begin(b);
	long n;

	if (!p)
		return;
	n = bpf_probe_read_kernel_str(p + sizeof(struct fld), max, src);
	if (n < 0)
		n = 0;
	fld_end(b, p, type, slot, n);
}

static __always_inline void put_user_bytes(struct ebuf *b, __u8 type, __u8 slot, const void *src, __u32 len, __u32 max)
{
	__u8 *p = fld_begin(b);

	if (!p)
		return;
	if (len > max)
		len = max;
	barrier_var(len);
	len &= 2 * max - 1; /* max is a power of two: a no-op the verifier can see */
	if (bpf_probe_read_user(p + sizeof(struct fld), len, src))
		return;
	fld_end(b, p, type, slot, len);
}

/* ---- path resolution ---------------------------------------------------- */

struct walk {
	__u64 dentry;
	__u64 mnt; /* struct mount * */
	__u32 pos; /* start of the path in ebuf.path */
	__u32 flags;
	__u32 iter;
};

/* Prepends "/<name of d>" to the path; returns 0, or 1 when it does not fit. */
static __always_inline int walk_put_name(struct walk *w, struct dentry *d)
{
	const unsigned char *name;
	struct ebuf *b;
	__u32 len, pos;

	b = get_buf(w->iter);
	if (!b)
		return 1;
	len = d->d_name.len;
	name = d->d_name.name;
	if (len > 255)
		len = 255;
	pos = w->pos;
	if (pos < len + 1 || pos > PATH_END) {
		w->flags |= FI_PATH_TRUNC;
		return 1;
	}
	pos -= len;
	bpf_probe_read_kernel(&b->path[pos & PATH_MASK], len & 255, name);
	pos -= 1;
	b->path[pos & PATH_MASK] = '/';
	w->pos = pos;
	return 0;
}

static long walk_step(__u64 i, void *ctx)
{
	struct walk *w = ctx;
	struct dentry *d = KPTR(struct dentry, w->dentry);
	struct mount *m = KPTR(struct mount, w->mnt);
	struct dentry *mroot = m->mnt.mnt_root;
	struct dentry *parent = d->d_parent;

	if (d == mroot) {
		struct mount *mp = m->mnt_parent;

		if (!mp || mp == m) {
			w->flags |= FI_PATH_NSROOT;
			return 1;
		}
		w->dentry = (__u64)m->mnt_mountpoint;
		w->mnt = (__u64)mp;
		return 0;
	}
	if (d == parent) {
		/* A root that is not its mount's root: a pseudo file (memfd,
		 * pipe, anon inode) or a dentry cut off its tree. Keep its name,
		 * as d_path does with "/memfd:x". */
		w->flags |= FI_PATH_DETACHED;
		if (w->dentry && d->d_name.len > 0) {
			char c = 0;

			bpf_probe_read_kernel(&c, 1, d->d_name.name);
			if (c != '/')
				walk_put_name(w, d);
		}
		return 1;
	}
	if (walk_put_name(w, d))
		return 1;
	w->dentry = (__u64)parent;
	return 0;
}

/* Appends FT_FILE_PATH: the absolute path of (d, vm) up to the root of the
 * mount namespace that holds the mount. Returns FI_PATH_* flags. */
static __always_inline __u32 put_path(struct ebuf *b, __u8 slot, struct dentry *d, struct vfsmount *vm, __u32 iter)
{
	struct walk w = {
		.dentry = (__u64)d,
		.mnt = (__u64)real_mount(vm),
		.pos = PATH_END,
		.iter = iter,
	};
	__u32 pos, n;
	__u8 *p;

	bpf_loop(MAX_WALK, walk_step, &w, 0);
	if (!(w.flags & (FI_PATH_NSROOT | FI_PATH_DETACHED)))
		w.flags |= FI_PATH_TRUNC;
	pos = w.pos;
	if (pos >= PATH_END || pos == 0) {
		pos = PATH_END - 1;
		b->path[pos & PATH_MASK] = '/';
	}
	n = PATH_END - pos;
	p = fld_begin(b);
	if (!p)
		return w.flags;
	n &= 2 * PATH_END - 1;
	bpf_probe_read_kernel(p + sizeof(struct fld), n, &b->path[pos & PATH_MASK]);
	fld_end(b, p, FT_FILE_PATH, slot, n);
	return w.flags;
}

static __always_inline void inode_times(struct inode *ino, struct file_info *fi)
{
	if (bpf_core_field_exists(ino->i_ctime_sec)) {
		fi->ctime = ino->i_ctime_sec * 1000000000LL + ino->i_ctime_nsec;
		fi->mtime = ino->i_mtime_sec * 1000000000LL + ino->i_mtime_nsec;
	} else if (bpf_core_field_exists(((struct inode___v66 *)ino)->__i_ctime)) {
		struct inode___v66 *o = (void *)ino;

		fi->ctime = BPF_CORE_READ(o, __i_ctime.tv_sec) * 1000000000LL + BPF_CORE_READ(o, __i_ctime.tv_nsec);
		fi->mtime = BPF_CORE_READ(o, __i_mtime.tv_sec) * 1000000000LL + BPF_CORE_READ(o, __i_mtime.tv_nsec);
	} else {
		struct inode___old *o = (void *)ino;

		fi->ctime = BPF_CORE_READ(o, i_ctime.tv_sec) * 1000000000LL + BPF_CORE_READ(o, i_ctime.tv_nsec);
		fi->mtime = BPF_CORE_READ(o, i_mtime.tv_sec) * 1000000000LL + BPF_CORE_READ(o, i_mtime.tv_nsec);
	}
}

/* Appends FT_FILE and FT_FILE_PATH for a path (dentry dp, mount vmp) and,
 * when fp is not 0, the open file's flags. The pointers come as numbers,
 * however the caller got them. */
static __always_inline void put_file(struct ebuf *b, __u8 slot, __u64 dp, __u64 vmp, __u64 fp, __u32 iter)
{
	struct dentry *d = KPTR(struct dentry, dp);
	struct mount *m = KPTR(struct mount, vmp - bpf_core_field_offset(struct mount, mnt));
	struct file_info *fi;
	struct super_block *sb;
	struct inode *ino;
	char name[8] = {};
	__u8 *p;

	if (!dp || !vmp)
		return;
	p = fld_begin(b);
	if (!p)
		return;
	fi = (void *)(p + sizeof(struct fld));
	ino = d->d_inode;
	sb = d->d_sb;
	fi->ino = ino->i_ino;
	fi->dev = sb->s_dev;
	fi->magic = sb->s_magic;
	fi->mnt_id = m->mnt_id;
	fi->mntns = BPF_CORE_READ(m, mnt_ns, ns.inum); /* mnt_ns may be an error pointer */
	fi->i_mode = ino->i_mode;
	fi->nlink = ino->i_nlink;
	fi->f_flags = 0;
	fi->f_mode = 0;
	if (fp) {
		struct file *f = KPTR(struct file, fp);

		fi->f_flags = f->f_flags;
		fi->f_mode = f->f_mode;
	}
	inode_times(ino, fi);
	fi->flags = 0;
	if (fi->nlink == 0 && ino)
		fi->flags |= FI_DELETED;
	if (fi->magic == OVERLAYFS_SUPER_MAGIC) {
		fi->flags |= FI_OVERLAY;
		if (bpf_core_type_exists(struct ovl_inode)) {
			struct ovl_inode *oi = KPTR(struct ovl_inode, (__u64)ino - bpf_core_field_offset(struct ovl_inode, vfs_inode));

			if (oi->__upperdentry)
				fi->flags |= FI_UPPER;
		}
	}
	bpf_probe_read_kernel(name, 6, d->d_name.name);
	if (name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'f' && name[4] == 'd' && name[5] == ':')
		fi->flags |= FI_MEMFD;
	fld_end(b, p, FT_FILE, slot, sizeof(*fi));
	fi->flags |= put_path(b, slot, (struct dentry *)dp, (struct vfsmount *)vmp, iter);
}

/* The path a user sees for the open file fp: overlayfs maps the real
 * (backing) file into memory, and only the backing_file wrapper remembers
 * the overlay path. */
static __always_inline void put_open_file(struct ebuf *b, __u8 slot, __u64 fp, __u32 iter)
{
	struct file *f = KPTR(struct file, fp);

	if (!fp)
		return;
	if (fmode_backing && (f->f_mode & fmode_backing) && bpf_core_type_exists(struct backing_file)) {
		struct backing_file *bf = KPTR(struct backing_file, fp);

		put_file(b, slot, (__u64)bf->user_path.dentry, (__u64)bf->user_path.mnt, fp, iter);
		return;
	}
	put_file(b, slot, (__u64)f->f_path.dentry, (__u64)f->f_path.mnt, fp, iter);
}

/* ---- sockets ------------------------------------------------------------ */

static __always_inline void put_unix_addr(struct ebuf *b, __u8 slot, __u64 usp)
{
	struct unix_address *ua = KPTR(struct unix_sock, usp)->addr;
	__u8 *p;
	int len;

	if (!usp || !ua)
		return;
	len = ua->len - 2; /* minus sun_family */
	if (len <= 0)
		return;
	if (len > 108)
		len = 108;
	p = fld_begin(b);
	if (!p)
		return;
	if (bpf_probe_read_kernel(p + sizeof(struct fld), len & 127, &ua->name[0].sun_path))
		return;
	fld_end(b, p, FT_UNIX, slot, len & 127);
}

static __always_inline void put_sock(struct ebuf *b, struct file *f)
{
	struct socket *so = KPTR(struct socket, f->private_data);
	struct sock *sk = so->sk;
	struct sock_info *si;
	__u8 *p;

	if (!sk)
		return;
	p = fld_begin(b);
	if (!p)
		return;
	si = (void *)(p + sizeof(struct fld));
	__builtin_memset(si, 0, sizeof(*si));
	si->family = sk->__sk_common.skc_family;
	si->type = sk->sk_type;
	si->proto = sk->sk_protocol;
	si->state = sk->__sk_common.skc_state;
	si->lport = sk->__sk_common.skc_num;
	si->rport = bpf_ntohs(sk->__sk_common.skc_dport);
	if (si->family == AF_INET) {
		bpf_core_read(si->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(si->raddr, 4, &sk->__sk_common.skc_daddr);
	} else if (si->family == AF_INET6) {
		bpf_core_read(si->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(si->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	fld_end(b, p, FT_SOCK, SLOT_FD, sizeof(*si));
	if (si->family == AF_UNIX) {
		put_unix_addr(b, 0, (__u64)sk);
		put_unix_addr(b, 1, (__u64)KPTR(struct unix_sock, (__u64)sk)->peer);
	}
}

/* ---- fds ---------------------------------------------------------------- */

/* fd_file returns the struct file of fd in t's table, as a number. */
static __always_inline __u64 fd_file(struct task_struct *t, __s64 fd)
{
	struct fdtable *fdt;
	__u64 f = 0;

	if (fd < 0)
		return 0;
	fdt = KPTR(struct task_struct, (__u64)t)->files->fdt;
	if ((__u64)fd >= fdt->max_fds)
		return 0;
	bpf_probe_read_kernel(&f, sizeof(f), (void *)((__u64)fdt->fd + fd * sizeof(void *)));
	return f;
}

/* ---- read-only file filter ---------------------------------------------- */

/* x86_64 numbers: nr is always one (ia32 numbers are mapped). */
#define NR_OPEN 2
#define NR_CLOSE 3
#define NR_FCNTL 72
#define NR_OPENAT 257
#define NR_OPENAT2 437
#define F_DUPFD 0
#define F_DUPFD_CLOEXEC 1030
#define S_IFREG 0100000
#define O_ACCMODE 3
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_PATH 010000000
#define O_TMPFILE_BIT 020000000

/* unskip forgets fd: a recorded syscall returned it (the number was reused
 * after a close the sensor did not see, such as close_range). */
static __always_inline void unskip(struct task_struct *t, long fd)
{
	struct fdset *s;

	__u32 n = fd;

	if (fd < 0 || fd >= SKIP_FDS)
		return;
	s = bpf_task_storage_get(&skipped_fds, t->group_leader, 0, 0);
	if (s)
		__sync_fetch_and_and(&s->w[(n / 64) & (SKIP_FDS / 64 - 1)], ~(1ULL << (n % 64)));
}

/* skip_rdonly decides, for a syscall whose spec has SC_SKIP_RDONLY, whether
 * the record is left in the kernel: a failed read-only open; a read-only
 * open of a regular file (its fd is remembered); the close of a remembered
 * fd (forgotten again). Write opens, O_CREAT, O_TRUNC, O_TMPFILE and O_PATH
 * opens, directories, devices, fifos and sockets are always recorded. */
static __always_inline int skip_rdonly(struct task_struct *t, struct pt_regs *regs, __u32 nr, __u32 compat, long ret)
{
	struct fdset *s;
	__u64 flags = 0, fp, bit;
	__u32 w;

	if (nr == NR_CLOSE) {
		long fd = compat ? (__s32)regs->bx : (__s32)regs->di;

		if (fd < 0 || fd >= SKIP_FDS)
			return 0;
		s = bpf_task_storage_get(&skipped_fds, t->group_leader, 0, 0);
		if (!s)
			return 0;
		w = ((__u32)fd / 64) & (SKIP_FDS / 64 - 1);
		bit = 1ULL << ((__u32)fd % 64);
		if (!(s->w[w] & bit))
			return 0;
		__sync_fetch_and_and(&s->w[w], ~bit);
		return 1;
	}
	switch (nr) {
	case NR_OPEN:
		flags = compat ? (__u32)regs->cx : (__u32)regs->si;
		break;
	case NR_OPENAT:
		flags = (__u32)regs->dx; /* the third argument on both ABIs */
		break;
	case NR_OPENAT2:
		/* struct open_how: flags is its first member */
		if (bpf_probe_read_user(&flags, sizeof(flags), (void *)(compat ? (__u32)regs->dx : regs->dx)))
			return 0;
		break;
	default:
		return 0;
	}
	if ((flags & O_ACCMODE) || (flags & (O_CREAT | O_TRUNC | O_PATH | O_TMPFILE_BIT)))
		return 0;
	if (ret < 0)
		return 1;
	if (ret >= SKIP_FDS)
		return 0;
	fp = fd_file(t, ret);
	if (!fp || (KPTR(struct file, fp)->f_inode->i_mode & S_IFMT) != S_IFREG)
		return 0;
	s = bpf_task_storage_get(&skipped_fds, t->group_leader, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s)
		return 0;
	w = (__u32)ret;
	__sync_fetch_and_or(&s->w[(w / 64) & (SKIP_FDS / 64 - 1)], 1ULL << (w % 64));
	return 1;
}

static __always_inline void count_skipped(void)
{
	struct stats *st = get_stats();

	if (st)
		st->skipped++;
}

static __always_inline void put_fd(struct ebuf *b, __u8 slot, struct task_struct *t, __s64 fd)
{
	__u64 fp = fd_file(t, fd);
	struct file *f = KPTR(struct file, fp);

	if (!fp)
		return;
	if ((f->f_inode->i_mode & S_IFMT) == S_IFSOCK) {
		if (slot == SLOT_FD)
			put_sock(b, f);
		return;
	}
	put_open_file(b, slot, fp, 0);
}

/* ---- task identity ------------------------------------------------------ */

static __always_inline __u32 pid_nr_at(struct pid *pid, __u32 level)
{
	if (!pid || level > BPF_CORE_READ(pid, level) || level > 31)
		return 0;
	return BPF_CORE_READ(pid, numbers[level].nr);
}

static __always_inline __u32 task_pidns(struct task_struct *t)
{
	struct pid *pid = KPTR(struct task_struct, (__u64)t)->thread_pid;
	__u32 level = pid->level;
	__u64 ns = 0;

	if (level > 31)
		return 0;
	/* numbers[] is indexed by a variable: read that one slot by address. */
	bpf_probe_read_kernel(&ns, sizeof(ns), (void *)((__u64)pid + bpf_core_field_offset(struct pid, numbers) +
							 level * bpf_core_type_size(struct upid) +
							 bpf_core_field_offset(struct upid, ns)));
	if (!ns)
		return 0;
	return KPTR(struct pid_namespace, ns)->ns.inum;
}

static __always_inline __u32 task_loginuid(struct task_struct *t)
{
	if (bpf_core_field_exists(t->loginuid))
		return BPF_CORE_READ(t, loginuid.val);
	return (__u32)-1;
}

/* fill_ids runs for every record: t is the current task's trusted pointer,
 * so its fields are read with plain loads instead of helper calls. */
static __always_inline void fill_ids(struct task_ids *ti, struct task_struct *t)
{
	const struct cred *c = t->cred;
	struct nsproxy *nsp = t->nsproxy;

	ti->cgroup_id = bpf_get_current_cgroup_id();
	ti->ppid = t->real_parent->tgid;
	ti->uid = c->uid.val;
	ti->gid = c->gid.val;
	ti->euid = c->euid.val;
	ti->egid = c->egid.val;
	ti->loginuid = bpf_core_field_exists(t->loginuid) ? t->loginuid.val : (__u32)-1;
	ti->mntns = nsp ? nsp->mnt_ns->ns.inum : 0;
	ti->pidns = task_pidns(t);
	bpf_get_current_comm(ti->comm, sizeof(ti->comm));
}

static __always_inline __u64 task_cgroup_id(struct task_struct *t)
{
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
}

static __always_inline __u32 tty_nr(struct task_struct *t)
{
	struct tty_struct *tty = BPF_CORE_READ(t, signal, tty);
	__u32 major, minor;

	if (!tty)
		return 0;
	major = BPF_CORE_READ(tty, driver, major);
	minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
}

static __always_inline void fill_proc(struct proc_info *pi, struct task_struct *t)
{
	const struct cred *c = BPF_CORE_READ(t, cred);
	struct nsproxy *nsp = BPF_CORE_READ(t, nsproxy);
	struct pid *pid = BPF_CORE_READ(t, thread_pid);
	struct pid *pgrp, *sess;
	__u32 level = BPF_CORE_READ(pid, level);
	struct pid_namespace *pns;

	pi->ppid = BPF_CORE_READ(t, real_parent, tgid);
	pi->vtid = pid_nr_at(pid, level);
	pi->vpid = pid_nr_at(BPF_CORE_READ(t, group_leader, thread_pid), level);
	pgrp = BPF_CORE_READ(t, signal, pids[PIDTYPE_PGID]);
	sess = BPF_CORE_READ(t, signal, pids[PIDTYPE_SID]);
	pi->pgid = pid_nr_at(pgrp, 0);
	pi->sid = pid_nr_at(sess, 0);
	pi->vpgid = pid_nr_at(pgrp, level);
	pi->vsid = pid_nr_at(sess, level);

	pi->uid = BPF_CORE_READ(c, uid.val);
	pi->gid = BPF_CORE_READ(c, gid.val);
	pi->euid = BPF_CORE_READ(c, euid.val);
	pi->egid = BPF_CORE_READ(c, egid.val);
	pi->suid = BPF_CORE_READ(c, suid.val);
	pi->sgid = BPF_CORE_READ(c, sgid.val);
	pi->fsuid = BPF_CORE_READ(c, fsuid.val);
	pi->fsgid = BPF_CORE_READ(c, fsgid.val);
	bpf_core_read(&pi->cap_eff, sizeof(__u64), &c->cap_effective);
	bpf_core_read(&pi->cap_prm, sizeof(__u64), &c->cap_permitted);
	bpf_core_read(&pi->cap_inh, sizeof(__u64), &c->cap_inheritable);
	pi->loginuid = task_loginuid(t);
	pi->sessionid = bpf_core_field_exists(t->sessionid) ? BPF_CORE_READ(t, sessionid) : (__u32)-1;
	pi->tty = tty_nr(t);
	pi->pflags = BPF_CORE_READ(t, flags);

	pi->start_boottime = BPF_CORE_READ(t, start_boottime);
	/* The parent process, not the thread that forked. */
	pi->parent_start_boottime = BPF_CORE_READ(t, real_parent, group_leader, start_boottime);
	pi->cgroup_id = task_cgroup_id(t);

	pns = level <= 31 ? BPF_CORE_READ(pid, numbers[level].ns) : 0;
	pi->pidns_init_start = BPF_CORE_READ(pns, child_reaper, start_boottime);
	pi->ns[0] = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	pi->ns[1] = BPF_CORE_READ(pns, ns.inum);
	pi->ns[2] = BPF_CORE_READ(nsp, net_ns, ns.inum);
	pi->ns[3] = BPF_CORE_READ(c, user_ns, ns.inum);
	pi->ns[4] = BPF_CORE_READ(nsp, uts_ns, ns.inum);
	pi->ns[5] = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	pi->ns[6] = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	pi->old_tid = 0;
	pi->str_trunc = 0;
	BPF_CORE_READ_STR_INTO(&pi->comm, t, comm);
}

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

static __always_inline struct cgroup *task_cgroup(struct task_struct *t)
{
	struct css_set *cs = BPF_CORE_READ(t, cgroups);

	switch (cgroup_hier) {
	case 1:
		return BPF_CORE_READ(cs, subsys[bpf_core_enum_value(enum cgroup_subsys_id, pids_cgrp_id)], cgroup);
	case 2:
		return BPF_CORE_READ(cs, subsys[bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id)], cgroup);
	case 3:
		return BPF_CORE_READ(cs, subsys[bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id)], cgroup);
	}
	return BPF_CORE_READ(cs, dfl_cgrp);
}

/* Appends FT_CGROUP: the task's cgroup path in the configured hierarchy. */
static __always_inline void put_cgroup(struct ebuf *b, struct task_struct *t)
{
	struct kernfs_node *kn = BPF_CORE_READ(task_cgroup(t), kn);
	__u64 kns[CG_DEPTH] = {};
	__u32 n = 0, pos = 0;
	__u8 *p, *dst;
	int i;

	for (i = 0; i < CG_DEPTH; i++) {
		struct kernfs_node *parent;

		if (!kn)
			break;
		parent = kn_parent(kn);
		if (!parent)
			break;
		kns[i] = (__u64)kn;
		n = i + 1;
		kn = parent;
	}
	if (n == CG_DEPTH && kn && kn_parent(kn))
		b->flags |= RF_TRUNCATED; /* deeper than CG_DEPTH: the top is missing */
	p = fld_begin(b);
	if (!p)
		return;
	dst = p + sizeof(struct fld);
	for (i = CG_DEPTH - 1; i >= 0; i--) {
		long r;

		if (i >= n)
			continue;
		if (pos > MAX_CGROUP - 257) {
			b->flags |= RF_TRUNCATED;
			break;
		}
		barrier_var(pos);
		dst[pos & (MAX_CGROUP - 1)] = '/';
		pos++;
		barrier_var(pos);
		r = bpf_probe_read_kernel_str(&dst[pos & (MAX_CGROUP - 1)], 256,
					      BPF_CORE_READ((struct kernfs_node *)kns[i], name));
		if (r > 1)
			pos += r - 1;
	}
	if (pos == 0) {
		dst[0] = '/';
		pos = 1;
	}
	fld_end(b, p, FT_CGROUP, 0, pos & (MAX_CGROUP - 1));
}

/* Appends argv and environment, read from the task's own memory; pi is the
 * task's proc_info, to flag what was cut. */
static __always_inline void put_mm_strings(struct ebuf *b, struct task_struct *t, struct proc_info *pi, __u32 iter)
{
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	__u64 start, end, len;
	__u8 *p;

	if (!mm)
		return;

	start = BPF_CORE_READ(mm, arg_start);
	end = BPF_CORE_READ(mm, arg_end);
	len = end > start ? end - start : 0;
	if (len > MAX_ARGS) {
		len = MAX_ARGS;
		pi->str_trunc |= STR_TRUNC_ARGV;
	}
	p = fld_begin(b);
	if (p && len) {
		long r;

		if (iter)
			r = bpf_copy_from_user_task(p + sizeof(struct fld), len, (void *)start, t, 0);
		else
			r = bpf_probe_read_user(p + sizeof(struct fld), len, (void *)start);
		if (r == 0)
			fld_end(b, p, FT_ARGV, 0, len);
	}

	start = BPF_CORE_READ(mm, env_start);
	end = BPF_CORE_READ(mm, env_end);
	len = end > start ? end - start : 0;
	if (len > MAX_ENV) {
		len = MAX_ENV;
		pi->str_trunc |= STR_TRUNC_ENV;
	}
	p = fld_begin(b);
	if (p && len) {
		long r;

		if (iter)
			r = bpf_copy_from_user_task(p + sizeof(struct fld), len, (void *)start, t, 0);
		else
			r = bpf_probe_read_user(p + sizeof(struct fld), len, (void *)start);
		if (r == 0)
			fld_end(b, p, FT_ENV, 0, len);
	}
}

/* Fills a proc_rec for t and appends its argv, env, exe, cwd, root and
 * cgroup. */
static __always_inline void put_process(struct ebuf *b, struct task_struct *t, __u16 kind, __u32 iter)
{
	struct proc_rec *r = (void *)b->data;
	struct file *exe;
	struct fs_struct *fs;

	r->h.ts = bpf_ktime_get_boot_ns();
	r->h.kind = kind;
	r->h.flags = 0;
	r->h.tid = BPF_CORE_READ(t, pid);
	r->h.tgid = BPF_CORE_READ(t, tgid);
	r->h.cpu = bpf_get_smp_processor_id();
	r->h._pad = 0;
	fill_proc(&r->p, t);
	b->len = sizeof(*r);
	b->flags = 0;

	put_mm_strings(b, t, &r->p, iter);
	exe = BPF_CORE_READ(t, mm, exe_file);
	if (exe)
		put_open_file(b, SLOT_EXE, (__u64)exe, iter);
	fs = BPF_CORE_READ(t, fs);
	if (fs) {
		put_file(b, SLOT_CWD, (__u64)BPF_CORE_READ(fs, pwd.dentry), (__u64)BPF_CORE_READ(fs, pwd.mnt), 0, iter);
		put_file(b, SLOT_ROOT, (__u64)BPF_CORE_READ(fs, root.dentry), (__u64)BPF_CORE_READ(fs, root.mnt), 0, iter);
	}
	put_cgroup(b, t);
}

/* Writes the record to the ring buffer. Waking the reader costs more than
 * writing a small record, so syscall, fork and exit records wake it only
 * when the pending data crosses wakeup_bytes; the reader also polls. Exec
 * records, wanted at once (user space reads the new image's /proc entries
 * while the process still runs), always wake it, with the records before
 * them. */
static __always_inline void submit(struct ebuf *b)
{
	struct rec_hdr *h = (void *)b->data;
	struct stats *st = get_stats();
	__u32 size = b->len;
	__u64 flags = BPF_RB_NO_WAKEUP;
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

	/* Every kind wakes the reader only when the pending data crosses the
	 * threshold; below it the reader finds the records at its next poll
	 * (pollInterval, 25 ms). A wakeup per exec cost the agent more CPU in
	 * epoll_wait than all its work on an exec storm. */
	h->size = size;
	h->flags |= b->flags;
	if (avail < wakeup_bytes && avail + size >= wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&events, b->data, size & (DATA_SIZE - 1), flags)) {
		if (st)
			st->drops++;
		return;
	}
	if (st) {
		st->events++;
		if (b->flags & RF_TRUNCATED)
			st->truncated++;
	}
}

/* ---- syscalls ----------------------------------------------------------- */

struct vma_ctx {
	__u64 file;
};

static long vma_file(struct task_struct *t, struct vm_area_struct *vma, void *ctx)
{
	struct vma_ctx *v = ctx;

	v->file = (__u64)BPF_CORE_READ(vma, vm_file);
	return 0;
}

struct argv_ctx {
	__u64 argv;
	__u32 start; /* offset of the field's data in ebuf.data */
	__u32 pos;
	__u32 compat;
};

static long argv_step(__u64 i, void *ctx)
{
	struct argv_ctx *a = ctx;
	struct ebuf *b = get_buf(0);
	__u64 ptr = 0;
	__u32 pos = a->pos;
	long n;

	if (!b || pos >= MAX_ARGS)
		return 1;
	if (a->compat)
		bpf_probe_read_user(&ptr, 4, (void *)(a->argv + i * 4));
	else
		bpf_probe_read_user(&ptr, 8, (void *)(a->argv + i * 8));
	if (!ptr)
		return 1;
	n = bpf_probe_read_user_str(&b->data[(a->start + pos) & OFF_MASK], MAX_ARGS - pos, (void *)ptr);
	if (n <= 0)
		return 1;
	a->pos = pos + n;
	return 0;
}

static __always_inline void put_user_argv(struct ebuf *b, __u64 argv, __u32 compat)
{
	struct argv_ctx a = { .argv = argv, .compat = compat };
	__u8 *p = fld_begin(b);

	if (!p || !argv)
		return;
	a.start = (b->len & OFF_MASK) + sizeof(struct fld);
	bpf_loop(ARGV_MAX_PTRS, argv_step, &a, 0);
	if (a.pos > MAX_ARGS)
		a.pos = MAX_ARGS;
	fld_end(b, p, FT_ARGV, 0, a.pos);
}

/* ---- I/O data ------------------------------------------------------------ */

struct iov_ctx {
	__u64 iov;
	__u64 total; /* sum of the entries' lengths */
	__u32 start; /* offset of the copied bytes in ebuf.data */
	__u32 pos;   /* bytes copied so far */
	__u32 want;  /* bytes to copy, at most MAX_SNAPLEN */
	__u32 cnt;
	__u32 compat;
};

static long iov_step(__u64 i, void *ctx)
{
	struct iov_ctx *c = ctx;
	struct ebuf *b = get_buf(0);
	__u64 base = 0, len = 0;
	__u32 pos = c->pos, n;

	if (!b || i >= c->cnt)
		return 1;
	if (c->compat) {
		bpf_probe_read_user(&base, 4, (void *)(c->iov + i * 8));
		bpf_probe_read_user(&len, 4, (void *)(c->iov + i * 8 + 4));
	} else {
		bpf_probe_read_user(&base, 8, (void *)(c->iov + i * 16));
		bpf_probe_read_user(&len, 8, (void *)(c->iov + i * 16 + 8));
	}
	c->total += len;
	if (pos >= c->want || pos >= MAX_SNAPLEN)
		return 0; /* keep summing the lengths */
	n = c->want - pos;
	if (len < n)
		n = len;
	barrier_var(n);
	n &= 2 * MAX_SNAPLEN - 1;
	if (n && !bpf_probe_read_user(&b->data[(c->start + pos) & (DATA_SIZE - 1)], n, (void *)base))
		c->pos = pos + n;
	return 0;
}

/* Copies the first snaplen bytes of what the syscall read or wrote, after a
 * __u64 of how many it moved: ret, or for a failed write what it asked. */
static __always_inline void put_data(struct ebuf *b, struct sc_spec *spec, __u64 *args, long ret, __u32 compat)
{
	__u32 sl = snaplen, want;
	__u64 total = 0, buf, iov = 0, cnt = 0;
	__u8 *p;

	if (!sl || !(spec->flags & (SC_DATA_IN | SC_DATA_OUT)) || !spec->data_arg || spec->data_arg > 6)
		return;
	if ((spec->flags & SC_DATA_IN) && ret < 0)
		return;
	if (sl > MAX_SNAPLEN)
		sl = MAX_SNAPLEN;
	buf = args[(spec->data_arg - 1) & 7];
	if (spec->count_arg && spec->count_arg <= 6)
		cnt = args[(spec->count_arg - 1) & 7];
	if (spec->flags & SC_DATA_MSG) {
		/* struct user_msghdr: msg_iov at 16, msg_iovlen at 24 (compat: 8, 12) */
		if (compat) {
			bpf_probe_read_user(&iov, 4, (void *)(buf + 8));
			bpf_probe_read_user(&cnt, 4, (void *)(buf + 12));
		} else {
			bpf_probe_read_user(&iov, 8, (void *)(buf + 16));
			bpf_probe_read_user(&cnt, 8, (void *)(buf + 24));
		}
	} else if (spec->flags & SC_DATA_IOV) {
		iov = buf;
	}
	p = fld_begin(b);
	if (!p)
		return;
	if (spec->flags & (SC_DATA_MSG | SC_DATA_IOV)) {
		struct iov_ctx c = { .iov = iov, .compat = compat };

		c.cnt = cnt > MAX_IOV ? MAX_IOV : cnt;
		c.want = sl;
		if (ret >= 0 && (__u64)ret < c.want)
			c.want = ret;
		c.start = (b->len & OFF_MASK) + sizeof(struct fld) + 8;
		if (iov && c.cnt)
			bpf_loop(MAX_IOV, iov_step, &c, 0);
		total = ret > 0 ? (__u64)ret : c.total;
		if (spec->flags & SC_DATA_IN)
			total = ret;
		want = c.pos;
	} else {
		total = ret > 0 ? (__u64)ret : 0;
		if ((spec->flags & SC_DATA_OUT) && ret <= 0)
			total = cnt;
		want = total < sl ? total : sl;
		barrier_var(want);
		want &= 2 * MAX_SNAPLEN - 1;
		if (want && bpf_probe_read_user(p + sizeof(struct fld) + 8, want, (void *)buf))
			want = 0;
	}
	*(__u64 *)(p + sizeof(struct fld)) = total;
	fld_end(b, p, FT_DATA, 0, 8 + want);
}

/* Appends FT_FDS: the two fds a successful pipe, pipe2 or socketpair wrote
 * to the caller's int[2] (the page was just written, so it is present), and
 * the inode of the first one's file. */
static __always_inline void put_fd_pair(struct ebuf *b, struct task_struct *t, __u64 uptr)
{
	struct fd_pair *fp;
	__u64 f;
	__u8 *p;

	if (!uptr)
		return;
	p = fld_begin(b);
	if (!p)
		return;
	fp = (void *)(p + sizeof(struct fld));
	if (bpf_probe_read_user(fp->fds, sizeof(fp->fds), (void *)uptr))
		return;
	unskip(t, fp->fds[0]);
	unskip(t, fp->fds[1]);
	fp->ino = 0;
	f = fd_file(t, fp->fds[0]);
	if (f)
		fp->ino = KPTR(struct file, f)->f_inode->i_ino;
	fld_end(b, p, FT_FDS, 0, sizeof(*fp));
}

/* Appends FT_CAPS: the caller's capability sets as its creds hold them now.
 * kernel_cap_t is one u64 since 6.3 and two u32 (same bytes) before. */
static __always_inline void put_caps(struct ebuf *b, struct task_struct *t)
{
	const struct cred *c = t->cred;
	struct cap_info *ci;
	__u8 *p;

	p = fld_begin(b);
	if (!p)
		return;
	ci = (void *)(p + sizeof(struct fld));
	if (bpf_core_read(&ci->effective, sizeof(__u64), &c->cap_effective) ||
	    bpf_core_read(&ci->permitted, sizeof(__u64), &c->cap_permitted) ||
	    bpf_core_read(&ci->inheritable, sizeof(__u64), &c->cap_inheritable))
		return;
	fld_end(b, p, FT_CAPS, 0, sizeof(*ci));
}

static __always_inline int is_relative(struct ebuf *b, __u32 off)
{
	/* off is where the FT_PATH field started; its first byte follows the header */
	__u8 c = b->data[(off + sizeof(struct fld)) & OFF_MASK];
	__u16 len = ((struct fld *)&b->data[off & OFF_MASK])->len;

	return len > 1 && c != '/';
}

static __always_inline void put_base_dir(struct ebuf *b, __u8 slot, struct task_struct *t, __s64 dirfd)
{
	if (dirfd != AT_FDCWD) {
		put_fd(b, slot, t, dirfd);
		return;
	}
	put_file(b, slot, (__u64)BPF_CORE_READ(t, fs, pwd.dentry), (__u64)BPF_CORE_READ(t, fs, pwd.mnt), 0, 0);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct sc_spec *sp, spec;
	__u32 raw, nr, compat, i;
	__u32 path_off[2] = {};
	__s64 dirfd[2] = {AT_FDCWD, AT_FDCWD};
	struct sc_rec *r;
	struct ebuf *b;
	__u64 pidtgid;

	/* Every syscall of the machine comes through here: the ones no rule
	 * or state needs must leave first, before any helper call. */
	raw = regs->orig_ax;
	compat = t->thread_info.status & TS_COMPAT;
	nr = raw;
	if (compat) {
		__u32 *m = bpf_map_lookup_elem(&ia32_to_64, &raw);

		if (!m || !*m)
			return 0;
		nr = *m - 1;
	}
	sp = bpf_map_lookup_elem(&syscall_specs, &nr);
	if (!sp || !(sp->flags & SC_ENABLED))
		return 0;
	pidtgid = bpf_get_current_pid_tgid();
	if ((__u32)(pidtgid >> 32) == agent_tgid)
		return 0;
	spec = *sp;
	if ((spec.flags & SC_SKIP_RDONLY) && skip_rdonly(t, regs, nr, compat, ret)) {
		count_skipped();
		return 0;
	}
	if (((spec.flags & SC_RET_FD) || (nr == NR_FCNTL && ((compat ? regs->cx : regs->si) == F_DUPFD || (compat ? regs->cx : regs->si) == F_DUPFD_CLOEXEC))) && ret >= 0)
		unskip(t, ret);
	/* A successful exec replaced the memory and zeroed the registers the
	 * arguments were in; the sched_process_exec record has them. */
	if ((spec.flags & SC_EXEC) && ret == 0) {
		spec.path[0] = 0;
		spec.path[1] = 0;
	}

	b = get_buf(0);
	if (!b)
		return 0;
	r = (void *)b->data;
	if (compat) {
		r->args[0] = (__u32)regs->bx;
		r->args[1] = (__u32)regs->cx;
		r->args[2] = (__u32)regs->dx;
		r->args[3] = (__u32)regs->si;
		r->args[4] = (__u32)regs->di;
		r->args[5] = (__u32)regs->bp;
	} else {
		r->args[0] = regs->di;
		r->args[1] = regs->si;
		r->args[2] = regs->dx;
		r->args[3] = regs->r10;
		r->args[4] = regs->r8;
		r->args[5] = regs->r9;
	}
	if ((spec.flags & SC_PROT_EXEC) && !(r->args[2] & PROT_EXEC))
		return 0;

	r->h.ts = bpf_ktime_get_boot_ns();
	r->h.kind = KIND_SYSCALL;
	r->h.flags = compat ? RF_COMPAT : 0;
	r->h.tid = (__u32)pidtgid;
	r->h.tgid = pidtgid >> 32;
	r->h.cpu = bpf_get_smp_processor_id();
	r->h._pad = 0;
	fill_ids(&r->t, t);
	r->ret = ret;
	r->nr = nr;
	r->raw_nr = raw;
	b->len = sizeof(*r);
	b->flags = 0;

	for (i = 0; i < 2; i++) {
		__u8 a = spec.path[i];
		__u8 d = spec.dirfd[i];

		if (!a || a > 6)
			continue;
		path_off[i] = b->len;
		put_user_str(b, FT_PATH, i, (void *)r->args[(a - 1) & 7], MAX_PATH);
		if (d && d <= 6)
			dirfd[i] = (__s32)r->args[(d - 1) & 7];
	}
	if (spec.str_arg && spec.str_arg <= 6)
		put_user_str(b, FT_STR, 0, (void *)r->args[(spec.str_arg - 1) & 7], MAX_STR);
	if (spec.ustruct_arg && spec.ustruct_arg <= 6)
		put_user_bytes(b, FT_USTRUCT, 0, (void *)r->args[(spec.ustruct_arg - 1) & 7], spec.ustruct_len, MAX_USTRUCT);
	if (spec.addr_arg && spec.addr_arg <= 6 && spec.addrlen_arg && spec.addrlen_arg <= 6) {
		__u64 ua = r->args[(spec.addr_arg - 1) & 7];

		if (ua)
			put_user_bytes(b, FT_SOCKADDR, 0, (void *)ua, (__u32)r->args[(spec.addrlen_arg - 1) & 7], MAX_SOCKADDR);
	}
	if (spec.flags & SC_SENDMSG) {
		/* struct user_msghdr: msg_name at 0, msg_namelen at 8 (4 and... on ia32) */
		__u64 name = 0;
		__u32 nlen = 0;
		void *msg = (void *)r->args[1];

		if (compat) {
			bpf_probe_read_user(&name, 4, msg);
			bpf_probe_read_user(&nlen, 4, msg + 4);
		} else {
			bpf_probe_read_user(&name, 8, msg);
			bpf_probe_read_user(&nlen, 4, msg + 8);
		}
		if (name)
			put_user_bytes(b, FT_SOCKADDR, 0, (void *)name, nlen, MAX_SOCKADDR);
	}

	if ((spec.flags & SC_RET_FD) && ret >= 0)
		put_fd(b, SLOT_FD, t, ret);
	else if (spec.fd_arg && spec.fd_arg <= 6)
		put_fd(b, SLOT_FD, t, (__s32)r->args[(spec.fd_arg - 1) & 7]);

	if ((spec.flags & (SC_VMA_RET | SC_VMA_ARG0))) {
		struct vma_ctx v = {};
		__u64 addr = 0;

		if ((spec.flags & SC_VMA_RET) && (__u64)ret < (__u64)-4095)
			addr = ret;
		if ((spec.flags & SC_VMA_ARG0) && ret == 0)
			addr = r->args[0];
		if (addr) {
			bpf_find_vma(t, addr, vma_file, &v, 0);
			if (v.file)
				put_open_file(b, SLOT_FD, v.file, 0);
		}
	}
	if ((spec.flags & SC_NEW_CWD) && ret == 0)
		put_file(b, SLOT_CWD, (__u64)BPF_CORE_READ(t, fs, pwd.dentry), (__u64)BPF_CORE_READ(t, fs, pwd.mnt), 0, 0);
	if ((spec.flags & SC_EXEC) && ret < 0 && spec.argv_arg && spec.argv_arg <= 6)
		put_user_argv(b, r->args[(spec.argv_arg - 1) & 7], compat);

	put_data(b, &spec, r->args, ret, compat);
	if ((spec.flags & SC_FD_PAIR) && ret == 0 && spec.pair_arg && spec.pair_arg <= 6)
		put_fd_pair(b, t, r->args[(spec.pair_arg - 1) & 7]);
	if (spec.flags & SC_CAPS)
		put_caps(b, t);

	/* Base directories of relative paths, unless the fd already tells. */
	if (!((spec.flags & SC_RET_FD) && ret >= 0) && !(spec.flags & SC_NEW_CWD)) {
		int rel0 = spec.path[0] && !(spec.flags & SC_NOBASE0) && is_relative(b, path_off[0]);
		int rel1 = spec.path[1] && is_relative(b, path_off[1]);

		if (rel0)
			put_base_dir(b, SLOT_DIR0, t, dirfd[0]);
		if (rel1 && !(rel0 && dirfd[0] == dirfd[1]))
			put_base_dir(b, SLOT_DIR1, t, dirfd[1]);
	}

	submit(b);
	return 0;
}

/* ---- process lifecycle -------------------------------------------------- */

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct ebuf *b;
	const char *fn, *interp;

	if (p->tgid == agent_tgid)
		return 0;
	/* The new program's fds are its own to track. */
	bpf_task_storage_delete(&skipped_fds, p);
	b = get_buf(0);
	if (!b)
		return 0;
	put_process(b, p, KIND_EXEC, 0);
	((struct proc_rec *)b->data)->p.old_tid = old_pid;
	fn = BPF_CORE_READ(bprm, filename);
	interp = BPF_CORE_READ(bprm, interp);
	put_kernel_str(b, FT_FILENAME, 0, fn, MAX_PATH);
	if (interp && interp != fn)
		put_kernel_str(b, FT_INTERP, 0, interp, MAX_PATH);
	submit(b);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_fork, struct task_struct *parent, struct task_struct *child)
{
	struct fork_rec *r;
	struct ebuf *b;
	__u64 fl = 0;

	if (parent->tgid == agent_tgid)
		return 0;
	b = get_buf(0);
	if (!b)
		return 0;
	r = (void *)b->data;
	r->h.ts = bpf_ktime_get_boot_ns();
	r->h.kind = KIND_FORK;
	r->h.flags = 0;
	r->h.tid = BPF_CORE_READ(child, pid);
	r->h.tgid = BPF_CORE_READ(child, tgid);
	r->h.cpu = bpf_get_smp_processor_id();
	r->h._pad = 0;
	fill_proc(&r->p, child);
	r->caller_tid = parent->pid;
	r->caller_tgid = parent->tgid;

	/* clone flags are not passed to the tracepoint: derive what we can
	 * from what parent and child now share. CLONE_VFORK cannot be told:
	 * vfork_done is set after the tracepoint fires. */
	if (BPF_CORE_READ(child, mm) && BPF_CORE_READ(child, mm) == BPF_CORE_READ(parent, mm))
		fl |= CLONE_VM;
	if (BPF_CORE_READ(child, fs) == BPF_CORE_READ(parent, fs))
		fl |= CLONE_FS;
	if (BPF_CORE_READ(child, files) == BPF_CORE_READ(parent, files))
		fl |= CLONE_FILES;
	if (BPF_CORE_READ(child, sighand) == BPF_CORE_READ(parent, sighand))
		fl |= CLONE_SIGHAND;
	if (r->h.tgid == (__u32)parent->tgid)
		fl |= CLONE_THREAD;
	else if (BPF_CORE_READ(child, real_parent) != parent)
		fl |= CLONE_PARENT;
	if (BPF_CORE_READ(child, nsproxy, mnt_ns) != BPF_CORE_READ(parent, nsproxy, mnt_ns))
		fl |= CLONE_NEWNS;
	if (r->p.ns[1] != BPF_CORE_READ(parent, nsproxy, pid_ns_for_children, ns.inum) &&
	    r->p.ns[1] != task_pidns(parent))
		fl |= CLONE_NEWPID;
	if (BPF_CORE_READ(child, nsproxy, net_ns) != BPF_CORE_READ(parent, nsproxy, net_ns))
		fl |= CLONE_NEWNET;
	if (BPF_CORE_READ(child, nsproxy, uts_ns) != BPF_CORE_READ(parent, nsproxy, uts_ns))
		fl |= CLONE_NEWUTS;
	if (BPF_CORE_READ(child, nsproxy, ipc_ns) != BPF_CORE_READ(parent, nsproxy, ipc_ns))
		fl |= CLONE_NEWIPC;
	if (BPF_CORE_READ(child, nsproxy, cgroup_ns) != BPF_CORE_READ(parent, nsproxy, cgroup_ns))
		fl |= CLONE_NEWCGROUP;
	if (BPF_CORE_READ(child, cred, user_ns) != BPF_CORE_READ(parent, cred, user_ns))
		fl |= CLONE_NEWUSER;
	r->clone_flags = fl;
	b->len = sizeof(*r);
	b->flags = 0;
	/* A child born into another cgroup (CLONE_INTO_CGROUP) says where. */
	if (BPF_CORE_READ(child, cgroups) != BPF_CORE_READ(parent, cgroups))
		put_cgroup(b, child);
	submit(b);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_exit, struct task_struct *p, bool group_dead)
{
	struct exit_rec *r;
	struct ebuf *b;

	if (p->tgid == agent_tgid)
		return 0;
	b = get_buf(0);
	if (!b)
		return 0;
	r = (void *)b->data;
	r->h.ts = bpf_ktime_get_boot_ns();
	r->h.kind = KIND_EXIT;
	r->h.flags = 0;
	r->h.tid = p->pid;
	r->h.tgid = p->tgid;
	r->h.cpu = bpf_get_smp_processor_id();
	r->h._pad = 0;
	r->start_boottime = p->start_boottime;
	r->ppid = BPF_CORE_READ(p, real_parent, tgid);
	r->exit_code = p->exit_code;
	r->group_dead = group_dead;
	r->_pad = 0;
	BPF_CORE_READ_STR_INTO(&r->comm, p, comm);
	b->len = sizeof(*r);
	b->flags = 0;
	submit(b);
	return 0;
}

/* ---- snapshot ----------------------------------------------------------- */

SEC("iter.s/task")
int snapshot(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *t = ctx->task;
	struct ebuf *b;
	__u32 size;

	if (!t || t->pid != t->tgid)
		return 0;
	b = get_buf(1);
	if (!b)
		return 0;
	put_process(b, t, KIND_TASK, 1);
	size = b->len;
	((struct rec_hdr *)b->data)->size = size;
	((struct rec_hdr *)b->data)->flags |= b->flags;
	bpf_seq_write(seq, b->data, size & (DATA_SIZE - 1));
	return 0;
}
