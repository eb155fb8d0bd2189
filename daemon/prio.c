/*
 * prio.c - CPU priority of htgad's background threads (see prio.h).
 */
#include "prio.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

static atomic_int background_nice;

void prio_set_background(int nice_inc)
{
    atomic_store(&background_nice, nice_inc < 0 ? 0 : nice_inc > 19 ? 19 : nice_inc);
}

int prio_enter_background(const char *who)
{
    int inc = atomic_load(&background_nice), cur;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    struct sched_param sp;

    if (inc == 0)
        return 0;
    memset(&sp, 0, sizeof(sp));
    if (sched_setscheduler(tid, SCHED_BATCH, &sp) != 0)
        goto out_refused;
    errno = 0;
    cur = getpriority(PRIO_PROCESS, (id_t)tid);
    if ((cur == -1 && errno != 0) || setpriority(PRIO_PROCESS, (id_t)tid, cur + inc) != 0)
        goto out_refused;
    return 0;

out_refused:
    LOG(LOG_WARN, "%s: cannot lower the thread's priority: %s", who, strerror(errno));
    return -1;
}
