/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Wire format shared by the BPF programs and the Go decoder
 * (internal/sensor/decode.go). Every record starts with struct rec_hdr; its
 * kind says which fixed part follows; after the fixed part come fields, each
 * a struct fld header followed by len bytes. Changing anything here means
 * changing decode.go and regenerating (go generate ./internal/sensor/...).
 */
#ifndef TRUESIGHT_SENSOR_H
#define TRUESIGHT_SENSOR_H

/* Record kinds. */
#define KIND_SYSCALL 1
#define KIND_EXEC 2
#define KIND_FORK 3
#define KIND_EXIT 4
#define KIND_TASK 5 /* iter/task snapshot */

/* rec_hdr.flags */
#define RF_COMPAT 0x1    /* ia32 syscall (TS_COMPAT), nr remapped */
#define RF_TRUNCATED 0x2 /* some fields did not fit in the record */

/* proc_info.str_trunc */
#define STR_TRUNC_ARGV 0x1
#define STR_TRUNC_ENV 0x2

/* Field types (struct fld.type). */
#define FT_PATH 1      /* raw user path argument; slot 0 first, 1 second */
#define FT_FILE 2      /* struct file_info; slot says whose (SLOT_*) */
#define FT_FILE_PATH 3 /* resolved absolute path of FT_FILE with the same slot */
#define FT_SOCK 4      /* struct sock_info of the fd in slot SLOT_FD */
#define FT_UNIX 5      /* unix socket address bytes; slot 0 local, 1 peer */
#define FT_SOCKADDR 6  /* raw user struct sockaddr argument */
#define FT_STR 7       /* plain user string argument (memfd name, module params) */
#define FT_USTRUCT 8   /* raw bytes of a user struct argument (clone_args, open_how) */
#define FT_FILENAME 9  /* exec: bprm->filename */
#define FT_INTERP 10   /* exec: bprm->interp when it differs from filename */
#define FT_ARGV 11     /* NUL-separated argv */
#define FT_ENV 12      /* NUL-separated environment */
#define FT_CGROUP 13   /* cgroup path of the task */
#define FT_DATA 14     /* I/O data: __u64 bytes the syscall moved, then the first snaplen of them */
#define FT_FDS 15      /* struct fd_pair: the two fds pipe, pipe2, socketpair wrote to the caller */
#define FT_CAPS 16     /* struct cap_info: the caller's capability sets at exit (capset) */

/* Slots of FT_FILE / FT_FILE_PATH. */
#define SLOT_FD 0     /* the fd returned, or the fd argument, or the mapped file */
#define SLOT_DIR0 1   /* base directory of the first relative path */
#define SLOT_DIR1 2   /* base directory of the second relative path */
#define SLOT_EXE 3
#define SLOT_CWD 4
#define SLOT_ROOT 5

/* file_info.flags */
#define FI_OVERLAY 0x1      /* on overlayfs */
#define FI_UPPER 0x2        /* overlayfs: the inode has an upper dentry */
#define FI_DELETED 0x4      /* i_nlink == 0 */
#define FI_MEMFD 0x8        /* name starts with "memfd:" */
#define FI_PATH_TRUNC 0x10  /* path longer than the walk allows */
#define FI_PATH_DETACHED 0x20 /* walk ended at a disconnected dentry */
#define FI_PATH_NSROOT 0x40 /* walk ended at the mount namespace root */

/* sc_spec.flags, set per syscall by user space. */
#define SC_ENABLED 0x1
#define SC_RET_FD 0x2    /* describe the returned fd when ret >= 0 */
#define SC_PROT_EXEC 0x4 /* only when args[2] has PROT_EXEC */
#define SC_VMA_RET 0x8   /* describe the file mapped at the returned address */
#define SC_VMA_ARG0 0x10 /* describe the file mapped at args[0] on success */
#define SC_NEW_CWD 0x20  /* on success, describe the new cwd in SLOT_CWD */
#define SC_SENDMSG 0x40  /* sockaddr from msghdr->msg_name of args[1] */
#define SC_EXEC 0x80     /* failed exec: argv from the user argv array */
#define SC_NOBASE0 0x100 /* the first path is not resolved (symlink target) */
/* I/O data (FT_DATA), copied only when the snaplen constant is not 0. */
#define SC_DATA_IN 0x200   /* data read into user memory: ret bytes */
#define SC_DATA_OUT 0x400  /* data written from user memory: ret bytes, or all asked for when ret <= 0 */
#define SC_DATA_IOV 0x800  /* data_arg is a struct iovec array of count_arg entries */
#define SC_DATA_MSG 0x1000 /* data_arg is a struct user_msghdr: its msg_iov, msg_iovlen */
#define SC_FD_PAIR 0x2000  /* on success, the int[2] at pair_arg (FT_FDS) */
#define SC_CAPS 0x4000     /* the caller's capability sets at exit (FT_CAPS) */
/* Read-only file filter (open, openat, openat2, close): a read-only open of
 * a regular file, a failed read-only open, and the close of an fd such an
 * open returned are counted in stats.skipped, not recorded. */
#define SC_SKIP_RDONLY 0x8000

#define MAX_PATH 4096
#define MAX_ARGS 4096
#define MAX_ENV 8192
#define MAX_CGROUP 1024
#define MAX_STR 256
#define MAX_SOCKADDR 128
#define MAX_USTRUCT 64
#define MAX_SNAPLEN 4096 /* bound of the snaplen constant */
#define MAX_IOV 32       /* iovec entries walked for data */
#define MAX_SYSCALLS 512

struct rec_hdr {
	__u64 ts;    /* bpf_ktime_get_boot_ns */
	__u32 size;  /* bytes of the whole record */
	__u16 kind;
	__u16 flags;
	__u32 tid;
	__u32 tgid;
	__u32 cpu;
	__u32 _pad;
};

/* Identity of the current task, in every syscall record. */
struct task_ids {
	__u64 cgroup_id; /* cgroup v2 id */
	__u32 ppid;      /* real parent's tgid */
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 loginuid;
	__u32 mntns;
	__u32 pidns;
	char comm[16];
};

struct sc_rec {
	struct rec_hdr h;
	struct task_ids t;
	__s64 ret;
	__u64 args[6];
	__u32 nr;     /* x86_64 number */
	__u32 raw_nr; /* number as the kernel saw it */
};

struct fld {
	__u8 type;
	__u8 slot;
	__u16 len;
};

struct file_info {
	__u64 ino;
	__u64 magic; /* super block magic */
	__s64 ctime; /* ns */
	__s64 mtime; /* ns */
	__u32 dev;   /* kernel dev_t: major << 20 | minor */
	__u32 mnt_id;
	__u32 mntns; /* mount namespace of the file's mount */
	__u32 f_flags;
	__u32 f_mode;
	__u32 i_mode;
	__u32 nlink;
	__u32 flags; /* FI_* */
};

struct sock_info {
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 family;
	__u16 type;
	__u16 proto;
	__u16 lport; /* host order */
	__u16 rport; /* host order */
	__u8 state;
	__u8 _pad[5];
};

/* FT_FDS: what pipe, pipe2 and socketpair wrote to the caller's int[2]. */
struct fd_pair {
	__s32 fds[2];
	__u64 ino; /* inode of the first fd's file (the pipe's), 0 if none */
};

/* FT_CAPS: the task's capability sets (kernel_cap_t, a u64 on 6.x). */
struct cap_info {
	__u64 effective;
	__u64 permitted;
	__u64 inheritable;
};

struct proc_info {
	__u64 cap_eff;
	__u64 cap_prm;
	__u64 cap_inh;
	__u64 start_boottime;
	__u64 parent_start_boottime;
	__u64 pidns_init_start;
	__u64 cgroup_id;
	__u32 ppid;
	__u32 vtid;
	__u32 vpid;
	__u32 vpgid;
	__u32 vsid;
	__u32 pgid;
	__u32 sid;
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 suid;
	__u32 sgid;
	__u32 fsuid;
	__u32 fsgid;
	__u32 loginuid;
	__u32 sessionid;
	__u32 tty;
	__u32 pflags;  /* task->flags */
	__u32 old_tid; /* exec: tid before de_thread */
	__u32 ns[7];   /* mnt, pid, net, user, uts, ipc, cgroup */
	__u32 str_trunc; /* STR_TRUNC_*: argv or environment cut at its bound */
	char comm[16];
};

struct proc_rec {
	struct rec_hdr h;
	struct proc_info p;
};

struct fork_rec {
	struct rec_hdr h;
	struct proc_info p; /* the child */
	__u64 clone_flags;  /* derived from what the child shares */
	__u32 caller_tid;
	__u32 caller_tgid;
};

struct exit_rec {
	struct rec_hdr h;
	__u64 start_boottime;
	__u32 ppid;
	__u32 exit_code;
	__u32 group_dead;
	__u32 _pad;
	char comm[16];
};

/* Per-syscall extraction plan; arg fields hold argument index + 1, 0 = none. */
struct sc_spec {
	__u16 flags;
	__u8 path[2];
	__u8 dirfd[2];
	__u8 fd_arg;
	__u8 addr_arg;
	__u8 addrlen_arg;
	__u8 str_arg;
	__u8 ustruct_arg;
	__u8 ustruct_len;
	__u8 argv_arg;
	__u8 data_arg;  /* the buffer, iovec array or msghdr of the I/O data */
	__u8 count_arg; /* the buffer's size, or the iovec count */
	__u8 pair_arg;  /* the int[2] of SC_FD_PAIR */
};

struct stats {
	__u64 events;
	__u64 drops;
	__u64 truncated;
	__u64 skipped; /* records left in the kernel by SC_SKIP_RDONLY */
};

#endif
