/* test_workq.c — tasks run once each, in order on one thread; a full queue refuses a post
 * (EBUSY) without blocking; freeing runs what is still queued. */
#include "base/workq.h"
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int open;
};

static struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
static atomic_int ran;
static int order[64];
static atomic_int n_order;

static void wait_gate(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate.lock);
    while (!gate.open)
        pthread_cond_wait(&gate.cond, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
}

static void record(void *arg)
{
    int i = atomic_fetch_add(&n_order, 1);
    if (i < 64)
        order[i] = (int)(long)arg;
    atomic_fetch_add(&ran, 1);
}

int main(void)
{
    struct inferd_err err = {0};
    struct workq *q = NULL;
    CHECK(workq_new(0, 4, &q, &err) == INFERD_EINVAL);
    CHECK(workq_new(1, 4, &q, &err) == 0);
    /* the one thread is held by the gate: four posts wait, the fifth is refused */
    CHECK(workq_post(q, wait_gate, NULL) == 0);
    for (int spin = 0; spin < 5000 && workq_waiting(q) != 0; spin++)
        usleep(1000); /* until the thread took it (bounded: 5 s) */
    for (long i = 0; i < 4; i++)
        CHECK(workq_post(q, record, (void *)i) == 0);
    CHECK(workq_waiting(q) == 4);
    CHECK(workq_post(q, record, (void *)99L) == INFERD_EBUSY);
    pthread_mutex_lock(&gate.lock);
    gate.open = 1;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.lock);
    /* freeing runs what was queued, in order */
    workq_free(q);
    CHECK(atomic_load(&ran) == 4);
    for (int i = 0; i < 4; i++)
        CHECK(order[i] == i);
    /* many threads, many tasks: each runs once */
    atomic_store(&ran, 0);
    CHECK(workq_new(3, 1000, &q, &err) == 0);
    int posted = 0;
    for (int i = 0; i < 1000; i++)
        posted += workq_post(q, record, (void *)0L) == 0;
    workq_free(q);
    CHECK(posted == 1000 && atomic_load(&ran) == 1000);
    workq_free(NULL);
    return check_finish();
}
