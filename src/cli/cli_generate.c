/* cli_generate.c — `inferd generate`: placeholder until its part lands (being built this session). */
#include "cli.h"

#include <stdio.h>

int cli_generate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "inferd generate: not built yet\n");
    return 1;
}
