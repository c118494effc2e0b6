/* cli_infer.c — `inferd infer`: placeholder until its part lands (being built this session). */
#include "cli.h"

#include <stdio.h>

int cli_infer(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "inferd infer: not built yet\n");
    return 1;
}
