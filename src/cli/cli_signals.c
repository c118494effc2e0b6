/* cli_signals.c — how long-running subcommands (serve, gateway) take signals: blocked in
 * every thread and taken synchronously with sigwaitinfo by the main thread (see cli.h).
 * No handler runs server code, and nothing depends on when a handler is delivered (TSan
 * defers handlers to the thread's next intercepted call, which a handler-writes-a-pipe
 * design deadlocks on while the main thread sits in read). Threads that libraries started
 * before main still have the signals unblocked; on_signal forwards from them. */
#include "cli.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>

/* The thread that waits in sigwaitinfo. Written once before the handler is installed. */
static pthread_t sig_waiter;

/* Runs only on threads started before main could block the signals (OpenBLAS starts its
 * workers in a constructor): hands the signal to the waiting thread, where it is blocked
 * and so stays pending until sigwaitinfo takes it. pthread_kill is async-signal-safe. */
static void on_signal(int sig)
{
    int saved = errno;
    pthread_kill(sig_waiter, sig);
    errno = saved;
}

void cli_signals_block(sigset_t *sigs)
{
    sigemptyset(sigs);
    sigaddset(sigs, SIGTERM);
    sigaddset(sigs, SIGINT);
    sigaddset(sigs, SIGHUP);
    sig_waiter = pthread_self();
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void cli_signals_wait(const sigset_t *sigs, void (*on_hup)(void *ctx), void *ctx)
{
    for (;;) {
        int sig = sigwaitinfo(sigs, NULL);
        if (sig < 0 && errno == EINTR)
            continue;
        if (sig == SIGHUP) {
            if (on_hup)
                on_hup(ctx);
            continue;
        }
        return;
    }
}
