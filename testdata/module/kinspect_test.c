// SPDX-License-Identifier: GPL-2.0
/*
 * kinspect_test: the out-of-tree module of kinspect's oops and hung-task
 * fixtures (testdata/build-fixture.sh KIND oops|hung). It leaves known state
 * for the crash-dump inspector to find:
 *   - a kthread "kt_sleeper" sleeping inside the module (a module frame on
 *     every dump),
 *   - a timer (kt_timer_fn) armed far in the future,
 *   - a delayed work item (kt_work_fn) pending on system_wq,
 *   - a misc device "kinspect_test" (no IRQ),
 *   - KT_NOBJS objects from its own slab cache "kinspect_obj" on a list,
 * and /proc/kinspect_test: reading it prints those addresses and values
 * (the fixture's ground truth), writing "oops" dereferences a NULL pointer
 * in kt_do_oops(), writing "hang" sleeps uninterruptibly forever in
 * kt_do_hang().
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/timer.h>
#include <linux/workqueue.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/list.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>
#include <linux/sched.h>
#include <linux/jiffies.h>

#define KT_NOBJS 8
#define KT_MAGIC 0x6b696e73UL /* "kins" */

struct kt_obj {
	struct list_head node;
	unsigned long magic;
	int id;
	char name[16];
};

static struct task_struct *kt_sleeper;
static struct timer_list kt_timer;
static struct delayed_work kt_work;
static struct kmem_cache *kt_cache;
static LIST_HEAD(kt_objs);
static unsigned long kt_timer_fired;
static unsigned long kt_work_ran;

static void kt_timer_fn(struct timer_list *t)
{
	kt_timer_fired++;
}

static void kt_work_fn(struct work_struct *w)
{
	kt_work_ran++;
}

static noinline int kt_sleeper_fn(void *arg)
{
	while (!kthread_should_stop()) {
		set_current_state(TASK_INTERRUPTIBLE);
		schedule_timeout(3600 * HZ);
	}
	return 0;
}

static const struct file_operations kt_misc_fops = {
	.owner = THIS_MODULE,
};

static struct miscdevice kt_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kinspect_test",
	.fops = &kt_misc_fops,
};

/* kt_find returns the object with that id, NULL when there is none. */
static noinline struct kt_obj *kt_find(int id)
{
	struct kt_obj *o;

	list_for_each_entry(o, &kt_objs, node)
		if (o->id == id)
			return o;
	return NULL;
}

/* The oops: a write through the NULL kt_find returns for a missing id. */
static noinline void kt_do_oops(struct kt_obj *o)
{
	pr_info("kinspect_test: oops now\n");
	WRITE_ONCE(o->magic, 0xdead);
}

/* The hang: uninterruptible sleep forever, no wake-up ever comes. */
static noinline void kt_do_hang(void)
{
	pr_info("kinspect_test: hanging now\n");
	for (;;) {
		set_current_state(TASK_UNINTERRUPTIBLE);
		schedule();
	}
}

static noinline void kt_trigger(const char *what)
{
	if (!strncmp(what, "oops", 4))
		kt_do_oops(kt_find(-1));
	else if (!strncmp(what, "hang", 4))
		kt_do_hang();
}

static ssize_t kt_proc_write(struct file *f, const char __user *ubuf,
			     size_t len, loff_t *off)
{
	char buf[8] = {};

	if (copy_from_user(buf, ubuf, min(len, sizeof(buf) - 1)))
		return -EFAULT;
	kt_trigger(buf);
	return len;
}

static int kt_proc_show(struct seq_file *m, void *v)
{
	struct kt_obj *o;

	seq_printf(m, "jiffies %lu\n", jiffies);
	seq_printf(m, "timer %px function %px expires %lu\n", &kt_timer,
		   kt_timer.function, kt_timer.expires);
	seq_printf(m, "work %px function %px expires %lu\n", &kt_work,
		   kt_work.work.func, kt_work.timer.expires);
	seq_printf(m, "sleeper %px pid %d\n", kt_sleeper, task_pid_nr(kt_sleeper));
	seq_printf(m, "misc %px minor %d\n", &kt_misc, kt_misc.minor);
	seq_printf(m, "cache %px\n", kt_cache);
	seq_printf(m, "list %px\n", &kt_objs);
	list_for_each_entry(o, &kt_objs, node)
		seq_printf(m, "obj %px id %d name %s\n", o, o->id, o->name);
	return 0;
}

static int kt_proc_open(struct inode *inode, struct file *file)
{
	return single_open(file, kt_proc_show, NULL);
}

static const struct proc_ops kt_proc_ops = {
	.proc_open = kt_proc_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
	.proc_write = kt_proc_write,
};

static int __init kt_init(void)
{
	int i, err;

	kt_cache = kmem_cache_create("kinspect_obj", sizeof(struct kt_obj), 0, 0, NULL);
	if (!kt_cache)
		return -ENOMEM;
	for (i = 0; i < KT_NOBJS; i++) {
		struct kt_obj *o = kmem_cache_zalloc(kt_cache, GFP_KERNEL);

		if (!o)
			return -ENOMEM; /* a test module: never unloaded */
		o->id = i;
		o->magic = KT_MAGIC;
		snprintf(o->name, sizeof(o->name), "kt_obj_%d", i);
		list_add_tail(&o->node, &kt_objs);
	}
	timer_setup(&kt_timer, kt_timer_fn, 0);
	mod_timer(&kt_timer, jiffies + 3600 * HZ);
	INIT_DELAYED_WORK(&kt_work, kt_work_fn);
	schedule_delayed_work(&kt_work, 7200 * HZ);
	err = misc_register(&kt_misc);
	if (err)
		return err;
	kt_sleeper = kthread_run(kt_sleeper_fn, NULL, "kt_sleeper");
	if (IS_ERR(kt_sleeper))
		return PTR_ERR(kt_sleeper);
	if (!proc_create("kinspect_test", 0600, NULL, &kt_proc_ops))
		return -ENOMEM;
	return 0;
}
module_init(kt_init);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kinspect crash-dump fixture module");
