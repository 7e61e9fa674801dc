/*
 * kinspect guest workload helper: builds the known task population that the
 * fixture's ground truth describes. Linked statically for each guest arch.
 *
 *   workload fifo PRIO      SCHED_FIFO sleeper, comm kt_fifo
 *   workload rr PRIO        SCHED_RR sleeper, comm kt_rr
 *   workload nice N         sleeper at nice N, comm kt_nice_p5 / kt_nice_m5 ...
 *   workload spin           CPU-bound busy loop, comm kt_spin
 *   workload zombie         parent kt_zparent that never waits for its child
 *                           kt_zombie (which exits at once)
 *   workload threads N      process kt_threads with N threads in all
 *                           (the others named kt_thr1..)
 *   workload tree [C G]     kt_tree -> C x kt_tchild -> G x kt_tgrand each
 *   workload sleepers N     N sleeping children of kt_sleepers, comm kt_sleeper
 *   workload files          kt_files: holds known open files (a regular file,
 *                           a pipe, a unix socket pair, /dev/null, a deleted
 *                           file) and mappings (anonymous, file-backed,
 *                           shared, and a PROT_NONE guard gap between two)
 *
 * Every subcommand detaches from the caller (forks; the caller's process
 * returns at once) and appends "ROLE PID..." lines to the file named by
 * $KT_ROLES (default /tmp/roles). The long-lived processes sleep forever.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "workload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void setcomm(const char *name)
{
	prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0); /* truncated to 15 chars */
}

/* One write(2) per line with O_APPEND: concurrent writers do not interleave. */
static void role_line(const char *line)
{
	const char *path = getenv("KT_ROLES");
	if (!path)
		path = "/tmp/roles";
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0)
		die("open roles");
	size_t n = strlen(line);
	if (write(fd, line, n) != (ssize_t)n)
		die("write roles");
	close(fd);
}

static void role(const char *name, pid_t pid)
{
	char buf[128];
	snprintf(buf, sizeof buf, "%s %d\n", name, (int)pid);
	role_line(buf);
}

static void sleep_forever(void)
{
	for (;;)
		pause();
}

/* Slow periodic sleeper: wakes now and then so it has some run time. */
static void nap_forever(void)
{
	for (;;)
		sleep(2);
}

/* Forks; the parent returns the child's pid to the caller, the child returns 0. */
static pid_t detach(void)
{
	pid_t p = fork();
	if (p < 0)
		die("fork");
	return p;
}

static int cmd_sched(int policy, int prio, const char *comm, const char *rolename)
{
	pid_t p = detach();
	if (p > 0) {
		role(rolename, p);
		return 0;
	}
	setcomm(comm);
	struct sched_param sp = { .sched_priority = prio };
	if (sched_setscheduler(0, policy, &sp) != 0)
		die("sched_setscheduler");
	nap_forever();
	return 0;
}

static int cmd_nice(int n)
{
	char comm[32], rolename[32];
	snprintf(comm, sizeof comm, "kt_nice_%c%d", n < 0 ? 'm' : 'p', abs(n));
	snprintf(rolename, sizeof rolename, "nice_%c%d", n < 0 ? 'm' : 'p', abs(n));
	pid_t p = detach();
	if (p > 0) {
		role(rolename, p);
		return 0;
	}
	setcomm(comm);
	if (setpriority(PRIO_PROCESS, 0, n) != 0)
		die("setpriority");
	nap_forever();
	return 0;
}

static int cmd_spin(void)
{
	pid_t p = detach();
	if (p > 0) {
		role("spin", p);
		return 0;
	}
	setcomm("kt_spin");
	volatile unsigned long x = 0;
	for (;;)
		x++;
	return 0;
}

static int cmd_zombie(void)
{
	pid_t p = detach();
	if (p > 0) {
		role("zombie_parent", p);
		return 0;
	}
	setcomm("kt_zparent");
	pid_t c = fork();
	if (c < 0)
		die("fork");
	if (c == 0) {
		setcomm("kt_zombie");
		_exit(7);
	}
	role("zombie", c);
	sleep_forever(); /* never waits: the child stays a zombie */
	return 0;
}

static void *thread_main(void *arg)
{
	char comm[16];
	snprintf(comm, sizeof comm, "kt_thr%ld", (long)arg);
	setcomm(comm);
	role("thread", (pid_t)syscall(SYS_gettid));
	nap_forever();
	return NULL;
}

static int cmd_threads(int n)
{
	pid_t p = detach();
	if (p > 0) {
		role("threads", p);
		return 0;
	}
	setcomm("kt_threads");
	for (long i = 1; i < n; i++) {
		pthread_t t;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, 64 * 1024);
		if (pthread_create(&t, &a, thread_main, (void *)i) != 0)
			die("pthread_create");
	}
	nap_forever();
	return 0;
}

static int cmd_tree(int nchild, int ngrand)
{
	pid_t p = detach();
	if (p > 0) {
		role("tree_root", p);
		return 0;
	}
	setcomm("kt_tree");
	for (int i = 0; i < nchild; i++) {
		pid_t c = fork();
		if (c < 0)
			die("fork");
		if (c == 0) {
			setcomm("kt_tchild");
			role("tree_child", getpid());
			for (int j = 0; j < ngrand; j++) {
				pid_t g = fork();
				if (g < 0)
					die("fork");
				if (g == 0) {
					setcomm("kt_tgrand");
					role("tree_grandchild", getpid());
					sleep_forever();
				}
			}
			sleep_forever();
		}
	}
	sleep_forever();
	return 0;
}

static int cmd_sleepers(int n)
{
	pid_t p = detach();
	if (p > 0) {
		role("sleepers_parent", p);
		return 0;
	}
	setcomm("kt_sleepers");
	/* The role list for thousands of pids is written in chunks of lines. */
	char *buf = malloc(4096);
	size_t len = 0;
	if (!buf)
		die("malloc");
	for (int i = 0; i < n; i++) {
		pid_t c = fork();
		if (c < 0) {
			fprintf(stderr, "workload: sleepers: fork %d of %d: %s\n", i, n, strerror(errno));
			break;
		}
		if (c == 0) {
			setcomm("kt_sleeper");
			sleep_forever();
		}
		len += snprintf(buf + len, 4096 - len, "sleeper %d\n", (int)c);
		if (len > 4000) {
			role_line(buf);
			len = 0;
		}
	}
	buf[len] = 0;
	if (len)
		role_line(buf);
	role_line("sleepers_done 1\n");
	sleep_forever();
	return 0;
}

/* Known open files and mappings for the memory commands' ground truth (the
 * guest prints this process's /proc/PID/maps and fd table). */
static int cmd_files(void)
{
	pid_t p = detach();
	if (p > 0) {
		role("files", p);
		return 0;
	}
	setcomm("kt_files");
	int fd = open("/tmp/kt_file", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("open /tmp/kt_file");
	char page[4096];
	memset(page, 'k', sizeof page);
	for (int i = 0; i < 4; i++)
		if (write(fd, page, sizeof page) != (ssize_t)sizeof page)
			die("write /tmp/kt_file");
	int pfd[2], sv[2];
	if (pipe(pfd) != 0)
		die("pipe");
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		die("socketpair");
	if (open("/dev/null", O_RDONLY) < 0)
		die("open /dev/null");
	int del = open("/tmp/kt_deleted", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (del < 0 || unlink("/tmp/kt_deleted") != 0)
		die("deleted file");
	/* anonymous 64 KiB, touched; then a guard gap; then a shared mapping */
	char *anon = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (anon == MAP_FAILED)
		die("mmap anon");
	memset(anon, 1, 16 * 4096);
	char *area = mmap(NULL, 3 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		die("mmap area");
	/* first and last page of area become readable/shared: the middle stays a guard */
	if (mmap(area, 4096, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_SHARED | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
		die("mmap shared");
	area[0] = 's';
	char *fmap = mmap(area + 2 * 4096, 4096, PROT_READ, MAP_FIXED | MAP_PRIVATE, fd, 0);
	if (fmap == MAP_FAILED)
		die("mmap file");
	if (fmap[0] != 'k')
		die("file mapping content");
	sleep_forever();
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: workload fifo PRIO | rr PRIO | nice N | spin | zombie | "
			"threads N | tree [C G] | sleepers N | files\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	const char *c = argv[1];
	int a = argc > 2 ? atoi(argv[2]) : 0;
	int b = argc > 3 ? atoi(argv[3]) : 0;
	/* Children must not be reaped by us: we return at once anyway. */
	if (!strcmp(c, "fifo"))
		return cmd_sched(SCHED_FIFO, a ? a : 50, "kt_fifo", "fifo");
	if (!strcmp(c, "rr"))
		return cmd_sched(SCHED_RR, a ? a : 10, "kt_rr", "rr");
	if (!strcmp(c, "nice"))
		return cmd_nice(a);
	if (!strcmp(c, "spin"))
		return cmd_spin();
	if (!strcmp(c, "zombie"))
		return cmd_zombie();
	if (!strcmp(c, "threads"))
		return cmd_threads(a ? a : 4);
	if (!strcmp(c, "tree"))
		return cmd_tree(a ? a : 3, b ? b : 2);
	if (!strcmp(c, "sleepers"))
		return cmd_sleepers(a);
	if (!strcmp(c, "files"))
		return cmd_files();
	return usage();
}
