/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * profile.h: a capture in memory, after symbolization. This is what the
 * capture file stores and what every report renders. Pure data: no BPF,
 * no kernel, no root needed to build or read one.
 */
#ifndef TIDEMARK_PROFILE_H
#define TIDEMARK_PROFILE_H

#include <stddef.h>
#include <stdint.h>

enum tm_frame_kind {
	TM_FRAME_NATIVE = 0,
	TM_FRAME_PYTHON = 1,
	/*
	 * One process of a tree, as the outermost frame of a view of every
	 * process at once (tm_procs__merged): function "pid N: COMMAND", line N.
	 * In memory only: never in a capture.
	 */
	TM_FRAME_PROCESS = 2,
};

/* A symbolized frame. Strings point into the profile's string pool; NULL = unknown. */
struct tm_frame {
	uint32_t kind; /* enum tm_frame_kind */
	uint32_t line; /* 0 = unknown */
	const char *function;
	const char *file;
	const char *module;
	uint64_t address;         /* native: runtime address; python: code object address */
	const char *system_name;  /* native: the symbol as linked (mangled); NULL = function's own */
};

/* One stack and what it did. Counts are exact unless the capture says it sampled. */
struct tm_site {
	uint32_t nframes;
	uint32_t flags;   /* enum tm_stack_flags (tidemark_common.h) */
	uint32_t *frames; /* indices into profile.frames, innermost first */
	uint32_t kind;    /* enum tm_kind of the allocator that made it */
	/*
	 * A report row that merges sites (tm_report__rows): bit k for each
	 * enum tm_kind k among them; 0 = kind alone. Not stored in captures.
	 */
	uint32_t kinds;
	uint64_t alloc_bytes;
	uint64_t alloc_count;
	uint64_t free_bytes;
	uint64_t free_count;
	int64_t live_bytes; /* at the end of the program (the profile's end_moment) */
	int64_t live_count;
	int64_t peak_bytes; /* live at the moment of the process's peak */
	int64_t peak_count;
	/*
	 * Temporary allocations, as memray counts them: freed by the thread that
	 * made them before that thread made any other allocation.
	 */
	uint64_t temp_bytes;
	uint64_t temp_count;
	/* Live at the process's exit; meaningful when the profile's end_moment is not the exit (else live_*). */
	int64_t exit_bytes;
	int64_t exit_count;
};

/* Which moment is "the end" of a profile: where its leaks are taken. */
enum tm_end_moment {
	TM_END_EXIT = 0,     /* the process's exit (or the end of the trace) */
	TM_END_FINALIZE = 1, /* CPython's finalization started (Py_FinalizeEx), before module globals go */
};

#define TM_PROFILE_SIZE_BUCKETS 48

/* One point of the timeline, sampled by the loader while the trace runs. */
struct tm_sample {
	uint64_t time_ns;   /* since start_time_ns */
	int64_t heap_bytes; /* live bytes the tracer accounts for */
	uint64_t rss_bytes; /* the kernel's resident set size; 0 = unknown */
};

/* Allocations of sizes in [2^i, 2^(i+1)) for bucket i (bucket 0 also holds size 0). */
struct tm_size_bucket {
	uint64_t count;
	uint64_t bytes;
};

/*
 * How the trace was made (run/attach --mode): what its numbers can show.
 * Stored in the capture (absent: exact, or sampled when it has a sampling
 * section, as every file before modes was).
 */
enum tm_profile_mode {
	TM_PROFILE_EXACT = 0,   /* every allocator call, through uprobes */
	TM_PROFILE_SAMPLED = 1, /* every call traps; byte-weighted samples are recorded (--sample-bytes) */
	TM_PROFILE_LITE = 2,    /* syscall tracepoints only: no uprobes */
	TM_PROFILE_MODE__COUNT,
};

/* A named counter (drops, stats): stored by name so new ones never break old files. */
struct tm_counter {
	const char *name;
	uint64_t value;
};

/* What the kernel counted when its OOM killer chose the process. */
struct tm_oom {
	int32_t killed; /* 0: the rest is meaningless */
	int32_t pad;
	uint64_t time_ns;                   /* since start_time_ns */
	uint64_t rss_anon, rss_file, rss_shmem;   /* bytes resident */
	const char *cgroup;                 /* the memory cgroup that ran out; NULL = system-wide */
	uint64_t cgroup_limit;              /* bytes; 0 = no limit (a system-wide OOM) */
	uint64_t cgroup_usage;              /* bytes charged to it at the kill */
	/*
	 * The group's own files, read after the kill (enum tm_cg_mem_have in
	 * cg_have says which): memory.max, memory.current, memory.peak and
	 * memory.events' oom_kill (their v1 equivalents on v1).
	 */
	uint32_t cg_have;
	uint32_t pad2;
	uint64_t cg_max, cg_current, cg_peak, cg_oom_kill;
};

/* What one process of a tree held when the tree's sampled sum peaked. */
struct tm_tree_share {
	int32_t pid;
	uint32_t pad;
	int64_t bytes;
};

/*
 * `run` following children: the whole tree's live heap, the sum over every
 * traced process, sampled by the loader every interval_ns (the processes'
 * own peaks are exact; the tree's is the largest sample).
 */
struct tm_tree {
	uint64_t peak_bytes;
	uint64_t peak_time_ns; /* since start_time_ns */
	uint64_t interval_ns;
	struct tm_tree_share *at_peak; /* every process holding something then, biggest first */
	size_t nat_peak;
	struct tm_sample *samples; /* heap_bytes = the sum; rss_bytes 0 */
	size_t nsamples;
	uint64_t nprocs;  /* processes traced, the root and every image of its children */
	const char *note; /* what was not followed, one line; NULL = nothing left out */
};

struct tm_profile {
	/* process */
	int32_t pid;    /* in the initial PID namespace, as the kernel counts */
	int32_t ns_pid; /* in its own PID namespace (a container); 0 = the same */
	const char *command;
	int32_t has_exit_code, exit_code; /* exited normally */
	int32_t has_signal, signal;       /* killed by a signal */
	uint64_t start_time_ns;           /* CLOCK_MONOTONIC, as bpf_ktime_get_ns() */
	uint64_t end_time_ns;
	const char *cgroup; /* its cgroup path (memory controller's on v1); NULL = unknown */
	/* What was not understood about its allocator, and so what the numbers are; NULL = its heap, exactly. */
	const char *allocator_note;
	struct tm_oom oom; /* killed by the kernel's OOM killer (oom.killed) */
	int32_t ppid;      /* its parent in a traced tree; 0 = the root, or not known */
	int32_t execed;    /* 1: this image ended by an exec (the same pid runs on as a later section) */
	/* The tree `run` followed (the root's profile only): its other processes, in order of start. */
	struct tm_profile **procs;
	size_t nprocs;
	struct tm_tree tree; /* tree.nsamples == 0 and nprocs == 0: a single process */

	/* totals */
	uint64_t peak_bytes;
	uint64_t peak_time_ns;   /* since start_time_ns */
	int64_t live_bytes_end;  /* at end_moment: the sum of the sites' live_bytes */
	int64_t live_bytes_exit; /* at the exit: the sum of their exit_bytes (end_moment not the exit) */
	uint32_t end_moment;     /* enum tm_end_moment */
	uint32_t attached;       /* `attach`: only allocations made since the attach are counted */
	uint64_t end_moment_ns;  /* since start_time_ns, when end_moment is not the exit */
	/* attached: its resident anonymous memory (RssAnon) at the attach: what was live before, about */
	uint64_t attach_rss_anon;
	uint64_t alloc_bytes;
	uint64_t alloc_count;
	uint64_t free_count;
	/*
	 * --sample-bytes N: allocations were recorded with probability
	 * 1 - exp(-size/N) and scaled up, so every byte and count above and in
	 * the sites is an unbiased estimate. 0 = exact.
	 */
	uint64_t sample_bytes;
	uint32_t mode; /* enum tm_profile_mode */
	uint32_t pad;

	struct tm_counter *drops; /* every known reason, zero or not */
	size_t ndrops;
	struct tm_counter *stats;
	size_t nstats;

	struct tm_frame *frames;
	size_t nframes;
	struct tm_site *sites;
	size_t nsites;
	struct tm_sample *samples; /* oldest first */
	size_t nsamples;
	/* Every counted allocation by size class; all zero when not recorded. */
	struct tm_size_bucket size_hist[TM_PROFILE_SIZE_BUCKETS];

	/* owned storage */
	struct tm_strpool *pool;
};

/* String interning: equal strings share one pointer. */
struct tm_strpool;
struct tm_strpool *tm_strpool__new(void);
void tm_strpool__free(struct tm_strpool *p);
const char *tm_strpool__intern(struct tm_strpool *p, const char *s); /* NULL in, NULL out */

/* Profile lifetime and building. All return 0 or -errno. */
struct tm_profile *tm_profile__new(void);
void tm_profile__free(struct tm_profile *p); /* accepts NULL */
/* Intern a frame (dedup by all fields); returns its index or -errno. */
int tm_profile__add_frame(struct tm_profile *p, const struct tm_frame *f);
/* Append a site; frames are copied. Returns its index or -errno. */
int tm_profile__add_site(struct tm_profile *p, const struct tm_site *s);
/*
 * Append copies of src's sites (and the frames they use) to dst, as one
 * profile of several processes (a cgroup's). Totals are the caller's.
 * Sites of more than TM_MAX_FRAMES_MERGE frames are refused (-EINVAL).
 */
#define TM_MAX_FRAMES_MERGE 4096
int tm_profile__merge_sites(struct tm_profile *dst, const struct tm_profile *src);
/* The same, with @root (when not NULL) added as each site's outermost frame. */
int tm_profile__merge_sites_under(struct tm_profile *dst, const struct tm_profile *src, const struct tm_frame *root);
/* Add @child (taken over, freed with p) as one more process of p's tree. 0 or -ENOMEM. */
int tm_profile__add_proc(struct tm_profile *p, struct tm_profile *child);
/* The profile of pid in p's tree (p itself, or its latest image of that pid among procs); NULL = none. */
const struct tm_profile *tm_profile__find_pid(const struct tm_profile *p, int32_t pid);
/* Append a timeline point; samples must come in time order. */
int tm_profile__add_sample(struct tm_profile *p, const struct tm_sample *s);
int tm_profile__set_counter(struct tm_profile *p, int is_drop, const char *name, uint64_t v);
/* A counter's value by name; 0 when the profile has none of that name. */
uint64_t tm_profile__counter(const struct tm_profile *p, int is_drop, const char *name);
const char *tm_profile__str(struct tm_profile *p, const char *s); /* intern into pool */

/* Who the profile is of, from when to when, and how it ended. */
struct tm_profile_process {
	int32_t pid;
	int32_t ns_pid;             /* in its own PID namespace; 0 = the same as pid, or unknown */
	const char *command;        /* NULL = unknown */
	const char *cgroup;         /* NULL = unknown */
	uint64_t start_ns, end_ns;  /* CLOCK_MONOTONIC */
	int ended;                  /* wait_status is valid */
	int wait_status;            /* a wait(2) status word, as waitpid() or the kernel's exit_code */
};
/* The one place the process header is filled (strings interned): 0 or -ENOMEM. */
int tm_profile__set_process(struct tm_profile *p, const struct tm_profile_process *pp);

/*
 * Make the process's exit the end (report --at-exit): every site's live
 * values become its values at the exit, and so do the totals; so for every
 * process of a tree.
 */
void tm_profile__at_exit(struct tm_profile *p);
/* "exit", "finalization"; NULL when out of range. */
const char *tm_end_moment_name(unsigned int moment);

/*
 * 0, or -EINVAL when p is NULL, an array it counts is missing, or a site
 * names a frame that does not exist. Every renderer checks this first.
 */
int tm_profile__check(const struct tm_profile *p);

/* Names for enum tm_drop / tm_stat / tm_kind, as they appear in reports. */
const char *tm_drop_name(unsigned int drop);
const char *tm_stat_name(unsigned int stat);
const char *tm_kind_name(unsigned int kind);
/* A mode's name ("exact", "sampled", "lite"), what it records and what it cannot see; NULL when unknown. */
const char *tm_profile_mode__name(unsigned int mode);
const char *tm_profile_mode__sees(unsigned int mode);
const char *tm_profile_mode__misses(unsigned int mode);
/* "exact", "sampled" or "lite": 0 and *mode, or -EINVAL. */
int tm_profile_mode__parse(const char *s, unsigned int *mode);

#endif /* TIDEMARK_PROFILE_H */
