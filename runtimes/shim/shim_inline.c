/* Whether a function's calls run on the loop thread (inline) or on workers.
 *
 * Handing a call to a worker (a lock, a wake-up, an eventfd) costs more than
 * a quick call, so quick functions run inline. The pool first runs calls on
 * its workers and times them (shim_meter.c: what a call held its thread).
 * Each worker's first call is not timed: it pays the thread's one-time costs,
 * its stack's first pages and its malloc arena: hundreds of µs where page
 * faults are dear, as on a virtual machine (docs/internals.md). With 8
 * workers, those first calls alone would outnumber the slow calls allowed.
 *
 * After LEARN_CALLS timed calls, calls run inline unless more than LEARN_SLOW
 * took over QUICK_US, or one stalled. A call that was preempted does not
 * count as slow: its CPU time holds what the switches cost (hundreds of µs
 * on a loaded virtual machine), and a slow function still shows in its
 * calls that ran through.
 *
 * A stall is a call that held its thread over STALL_US: inline, it held
 * every other call up that long. One that slept (blocked: a lock, the
 * network, a timer) sends calls to the workers at once, since it will block
 * again. One that only ran on the CPU does so the
 * second time within STALL_WINDOW calls: once may be the machine's doing (a
 * virtual CPU that its host takes away still counts as CPU time in the guest,
 * and a function's first call may warm caches or build a table), twice is
 * the function's. Off, calls stay on the workers for good, and the handler
 * says why on stderr. */
#include "shim.h"

#include <pthread.h>
#include <stdio.h>

#define LEARN_CALLS  64
#define LEARN_SLOW   6 /* learning calls that may be slow */
#define QUICK_US     50
#define STALL_US     1000
#define STALL_WINDOW 64

/* Changed by the loop thread only. */
static enum shim_inline_mode inline_mode = SHIM_INLINE_LEARNING;

/* The learning calls, from the workers: how many were timed, how many were
 * slow, how many stalled on the CPU, whether one blocked over STALL_US, and
 * the longest. */
static pthread_mutex_t learn_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned learned_calls, learned_slow, learned_cpu_stalls;
static bool learned_blocked;
static int64_t learned_longest;

/* Loop thread only: calls run inline so far, and the count when the last CPU
 * stall happened (0: none yet). */
static unsigned long inline_calls, last_cpu_stall;

void shim_inline_configure(bool allowed)
{
    inline_mode = allowed ? SHIM_INLINE_LEARNING : SHIM_INLINE_OFF;
}

void shim_inline_learned(struct shim_held held)
{
    pthread_mutex_lock(&learn_lock);
    learned_calls++;
    learned_slow += held.us >= QUICK_US && !held.preempted;
    if (held.us > STALL_US) {
        learned_blocked |= held.slept;
        learned_cpu_stalls += !held.slept;
    }
    if (held.us > learned_longest)
        learned_longest = held.us;
    pthread_mutex_unlock(&learn_lock);
}

static void turn_off(void)
{
    inline_mode = SHIM_INLINE_OFF;
}

/* Ends the learning once its calls tell. */
static void learn(void)
{
    pthread_mutex_lock(&learn_lock);
    unsigned calls = learned_calls, slow = learned_slow;
    bool stalled = learned_blocked || learned_cpu_stalls >= 2;
    long long longest = (long long)learned_longest;
    pthread_mutex_unlock(&learn_lock);
    if (stalled) {
        turn_off();
        fprintf(stderr,
                "tinyfaas: a call held its thread %lld us; calls run on worker threads from now "
                "on\n",
                longest);
    } else if (slow > LEARN_SLOW) {
        turn_off();
        fprintf(stderr,
                "tinyfaas: %u of the first %u calls took over %d us; calls run on worker threads "
                "from now on\n",
                slow, calls, QUICK_US);
    } else if (calls >= LEARN_CALLS) {
        inline_mode = SHIM_INLINE_ON;
        fprintf(stderr,
                "tinyfaas: calls are quick (%u of %u over %d us); they run on the loop thread\n",
                slow, calls, QUICK_US);
    }
}

enum shim_inline_mode shim_inline_mode(void)
{
    if (inline_mode == SHIM_INLINE_LEARNING)
        learn();
    return inline_mode;
}

void shim_inline_ran(int64_t took_us, const struct shim_meter *batch)
{
    inline_calls++;
    if (took_us <= STALL_US)
        return;
    /* The CPU time since the batch began: an upper bound on this call's. */
    struct shim_held held = shim_meter_held(batch, took_us);
    if (held.us <= STALL_US)
        return; /* preempted, not slow */
    if (!held.slept && (last_cpu_stall == 0 || inline_calls - last_cpu_stall > STALL_WINDOW)) {
        last_cpu_stall = inline_calls;
        return;
    }
    turn_off();
    fprintf(stderr,
            "tinyfaas: a call took %lld us on the loop thread; calls run on worker threads from "
            "now on\n",
            (long long)held.us);
}
