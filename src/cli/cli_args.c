/* cli_args.c — the argument helpers every subcommand parses its flags with (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The option string getopt_long sees: ':' first, so that a missing value is told apart. */
#define CLI_SHORTOPTS_MAX 128

/* CLI parsing runs on the main thread only, before anything else starts. */
static char **parsing;   /* the argv being parsed: a new one restarts getopt */
static int last_missing; /* the last '?' was a missing value */

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    char so[CLI_SHORTOPTS_MAX];
    if (argv != parsing) {
        parsing = argv;
        optind = 0; /* glibc: 0 re-initialises all of getopt's state */
    }
    if (shortopts[0] == '+') /* stop at the first positional: '+' must come first */
        snprintf(so, sizeof so, "+:%s", shortopts + 1);
    else
        snprintf(so, sizeof so, ":%s", shortopts);
    opterr = 0;
    int c = getopt_long(argc, argv, so, longopts, NULL);
    last_missing = c == ':';
    return c == ':' ? '?' : c;
}

int cli_bad_option(const char *cmd, char **argv)
{
    const char *arg = argv[optind - 1];
    char shortopt[3] = {'-', (char)optopt, 0};
    if (optopt && !(arg[0] == '-' && arg[1] == '-'))
        arg = shortopt; /* a short option inside a group such as -xv */
    const char *sep = cmd ? " " : "";
    cmd = cmd ? cmd : "";
    if (last_missing)
        fprintf(stderr, "inferd%s%s: %s needs a value\n", sep, cmd, arg);
    else
        fprintf(stderr, "inferd%s%s: unknown option '%s' (see 'inferd%s%s --help')\n", sep, cmd, arg, sep, cmd);
    return 2;
}

int cli_int(const char *cmd, const char *flag, const char *v, long long lo, long long hi, const char *what,
            long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        if (what)
            fprintf(stderr, "inferd %s: %s: '%s' is not %s\n", cmd, flag, v, what);
        else
            fprintf(stderr, "inferd %s: %s: '%s' is not an integer in %lld..%lld\n", cmd, flag, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

int cli_double(const char *cmd, const char *flag, const char *v, double lo, double hi, const char *what,
               double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi)) {
        if (what)
            fprintf(stderr, "inferd %s: %s: '%s' is not %s\n", cmd, flag, v, what);
        else
            fprintf(stderr, "inferd %s: %s: '%s' is not a number in [%g, %g]\n", cmd, flag, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}
