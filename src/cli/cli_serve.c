/* cli_serve.c — `inferd serve`: placeholder until its part lands (being built this session). */
#include "cli.h"

#include <stdio.h>

int cli_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "inferd serve: not built yet\n");
    return 1;
}
